"""Writes for subscriptions: creation and the one transition function every status
change goes through."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing_project.errors import Conflict
from billing_project.periods import period_bounds, period_index
from organizations.models import Organization
from plans.models import Interval, Plan

from .models import PlanSegment, Status, Subscription, SubscriptionEvent
from .signals import billing_context_changed

TRANSITIONS: dict[str, frozenset[str]] = {
    Status.INCOMPLETE: frozenset({Status.TRIALING, Status.ACTIVE, Status.CANCELED}),
    Status.TRIALING: frozenset({Status.ACTIVE, Status.PAST_DUE, Status.CANCELED}),
    Status.ACTIVE: frozenset({Status.PAST_DUE, Status.CANCELED}),
    Status.PAST_DUE: frozenset({Status.ACTIVE, Status.CANCELED}),
    Status.CANCELED: frozenset(),
}


def months_of(plan: Plan) -> int:
    return 12 if plan.interval == Interval.YEAR else 1


def next_period(subscription: Subscription) -> tuple[datetime, datetime]:
    """The period after the current one: the first paid period after a trial, else the
    next from the billing anchor (with the plan it will then be on). A switch between a
    monthly and a yearly plan starts a new cycle where the current period ends."""
    plan = subscription.scheduled_plan or subscription.plan
    months = months_of(plan)
    if subscription.current_period_start < subscription.billing_anchor:  # in the trial
        return period_bounds(subscription.billing_anchor, 0, months)
    if months != months_of(subscription.plan):
        return period_bounds(subscription.current_period_end, 0, months)
    index = period_index(subscription.billing_anchor, subscription.current_period_start, months)
    return period_bounds(subscription.billing_anchor, index + 1, months)


def subscription_event_record(
    *, subscription: Subscription, event: str, reason: str = "", actor=None, data=None, from_status="", to_status=""
) -> SubscriptionEvent:
    return SubscriptionEvent.objects.create(
        subscription=subscription,
        event=event,
        from_status=from_status,
        to_status=to_status,
        reason=reason[:500],
        actor=actor,
        data=data or {},
    )


def plan_segment_switch(*, subscription: Subscription, plan: Plan, at: datetime) -> None:
    """From `at` on, the subscription's usage is rated on `plan`: the open segment ends at
    `at` and a new one starts there (a segment that would be empty is replaced)."""
    open_segment = PlanSegment.objects.filter(subscription=subscription, ends_at__isnull=True).first()
    if open_segment is not None:
        if open_segment.starts_at >= at:
            open_segment.delete()
        else:
            open_segment.ends_at = at
            open_segment.save(update_fields=["ends_at"])
    PlanSegment.objects.create(subscription=subscription, plan=plan, starts_at=at)


def plan_segments_switch_many(*, switches: list[tuple[Subscription, Plan, datetime]]) -> None:
    """`plan_segment_switch` for many subscriptions in a fixed number of queries (the cycle
    moves thousands to their scheduled plans at once)."""
    if not switches:
        return
    ids = [subscription.pk for subscription, _plan, _at in switches]
    open_segments = {
        segment.subscription_id: segment
        for segment in PlanSegment.objects.filter(subscription_id__in=ids, ends_at__isnull=True)
    }
    closed, emptied = [], []
    for subscription, _plan, at in switches:
        segment = open_segments.get(subscription.pk)
        if segment is None:
            continue
        if segment.starts_at >= at:
            emptied.append(segment.pk)
        else:
            segment.ends_at = at
            closed.append(segment)
    PlanSegment.objects.filter(pk__in=emptied).delete()
    PlanSegment.objects.bulk_update(closed, ["ends_at"])
    PlanSegment.objects.bulk_create(
        [PlanSegment(subscription=subscription, plan=plan, starts_at=at) for subscription, plan, at in switches]
    )


def plan_segment_end(*, subscription: Subscription, at: datetime) -> None:
    """The subscription stops at `at`: its open segment ends there (one that had not
    begun yet is dropped)."""
    for segment in PlanSegment.objects.filter(subscription=subscription, ends_at__isnull=True):
        if segment.starts_at >= at:
            segment.delete()
        else:
            segment.ends_at = at
            segment.save(update_fields=["ends_at"])


def billing_context_notify(*, subscription: Subscription) -> None:
    """The organization's plan, entitlements or quota periods changed: drop what the
    service endpoints cached about it."""
    billing_context_changed.send(sender=Subscription, organization_ids=[subscription.organization_id])


@transaction.atomic
def subscription_transition(
    *, subscription: Subscription, to_status: str, reason: str = "", actor=None, at: datetime | None = None
) -> Subscription:
    """Move a subscription to `to_status`, or refuse (409) a move the lifecycle does not
    allow. Moving to the status it already has changes nothing. Records the change."""
    at = at or timezone.now()
    locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if locked.status == to_status:
        return locked
    if to_status not in TRANSITIONS[locked.status]:
        raise Conflict(
            f"A {locked.status} subscription cannot become {to_status}.",
            code="invalid_transition",
        )
    from_status = locked.status
    locked.status = to_status
    fields = ["status", "updated_at"]
    if to_status == Status.CANCELED:
        locked.ended_at = at
        locked.canceled_at = locked.canceled_at or at
        locked.cancel_reason = locked.cancel_reason or reason
        fields += ["ended_at", "canceled_at", "cancel_reason"]
        plan_segment_end(subscription=locked, at=at)
    locked.save(update_fields=fields)
    subscription_event_record(
        subscription=locked,
        event="status_changed",
        reason=reason,
        actor=actor,
        from_status=from_status,
        to_status=to_status,
    )
    billing_context_notify(subscription=locked)
    return locked


@transaction.atomic
def subscription_create(
    *,
    organization: Organization,
    plan: Plan,
    start: datetime | None = None,
    status: str = Status.INCOMPLETE,
    trial_days: int | None = None,
    gateway: str = "",
    actor=None,
) -> Subscription:
    """Start a subscription at the moment `start` (default now: the purchase), to the
    second, so usage before it is never its own. With trial days (default: the plan's) it
    is `trialing` until the trial ends, and paid periods are anchored there; otherwise it
    starts `incomplete` (awaiting the first payment) or as `status` says. An organization
    has at most one live subscription (409)."""
    start = (start or timezone.now()).replace(microsecond=0)
    trial_days = plan.trial_days if trial_days is None else trial_days
    months = months_of(plan)
    if trial_days:
        trial_end = start + timedelta(days=trial_days)
        values = {
            "status": Status.TRIALING,
            "trial_end": trial_end,
            "billing_anchor": trial_end,
            "current_period_start": start,
            "current_period_end": trial_end,
        }
    else:
        period_start, period_end = period_bounds(start, 0, months)
        values = {
            "status": status,
            "billing_anchor": start,
            "current_period_start": period_start,
            "current_period_end": period_end,
        }
    try:
        with transaction.atomic():
            subscription = Subscription.objects.create(
                organization=organization, plan=plan, gateway=gateway, started_at=start, **values
            )
    except IntegrityError as exc:
        raise Conflict("This organization already has a live subscription.") from exc
    PlanSegment.objects.create(subscription=subscription, plan=plan, starts_at=start)
    subscription_event_record(
        subscription=subscription, event="created", actor=actor, to_status=subscription.status, data={"plan": plan.code}
    )
    billing_context_notify(subscription=subscription)
    return subscription


@transaction.atomic
def subscription_payment_method_save(*, subscription: Subscription, gateway: str, payment_method: str) -> Subscription:
    """Remember the payment method renewals and dunning charge."""
    locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if locked.payment_method != payment_method or locked.gateway != gateway:
        locked.payment_method = payment_method
        locked.gateway = gateway
        locked.save(update_fields=["payment_method", "gateway", "updated_at"])
        subscription_event_record(subscription=locked, event="payment_method_changed", data={"gateway": gateway})
    return locked


@transaction.atomic
def subscription_reactivate(*, subscription: Subscription, actor=None, now: datetime | None = None) -> Subscription:
    """Undo a cancellation at period end, before the period ends."""
    now = now or timezone.now()
    locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if locked.status == Status.CANCELED:
        raise Conflict("A canceled subscription cannot be reactivated; start a new one at checkout.")
    if not locked.cancel_at_period_end:
        raise Conflict("This subscription is not set to cancel.")
    if locked.current_period_end <= now:
        raise Conflict("The period has ended; the cancellation has taken effect.")
    locked.cancel_at_period_end = False
    locked.canceled_at = None
    locked.cancel_reason = ""
    locked.save(update_fields=["cancel_at_period_end", "canceled_at", "cancel_reason", "updated_at"])
    subscription_event_record(subscription=locked, event="reactivated", actor=actor)
    return locked
