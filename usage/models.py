from datetime import UTC, datetime

from django.db import models
from django.db.models import Q
from django.utils import timezone

from apikeys.models import APIKey
from organizations.models import Organization
from plans.models import BillableMetric


class UsageEvent(models.Model):
    """One reported event, as received. Append-only; billing reads the daily rollups.

    The foreign keys are not enforced by the database: every insert would look up three
    other tables, on the hottest write path. Ingestion takes organization, metric and key
    from the authenticated key and the catalogue, and deletions go through the ORM, which
    applies `on_delete` itself.
    """

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    metric = models.ForeignKey(
        BillableMetric, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    event_type = models.CharField(max_length=64)
    quantity = models.BigIntegerField()
    timestamp = models.DateTimeField(help_text="When the usage happened (given by the reporter).")
    received_at = models.DateTimeField(default=timezone.now)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    endpoint = models.CharField(max_length=255, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    api_key = models.ForeignKey(
        APIKey,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    livemode = models.BooleanField(default=True, help_text="False for test-mode keys: stored, never counted.")

    class Meta:
        constraints = [
            # Test-mode and live usage keep separate idempotency keys, as separate data.
            models.UniqueConstraint(
                fields=["organization", "livemode", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="usage_event_idempotency_key_unique",
            ),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="usage_event_quantity_not_negative"),
        ]
        indexes = [models.Index(fields=["organization", "timestamp"], name="usage_event_org_time")]

    def __str__(self) -> str:
        return f"{self.event_type} x{self.quantity} @ {self.timestamp:%Y-%m-%d %H:%M}"


def midnight_of(day) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _fill_bucket(row) -> None:
    """A rollup row written directly (tests, fixtures) with only a `day` is that whole
    day's bucket; one with only `starts_at` is on that UTC day. Ingestion sets both.
    bulk_create skips save(): give it both."""
    if row.starts_at is None and row.day is not None:
        row.starts_at = midnight_of(row.day)
    elif row.day is None and row.starts_at is not None:
        row.day = row.starts_at.astimezone(UTC).date()


class DailyUsage(models.Model):
    """A rollup bucket per organization, metric and UTC day: what quota checks and history
    read. A day on which one of the organization's quota periods starts (a subscription
    bought at 15:00 renews at 15:00) has two buckets, before and from that moment
    (`starts_at`), so a period's total is the sum of the buckets that start inside it.
    Invoices read whole days from here and the partial days at their edges from the
    events themselves (usage.selectors.usage_in_windows)."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    metric = models.ForeignKey(BillableMetric, on_delete=models.PROTECT, related_name="+")
    day = models.DateField()
    starts_at = models.DateTimeField(help_text="Where the bucket starts: midnight, or a period start that day.")
    quantity = models.BigIntegerField(default=0, help_text="Sum of quantities.")
    event_count = models.BigIntegerField(default=0)
    max_quantity = models.BigIntegerField(default=0)
    unique_count = models.BigIntegerField(default=0, help_text="Distinct values that day (unique_count metrics).")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "metric", "starts_at"], name="usage_bucket_unique"),
        ]
        indexes = [models.Index(fields=["organization", "metric", "day"], name="usage_daily_org_metric_day")]
        ordering = ["starts_at"]
        verbose_name_plural = "daily usage"

    def __str__(self) -> str:
        return f"{self.metric_id} {self.starts_at:%Y-%m-%d %H:%M}: {self.quantity}"

    def save(self, *args, **kwargs):
        _fill_bucket(self)
        super().save(*args, **kwargs)


class UsageUniqueValue(models.Model):
    """The distinct values of a unique_count metric's key, per rollup bucket (see DailyUsage)."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    metric = models.ForeignKey(BillableMetric, on_delete=models.PROTECT, related_name="+")
    day = models.DateField()
    starts_at = models.DateTimeField()
    value = models.CharField(max_length=255)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "metric", "starts_at", "value"], name="usage_bucket_unique_value"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.metric_id} {self.day}: {self.value}"

    def save(self, *args, **kwargs):
        _fill_bucket(self)
        super().save(*args, **kwargs)


class UsageCutoff(models.Model):
    """Usage before `closed_before` has been invoiced: events dated earlier are refused."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, primary_key=True, related_name="usage_cutoff"
    )
    closed_before = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.organization_id}: closed before {self.closed_before:%Y-%m-%d %H:%M}"
