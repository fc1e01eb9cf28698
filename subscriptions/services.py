"""Writes for subscriptions: creation and the one transition function every status
change goes through."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from apikeys.authentication import forget_organization_keys
from billing_project.errors import Conflict, ValidationFailed
from billing_project.periods import period_bounds, period_index, start_of_day
from organizations.models import Organization
from plans.models import Plan

from .models import Status, Subscription, SubscriptionEvent

TRANSITIONS: dict[str, frozenset[str]] = {
    Status.INCOMPLETE: frozenset({Status.TRIALING, Status.ACTIVE, Status.CANCELED}),
    Status.TRIALING: frozenset({Status.ACTIVE, Status.PAST_DUE, Status.CANCELED}),
    Status.ACTIVE: frozenset({Status.PAST_DUE, Status.CANCELED}),
    Status.PAST_DUE: frozenset({Status.ACTIVE, Status.CANCELED}),
    Status.CANCELED: frozenset(),
}


def months_of(plan: Plan) -> int:
    return 12 if plan.interval == "year" else 1


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


def record_event(
    subscription: Subscription, event: str, *, reason: str = "", actor=None, data=None, from_status="", to_status=""
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


def _context_changed(subscription: Subscription) -> None:
    """The organization's plan, entitlements or quota periods changed: drop what the
    service endpoints cached about it."""
    forget_organization_keys(subscription.organization_id)


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
    locked.save(update_fields=fields)
    record_event(locked, "status_changed", reason=reason, actor=actor, from_status=from_status, to_status=to_status)
    _context_changed(locked)
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
    """Start a subscription at midnight UTC of `start`. With trial days (default: the
    plan's) it is `trialing` until the trial ends, and paid periods are anchored there;
    otherwise it starts `incomplete` (awaiting the first payment) or as `status` says.
    An organization has at most one live subscription (409)."""
    start = start_of_day(start or timezone.now())
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
            subscription = Subscription.objects.create(organization=organization, plan=plan, gateway=gateway, **values)
    except IntegrityError as exc:
        raise Conflict("This organization already has a live subscription.") from exc
    record_event(subscription, "created", actor=actor, to_status=subscription.status, data={"plan": plan.code})
    _context_changed(subscription)
    return subscription


@transaction.atomic
def subscription_payment_method_save(*, subscription: Subscription, gateway: str, payment_method: str) -> Subscription:
    """Remember the payment method renewals and dunning charge."""
    locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if locked.payment_method != payment_method or locked.gateway != gateway:
        locked.payment_method = payment_method
        locked.gateway = gateway
        locked.save(update_fields=["payment_method", "gateway", "updated_at"])
        record_event(locked, "payment_method_changed", data={"gateway": gateway})
    return locked


@transaction.atomic
def subscription_cancel(
    *, subscription: Subscription, at_period_end: bool, reason: str = "", actor=None, now: datetime | None = None
) -> Subscription:
    """Cancel at the end of the current period (access until then) or immediately (the
    period's usage so far is invoiced at once). Canceling twice is a 409."""
    from invoices.services import invoice_final_for_cancellation

    now = now or timezone.now()
    locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if locked.status == Status.CANCELED:
        raise Conflict("This subscription is already canceled.")
    if at_period_end and locked.status != Status.INCOMPLETE:
        if locked.cancel_at_period_end:
            raise Conflict("This subscription is already set to cancel at the end of the period.")
        locked.cancel_at_period_end = True
        locked.canceled_at = now
        locked.cancel_reason = reason[:500]
        locked.save(update_fields=["cancel_at_period_end", "canceled_at", "cancel_reason", "updated_at"])
        record_event(locked, "cancel_scheduled", reason=reason, actor=actor)
        return locked
    locked.canceled_at = now
    locked.cancel_reason = reason[:500]
    locked.save(update_fields=["canceled_at", "cancel_reason", "updated_at"])
    if locked.status != Status.INCOMPLETE:
        invoice_final_for_cancellation(subscription=locked, now=now)
    return subscription_transition(subscription=locked, to_status=Status.CANCELED, reason=reason, actor=actor, at=now)


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
    record_event(locked, "reactivated", actor=actor)
    return locked


@transaction.atomic
def subscription_change_plan(
    *, subscription: Subscription, new_plan: Plan, prorate: bool, actor=None, now: datetime | None = None, charge=True
):
    """Switch plans. `prorate`: now, with the unused time of the old plan credited and the
    rest of the period on the new one invoiced at once (same interval only). Otherwise at
    the next period (the scheduled plan). Returns (subscription, proration invoice or None).
    With `charge=False` (staff) the switch happens now without any invoice."""
    from invoices.services import invoice_for_plan_change

    now = now or timezone.now()
    locked = Subscription.objects.select_for_update(of=("self",)).select_related("plan").get(pk=subscription.pk)
    if locked.status not in (Status.ACTIVE, Status.TRIALING, Status.PAST_DUE):
        raise Conflict(f"A {locked.status} subscription cannot change plans.")
    if not new_plan.is_active:
        raise ValidationFailed.for_field("new_plan_id", "This plan is not available.")
    if new_plan.pk == locked.plan_id:
        raise ValidationFailed.for_field("new_plan_id", "The subscription is already on this plan.")
    if new_plan.currency != locked.plan.currency:
        raise ValidationFailed.for_field("new_plan_id", "The new plan is priced in another currency.")
    old_plan = locked.plan
    if not charge:
        locked.plan = new_plan
        locked.scheduled_plan = None
        locked.save(update_fields=["plan", "scheduled_plan", "updated_at"])
        record_event(locked, "plan_changed", actor=actor, data={"from": old_plan.code, "to": new_plan.code})
        _context_changed(locked)
        return locked, None
    if not prorate or locked.status == Status.TRIALING:
        locked.scheduled_plan = new_plan
        locked.save(update_fields=["scheduled_plan", "updated_at"])
        record_event(locked, "plan_change_scheduled", actor=actor, data={"to": new_plan.code})
        return locked, None
    if months_of(new_plan) != months_of(old_plan):
        raise ValidationFailed.for_field(
            "prorate", "Switching between monthly and yearly plans happens at the next period: use prorate=false."
        )
    invoice = invoice_for_plan_change(subscription=locked, old_plan=old_plan, new_plan=new_plan, now=now)
    locked.plan = new_plan
    locked.scheduled_plan = None
    locked.save(update_fields=["plan", "scheduled_plan", "updated_at"])
    record_event(
        locked, "plan_changed", actor=actor, data={"from": old_plan.code, "to": new_plan.code, "prorated": True}
    )
    _context_changed(locked)
    return locked, invoice
