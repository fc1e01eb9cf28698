import uuid
from decimal import Decimal, InvalidOperation

from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from organizations.models import currency_validator

from .hooks import validate_currency

code_validator = RegexValidator(r"^[a-z][a-z0-9_]{0,49}$", "Lower-case letters, digits and underscores.")


class Interval(models.TextChoices):
    MONTH = "month", "Monthly"
    YEAR = "year", "Yearly"


# The terms a subscriber's bill is computed from. Once a plan has subscribers they never
# change in place: plans.services.plan_revise saves the edit as the plan's next version.
# (QuerySet.update() and bulk_update() bypass the guard in save(); they are for code that
# knows it changes no such term, e.g. trial days or the default flag.)
FROZEN_PLAN_FIELDS = ("price_cents", "currency", "interval")
FROZEN_CHARGE_FIELDS = ("metric", "included_quantity", "policy", "pricing_model", "unit_price", "package_size", "tiers")


def plan_has_subscribers(plan_id) -> bool:
    """Whether someone is billed on the plan: a subscription is on it or scheduled onto it,
    a usage segment is rated on it, or an invoice names it. (Models of the layers above
    are looked up by name: plans does not import them.)"""
    if plan_id is None:
        return False
    subscription = apps.get_model("subscriptions", "Subscription")
    segment = apps.get_model("subscriptions", "PlanSegment")
    invoice = apps.get_model("invoices", "Invoice")
    return (
        subscription.objects.filter(Q(plan_id=plan_id) | Q(scheduled_plan_id=plan_id)).exists()
        or segment.objects.filter(plan_id=plan_id).exists()
        or invoice.objects.filter(plan_id=plan_id).exists()
    )


def _frozen_terms_error(plan_id, changed) -> ValidationError:
    plan = Plan.objects.filter(pk=plan_id).only("code", "version").first()
    name = f"'{plan.code}' (version {plan.version})" if plan else "this plan"
    return ValidationError(
        f"The plan {name} has subscribers, so its {', '.join(changed)} are frozen: "
        "edit it with plans.services.plan_revise (or the admin), which saves a new version.",
        code="plan_terms_frozen",
    )


def _changed(instance: models.Model, stored: dict, names) -> list[str]:
    """Which of `names` differ between the instance and its stored row (`values()`)."""
    changed = []
    for name in names:
        field = instance._meta.get_field(name)
        current = getattr(instance, field.attname)
        if not field.is_relation:
            current = field.to_python(current)
        if current != stored[field.attname]:
            changed.append(name)
    return changed


class Plan(models.Model):
    """One version of a plan. A plan's terms (price, interval, charges) are what its
    subscribers are billed on, so a plan that has subscribers is never repriced: an edit
    of its terms is a new row with the same code and the next version number, and the
    old row, `replaced_by` the new one, stays what its subscribers are billed on until
    they are moved. The current version of a code is the one not replaced."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    code = models.CharField(
        max_length=50,
        validators=[code_validator],
        help_text="Names the plan across its versions; unique among current versions.",
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    replaced_by = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="replaces",
        editable=False,
        help_text="The newer version of this plan; empty for the current version.",
    )
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
        ordering = ["sort_order", "price_cents", "code", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="plans_one_default"),
            models.CheckConstraint(condition=Q(price_cents__gte=0), name="plans_price_not_negative"),
            models.UniqueConstraint(
                fields=["code"],
                condition=Q(replaced_by__isnull=True),
                name="plans_code_unique_current",
                violation_error_message="A current plan with this code already exists.",
            ),
            models.UniqueConstraint(fields=["code", "version"], name="plans_code_version_unique"),
            models.CheckConstraint(condition=Q(version__gte=1), name="plans_version_positive"),
            # A replaced version is offered to no one: not at checkout, not as the default.
            models.CheckConstraint(
                condition=Q(replaced_by__isnull=True) | Q(is_active=False, is_default=False),
                name="plans_replaced_not_offered",
            ),
        ]

    def __str__(self) -> str:
        if self.version > 1 or self.replaced_by_id:
            return f"{self.name} ({self.code} v{self.version})"
        return f"{self.name} ({self.code})"

    def save(self, *args, **kwargs):
        """Refuses (ValidationError) to change a frozen term of a plan with subscribers."""
        update_fields = kwargs.get("update_fields")
        if update_fields is None or set(update_fields) & set(FROZEN_PLAN_FIELDS):
            changed = self.frozen_changes()
            if changed and self.has_subscribers():
                raise _frozen_terms_error(self.pk, changed)
        super().save(*args, **kwargs)

    @property
    def is_current(self) -> bool:
        return self.replaced_by_id is None

    def has_subscribers(self) -> bool:
        return plan_has_subscribers(self.pk)

    def frozen_changes(self) -> list[str]:
        """The frozen terms (FROZEN_PLAN_FIELDS) this instance changes against its stored row."""
        if self._state.adding or self.pk is None:
            return []
        stored = Plan.objects.filter(pk=self.pk).values(*FROZEN_PLAN_FIELDS).first()
        return [] if stored is None else _changed(self, stored, FROZEN_PLAN_FIELDS)

    def clean(self):
        super().clean()
        if not isinstance(self.features, dict):
            raise ValidationError({"features": "Features must be a JSON object."})
        if self.is_default and self.price_cents:
            raise ValidationError({"is_default": "The default plan must be free."})
        if self.currency:
            # What the apps above accept (payments: the default gateway must charge it).
            try:
                validate_currency(self.currency)
            except ValidationError as exc:
                raise ValidationError({"currency": exc}) from None


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
        price = _decimal(tier["unit_price"], "tiers")
        # Lines store unit prices with this many places: a finer price would be rated as
        # written and stored rounded (quantity x unit_price would not be the amount).
        places = PlanCharge._meta.get_field("unit_price").decimal_places
        if price.normalize().as_tuple().exponent < -places:
            raise ValidationError(
                {"tiers": f"Tier {index + 1}: unit_price {price} has more than {places} decimal places."}
            )
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

    def save(self, *args, **kwargs):
        """Refuses (ValidationError) to add a charge to, change a charge of, or move a
        charge off a plan with subscribers (see FROZEN_CHARGE_FIELDS)."""
        touched: dict = {}  # plan id -> what changes on it
        stored = None
        if not self._state.adding:
            stored = (
                PlanCharge.objects.filter(pk=self.pk)
                .values("plan_id", *(self._meta.get_field(name).attname for name in FROZEN_CHARGE_FIELDS))
                .first()
            )
        if stored is None:
            touched[self.plan_id] = ["charges"]
        elif stored["plan_id"] != self.plan_id:
            touched = {stored["plan_id"]: ["charges"], self.plan_id: ["charges"]}
        else:
            changed = _changed(self, stored, FROZEN_CHARGE_FIELDS)
            if changed:
                touched[self.plan_id] = [f"charge terms ({', '.join(changed)})"]
        for plan_id, changed in touched.items():
            if plan_has_subscribers(plan_id):
                raise _frozen_terms_error(plan_id, changed)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        """Refuses (ValidationError) to remove a charge of a plan with subscribers."""
        if plan_has_subscribers(self.plan_id):
            raise _frozen_terms_error(self.plan_id, ["charges"])
        return super().delete(*args, **kwargs)

    def clean(self):
        super().clean()
        if self.pricing_model in (PricingModel.GRADUATED, PricingModel.VOLUME):
            validate_tiers(self.tiers)
        if self.pricing_model == PricingModel.PACKAGE and self.package_size < 1:
            raise ValidationError({"package_size": "A package holds at least one unit."})
