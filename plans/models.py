import uuid
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from organizations.models import currency_validator

code_validator = RegexValidator(r"^[a-z][a-z0-9_]{0,49}$", "Lower-case letters, digits and underscores.")


class Interval(models.TextChoices):
    MONTH = "month", "Monthly"
    YEAR = "year", "Yearly"


class Plan(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    code = models.CharField(max_length=50, unique=True, validators=[code_validator])
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    price_cents = models.BigIntegerField(validators=[MinValueValidator(0)], help_text="Base fee per interval.")
    currency = models.CharField(max_length=3, default="USD", validators=[currency_validator])
    interval = models.CharField(max_length=8, choices=Interval.choices, default=Interval.MONTH)
    trial_days = models.PositiveIntegerField(default=0)
    features = models.JSONField(default=dict, blank=True, help_text='Entitlements, e.g. {"analytics": true}.')
    is_active = models.BooleanField(default=True, help_text="Inactive plans cannot be chosen at checkout.")
    is_default = models.BooleanField(
        default=False, help_text="The plan of organizations without a paid subscription. Exactly one."
    )
    sort_order = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sort_order", "price_cents", "code"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="plans_one_default"),
            models.CheckConstraint(condition=Q(price_cents__gte=0), name="plans_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def clean(self):
        super().clean()
        if not isinstance(self.features, dict):
            raise ValidationError({"features": "Features must be a JSON object."})
        if self.is_default and self.price_cents:
            raise ValidationError({"is_default": "The default plan must be free."})


class Aggregation(models.TextChoices):
    SUM = "sum", "Sum of quantities"
    COUNT = "count", "Count of events"
    MAX = "max", "Largest quantity"
    UNIQUE_COUNT = "unique_count", "Distinct values of a metadata key"


class BillableMetric(models.Model):
    """A metered dimension: which event types feed it and how they are aggregated."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    code = models.CharField(max_length=50, unique=True, validators=[code_validator])
    name = models.CharField(max_length=100)
    unit = models.CharField(max_length=30, help_text="What one unit is, e.g. token, request, minute.")
    event_types = models.JSONField(default=list, help_text='Event types it counts, e.g. ["api_call"].')
    aggregation = models.CharField(max_length=16, choices=Aggregation.choices, default=Aggregation.SUM)
    aggregation_key = models.CharField(
        max_length=64, blank=True, help_text="For unique_count: the metadata key whose distinct values are counted."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    def clean(self):
        super().clean()
        types = self.event_types
        if not isinstance(types, list) or not types or not all(isinstance(t, str) and t for t in types):
            raise ValidationError({"event_types": "A non-empty list of event type names."})
        if self.aggregation == Aggregation.UNIQUE_COUNT and not self.aggregation_key:
            raise ValidationError({"aggregation_key": "unique_count needs the metadata key to count."})
        # One event type feeds one metric, so every event has exactly one meter.
        taken = {}
        for other in BillableMetric.objects.filter(is_active=True).exclude(pk=self.pk):
            for event_type in other.event_types:
                taken[event_type] = other.code
        clashes = ", ".join(f"{t} ({taken[t]})" for t in sorted(types) if t in taken)
        if clashes and self.is_active:
            raise ValidationError({"event_types": f"Already counted by another metric: {clashes}."})


class Policy(models.TextChoices):
    HARD = "hard", "Hard: refuse beyond the included quantity"
    SOFT = "soft", "Soft: bill the overage"


class PricingModel(models.TextChoices):
    PER_UNIT = "per_unit", "Per unit"
    PACKAGE = "package", "Per package of units"
    GRADUATED = "graduated", "Graduated tiers"
    VOLUME = "volume", "Volume tiers"


def _decimal(value, field: str) -> Decimal:
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ValidationError({field: f"{value!r} is not a number."}) from exc
    if not result.is_finite() or result < 0:
        raise ValidationError({field: "Prices cannot be negative."})
    return result


def _whole_number(value) -> bool:
    """An int that is not a bool (JSON `true` must not pass as 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


def validate_tiers(tiers) -> None:
    """Tiers: [{"up_to": int|null, "unit_price": "decimal", "flat_fee_cents": int}], ascending,
    the last one open-ended (`up_to: null`)."""
    if not isinstance(tiers, list) or not tiers:
        raise ValidationError({"tiers": "Tiered pricing needs at least one tier."})
    previous = 0
    for index, tier in enumerate(tiers):
        if not isinstance(tier, dict) or "unit_price" not in tier:
            raise ValidationError({"tiers": f"Tier {index + 1} needs a unit_price."})
        _decimal(tier["unit_price"], "tiers")
        flat = tier.get("flat_fee_cents", 0)
        if not _whole_number(flat) or flat < 0:
            raise ValidationError({"tiers": f"Tier {index + 1}: flat_fee_cents must be a whole number >= 0."})
        up_to = tier.get("up_to")
        is_last = index == len(tiers) - 1
        if is_last and up_to is not None:
            raise ValidationError({"tiers": "The last tier must be open-ended (up_to: null)."})
        if not is_last and (not _whole_number(up_to) or up_to <= previous):
            raise ValidationError({"tiers": f"Tier {index + 1}: up_to must be a whole number above {previous}."})
        previous = up_to or previous


class PlanCharge(models.Model):
    """What a plan includes of a metric and what it charges beyond that."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="charges")
    metric = models.ForeignKey(BillableMetric, on_delete=models.PROTECT, related_name="charges")
    included_quantity = models.BigIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Units included per month. Empty means unlimited.",
    )
    policy = models.CharField(max_length=8, choices=Policy.choices, default=Policy.SOFT)
    pricing_model = models.CharField(max_length=16, choices=PricingModel.choices, default=PricingModel.PER_UNIT)
    unit_price = models.DecimalField(
        max_digits=18,
        decimal_places=6,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="In minor units (cents); fractions allowed: 0.1 is a tenth of a cent.",
    )
    package_size = models.PositiveBigIntegerField(default=1, help_text="For package pricing: units per package.")
    tiers = models.JSONField(default=list, blank=True, help_text="For graduated and volume pricing.")

    class Meta:
        ordering = ["metric__code"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "metric"], name="plans_charge_one_per_metric"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="plans_charge_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.plan.code}: {self.metric.code}"

    def clean(self):
        super().clean()
        if self.pricing_model in (PricingModel.GRADUATED, PricingModel.VOLUME):
            validate_tiers(self.tiers)
        if self.pricing_model == PricingModel.PACKAGE and self.package_size < 1:
            raise ValidationError({"package_size": "A package holds at least one unit."})
