import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from organizations.models import Organization
from plans.models import Plan


class Status(models.TextChoices):
    INCOMPLETE = "incomplete", "Incomplete (awaiting the first payment)"
    TRIALING = "trialing", "Trialing"
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Past due"
    CANCELED = "canceled", "Canceled"


# Statuses in which a subscription is the organization's one live subscription.
LIVE_STATUSES = (Status.INCOMPLETE, Status.TRIALING, Status.ACTIVE, Status.PAST_DUE)
# Statuses in which the organization has the plan's entitlements and quotas.
ENTITLED_STATUSES = (Status.TRIALING, Status.ACTIVE, Status.PAST_DUE)


class Subscription(models.Model):
    """An organization's subscription to a plan. Status changes go through
    subscriptions.services.subscription_transition, which records each in the history."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="subscriptions")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.INCOMPLETE)
    billing_anchor = models.DateTimeField(
        help_text="The moment the periods are counted from (the purchase, or the trial end)."
    )
    started_at = models.DateTimeField(
        default=timezone.now, help_text="The moment of purchase: usage before it is not this subscription's."
    )
    current_period_start = models.DateTimeField()
    current_period_end = models.DateTimeField()
    trial_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    canceled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=500, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    past_due_since = models.DateTimeField(null=True, blank=True)
    scheduled_plan = models.ForeignKey(
        Plan,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The plan the subscription switches to at the end of the current period.",
    )
    payment_method = models.CharField(max_length=255, blank=True, help_text="The gateway's saved payment method.")
    gateway = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization"],
                condition=Q(status__in=[s.value for s in LIVE_STATUSES]),
                name="subscriptions_one_live_per_org",
            ),
            models.CheckConstraint(
                condition=Q(current_period_end__gt=models.F("current_period_start")),
                name="subscriptions_period_not_empty",
            ),
        ]
        indexes = [models.Index(fields=["status", "current_period_end"], name="subscriptions_due")]

    def __str__(self) -> str:
        return f"{self.organization} on {self.plan.code} ({self.status})"

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def is_entitled(self) -> bool:
        return self.status in ENTITLED_STATUSES


class SubscriptionEvent(models.Model):
    """One entry of a subscription's history: a status change or another notable change."""

    id = models.BigAutoField(primary_key=True)
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="history")
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, blank=True)
    event = models.CharField(max_length=40, help_text="What happened, e.g. status_changed, plan_changed.")
    reason = models.CharField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.event}: {self.from_status} -> {self.to_status}"


class PlanSegment(models.Model):
    """A stretch of a subscription's life on one plan. Usage in [starts_at, ends_at) is
    rated at this plan's prices and included quantities; a plan change ends one segment
    and starts the next at the same instant, so a subscription's segments never overlap
    and leave no gap. The open segment (ends_at empty) is the plan it is on now."""

    id = models.BigAutoField(primary_key=True)
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="segments")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription"], condition=Q(ends_at__isnull=True), name="subscriptions_one_open_segment"
            ),
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=models.F("starts_at")),
                name="subscriptions_segment_not_empty",
            ),
        ]
        indexes = [models.Index(fields=["subscription", "starts_at"], name="subscriptions_segment_start")]

    def __str__(self) -> str:
        return f"{self.plan_id} from {self.starts_at:%Y-%m-%d %H:%M} to {self.ends_at or 'now'}"
