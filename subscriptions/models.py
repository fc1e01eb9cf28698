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
    billing_anchor = models.DateTimeField(help_text="Midnight UTC the periods are counted from.")
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
