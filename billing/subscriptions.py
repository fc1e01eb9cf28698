"""Subscription changes that move money: cancel (invoicing the usage so far), change plan
(crediting the unused time, invoicing the rest; from the API, charging it at once), move
the subscribers of a plan version. Each closes a period the cycle has not rolled over yet
first (billing.cycle)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from billing_project.errors import Conflict, ValidationFailed
from credits.selectors import balance_of
from invoices.builder import plan_change_invoice
from invoices.models import Invoice, InvoiceStatus
from invoices.selectors import draft_totals
from invoices.services import (
    invoice_final_for_cancellation,
    invoice_for_plan_change,
    invoices_stop_collecting,
    renewal_drafts_drop_period,
)
from plans.models import Plan
from subscriptions.models import LIVE_STATUSES, Status, Subscription
from subscriptions.services import (
    billing_context_notify,
    months_of,
    plan_segment_switch,
    subscription_event_record,
    subscription_transition,
)

from .credit_notes import CreditLine, CreditNoteAmounts, credit_note_amounts, unused_time_credit, unused_time_lines
from .cycle import subscription_periods_close
from .services import invoice_collect_or_retry_later


@transaction.atomic
def subscription_cancel(
    *, subscription: Subscription, at_period_end: bool, reason: str = "", actor=None, now: datetime | None = None
) -> Subscription:
    """Cancel at the end of the current period (access until then) or immediately: the
    period's usage so far is invoiced at once, a renewal not yet issued (waiting for the
    grace window) is dropped, and no further collection attempt is made on its open
    invoices. Canceling twice is a 409. A period that ended before the billing cycle rolled
    it over is closed first."""
    now = now or timezone.now()
    locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if subscription_periods_close(subscription=locked, now=now):
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
        subscription_event_record(subscription=locked, event="cancel_scheduled", reason=reason, actor=actor)
        return locked
    locked.canceled_at = now
    locked.cancel_reason = reason[:500]
    locked.save(update_fields=["canceled_at", "cancel_reason", "updated_at"])
    if locked.status != Status.INCOMPLETE:
        renewal_drafts_drop_period(subscription=locked, period_start=locked.current_period_start)
        invoice_final_for_cancellation(subscription=locked, now=now)
    canceled = subscription_transition(
        subscription=locked, to_status=Status.CANCELED, reason=reason, actor=actor, at=now
    )
    invoices_stop_collecting(subscription=canceled)
    return canceled


class PlanChangeMode:
    """How subscription_change_plan changes a plan (plan_change_mode says which)."""

    SWITCH = "switch"  # now, without any invoice (staff, charge=False)
    SCHEDULE = "schedule"  # at the next period, as the scheduled plan
    PRORATE = "prorate"  # now: the unused time credited, the rest of the period invoiced


def plan_change_mode(*, subscription: Subscription, new_plan: Plan, prorate: bool, charge: bool = True) -> str:
    """Whether and how `subscription` may move to `new_plan` (a PlanChangeMode), or the
    error the change answers with. The change and its preview both ask it."""
    if subscription.status not in (Status.ACTIVE, Status.TRIALING, Status.PAST_DUE):
        raise Conflict(f"A {subscription.status} subscription cannot change plans.")
    if not new_plan.is_active:
        raise ValidationFailed.for_field("new_plan_id", "This plan is not available.")
    if new_plan.pk == subscription.plan_id:
        raise ValidationFailed.for_field("new_plan_id", "The subscription is already on this plan.")
    if new_plan.currency != subscription.plan.currency:
        raise ValidationFailed.for_field("new_plan_id", "The new plan is priced in another currency.")
    if not charge:
        return PlanChangeMode.SWITCH
    if not prorate or subscription.status == Status.TRIALING:
        return PlanChangeMode.SCHEDULE
    if months_of(new_plan) != months_of(subscription.plan):
        raise ValidationFailed.for_field(
            "prorate", "Switching between monthly and yearly plans happens at the next period: use prorate=false."
        )
    return PlanChangeMode.PRORATE


@transaction.atomic
def subscription_change_plan(
    *, subscription: Subscription, new_plan: Plan, prorate: bool, actor=None, now: datetime | None = None, charge=True
):
    """Switch plans. `prorate`: now, with the unused time of what the old plan charged
    coming back as a credit note and the rest of the period on the new one invoiced at once
    (same interval only). Otherwise at the next period (the scheduled plan). Returns
    (subscription, proration invoice or None). With `charge=False` (staff) the switch
    happens now without any invoice. A period that ended before the billing cycle rolled
    it over is closed first, so the change lands in the period it happens in."""
    now = now or timezone.now()
    locked = Subscription.objects.select_for_update(of=("self",)).select_related("plan").get(pk=subscription.pk)
    if subscription_periods_close(subscription=locked, now=now):
        locked = Subscription.objects.select_for_update(of=("self",)).select_related("plan").get(pk=subscription.pk)
    mode = plan_change_mode(subscription=locked, new_plan=new_plan, prorate=prorate, charge=charge)
    old_plan = locked.plan
    if mode == PlanChangeMode.SWITCH:
        locked.plan = new_plan
        locked.scheduled_plan = None
        locked.save(update_fields=["plan", "scheduled_plan", "updated_at"])
        plan_segment_switch(subscription=locked, plan=new_plan, at=max(now, locked.current_period_start))
        subscription_event_record(
            subscription=locked, event="plan_changed", actor=actor, data={"from": old_plan.code, "to": new_plan.code}
        )
        billing_context_notify(subscription=locked)
        return locked, None
    if mode == PlanChangeMode.SCHEDULE:
        locked.scheduled_plan = new_plan
        locked.save(update_fields=["scheduled_plan", "updated_at"])
        subscription_event_record(
            subscription=locked, event="plan_change_scheduled", actor=actor, data={"to": new_plan.code}
        )
        return locked, None
    unused_time_credit(subscription=locked, plan_name=old_plan.name, switch_at=now, actor=actor)
    invoice = invoice_for_plan_change(subscription=locked, new_plan=new_plan, now=now)
    locked.plan = new_plan
    locked.scheduled_plan = None
    locked.save(update_fields=["plan", "scheduled_plan", "updated_at"])
    plan_segment_switch(subscription=locked, plan=new_plan, at=now)
    subscription_event_record(
        subscription=locked,
        event="plan_changed",
        actor=actor,
        data={"from": old_plan.code, "to": new_plan.code, "prorated": True},
    )
    billing_context_notify(subscription=locked)
    return locked, invoice


@dataclass(frozen=True)
class UnusedTimeCredit:
    """One invoice's share of a plan change's credit for unused time: a credit note
    (`amounts`) for an issued invoice, credit lines added to a draft (`amounts` None)."""

    invoice: Invoice
    lines: list[CreditLine]
    amounts: CreditNoteAmounts | None

    @property
    def subtotal_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)


@dataclass(frozen=True)
class PlanChangePreview:
    """What subscription_change_plan would do at `at`, computed by the code it runs and
    never stored: the credits for the unused time of the old plan, the invoice for the
    rest of the period on the new one (`invoice`: invoices.selectors.draft_totals, None
    when nothing is invoiced), the credit balance before and after, and what the new
    plan costs from the next period."""

    subscription: Subscription
    old_plan: Plan
    new_plan: Plan
    mode: str
    at: datetime
    credits: list[UnusedTimeCredit] = field(default_factory=list)
    invoice: dict | None = None
    balance_before_cents: int = 0
    balance_after_cents: int = 0
    balance_currency: str = ""

    @property
    def charge_now_cents(self) -> int:
        """What the invoice of the change asks for at once (charged to the saved payment
        method, or paid on the gateway's page)."""
        return self.invoice["total_cents"] if self.invoice else 0

    @property
    def credit_total_cents(self) -> int:
        """The unused time credited, tax included on credit notes."""
        return sum(c.amounts.total_cents if c.amounts else c.subtotal_cents for c in self.credits)

    @property
    def next_period_start(self) -> datetime:
        return self.subscription.current_period_end


def subscription_change_plan_preview(
    *, subscription: Subscription, new_plan: Plan, prorate: bool, now: datetime | None = None
) -> PlanChangePreview:
    """The dry run of subscription_change_plan(prorate=...) at `now`: the same checks (the
    same errors), the same credit lines (billing.credit_notes.unused_time_lines) and
    credit note amounts (credit_note_amounts), the same invoice draft
    (invoices.builder.plan_change_invoice) with the tax and credit its finalization takes.
    Writes nothing. A period that has ended but that the billing cycle has not rolled
    over yet is a 409 here (the change would close it first, which a preview cannot
    show)."""
    now = now or timezone.now()
    subscription = Subscription.objects.select_related("plan", "organization", "scheduled_plan").get(pk=subscription.pk)
    if subscription.status in (Status.ACTIVE, Status.PAST_DUE) and subscription.current_period_end <= now:
        raise Conflict("This subscription's period has just ended and is being renewed. Try again in a minute.")
    mode = plan_change_mode(subscription=subscription, new_plan=new_plan, prorate=prorate)
    organization = subscription.organization
    balance, currency = balance_of(organization=organization, now=now)
    common = {
        "subscription": subscription,
        "old_plan": subscription.plan,
        "new_plan": new_plan,
        "mode": mode,
        "balance_before_cents": balance,
        "balance_currency": currency,
    }
    if mode != PlanChangeMode.PRORATE:
        return PlanChangePreview(**common, at=subscription.current_period_end, balance_after_cents=balance)
    credits = []
    gained = 0
    for invoice, lines in unused_time_lines(subscription=subscription, plan_name=subscription.plan.name, switch_at=now):
        amounts = None
        if invoice.status != InvoiceStatus.DRAFT:
            amounts = credit_note_amounts(invoice=invoice, lines=lines)
            gained += amounts.to_balance_cents
        credits.append(UnusedTimeCredit(invoice=invoice, lines=lines, amounts=amounts))
    draft = plan_change_invoice(subscription, new_plan=new_plan, switch_at=now)
    invoice = None
    balance_after = balance + gained
    if draft.lines:
        invoice = draft_totals(organization=organization, draft=draft, balance_cents=balance_after, now=now)
        balance_after -= max(invoice["credit_applied_cents"], 0)
    return PlanChangePreview(**common, at=now, credits=credits, invoice=invoice, balance_after_cents=balance_after)


def subscription_change_plan_and_collect(
    *, subscription: Subscription, new_plan: Plan, prorate: bool, actor=None, now: datetime | None = None
) -> tuple[Subscription, Invoice | None]:
    """Change plans (subscription_change_plan), then charge the proration invoice the
    change opened, at once. Not one transaction, on purpose: the change commits first, so a
    gateway failure leaves the new plan in place and its invoice open, due again for the
    billing cycle's retry (invoice_collect_or_retry_later). Returns the subscription and
    the invoice (None for a change at the next period) as they stand afterwards."""
    subscription, invoice = subscription_change_plan(
        subscription=subscription, new_plan=new_plan, prorate=prorate, actor=actor, now=now
    )
    if invoice is not None and invoice.status == InvoiceStatus.OPEN:
        invoice_collect_or_retry_later(invoice=invoice, now=now or timezone.now())
        invoice.refresh_from_db()
    subscription.refresh_from_db()
    return subscription, invoice


def subscriptions_move_to_version(
    *, from_plan: Plan, to_plan: Plan, at_renewal: bool, actor=None, now: datetime | None = None
) -> int:
    """Move the subscribers of a replaced version of a plan to its current version,
    `to_plan` (same code and currency). `at_renewal`: each live subscription on `from_plan`
    switches at its next period start, as its scheduled plan, unless another change is
    scheduled (one scheduled onto an older version of the same plan is re-pointed).
    Otherwise now: usage from `now` on is rated on `to_plan`; the base fee already invoiced
    for the current period stands and `to_plan`'s price applies from the next period, so a
    version with another interval can only be moved to at renewal. Either way a
    subscription merely scheduled onto `from_plan` is re-pointed to `to_plan`. Each
    subscription moves in its own transaction under its row lock (a period that ended
    before the cycle rolled it over is closed first), so a rerun finishes a move that
    stopped half way. Returns how many subscriptions moved or were scheduled to."""

    now = now or timezone.now()
    if to_plan.pk == from_plan.pk:
        raise ValidationFailed("The subscribers are on this version already.")
    if to_plan.code != from_plan.code or to_plan.replaced_by_id is not None:
        raise ValidationFailed(f"Subscribers move only to the current version of '{from_plan.code}'.")
    if to_plan.currency != from_plan.currency:
        raise ValidationFailed("The current version is priced in another currency.")
    if not at_renewal and months_of(to_plan) != months_of(from_plan):
        raise ValidationFailed("The current version has another interval: move the subscribers at their next renewal.")
    versions = {"code": to_plan.code, "from_version": from_plan.version, "to_version": to_plan.version}
    candidates = (
        Subscription.objects.filter(status__in=LIVE_STATUSES)
        .filter(Q(plan=from_plan) | Q(scheduled_plan=from_plan))
        .order_by("pk")
        .values_list("pk", flat=True)
    )

    def lock(subscription_id) -> Subscription:
        return (
            Subscription.objects.select_for_update(of=("self",))
            .select_related("scheduled_plan")
            .get(pk=subscription_id)
        )

    def schedule(subscription: Subscription) -> None:
        subscription.scheduled_plan = to_plan
        subscription.save(update_fields=["scheduled_plan", "updated_at"])
        subscription_event_record(
            subscription=subscription, event="plan_version_migration_scheduled", actor=actor, data=versions
        )

    moved = 0
    for subscription_id in list(candidates):
        with transaction.atomic():
            locked = lock(subscription_id)
            if subscription_periods_close(subscription=locked, now=now):
                locked = lock(subscription_id)
            if locked.status not in LIVE_STATUSES:
                continue
            scheduled = locked.scheduled_plan
            if locked.plan_id != from_plan.pk:
                if locked.scheduled_plan_id == from_plan.pk:
                    schedule(locked)
                    moved += 1
                continue
            same_plan_scheduled = scheduled is None or scheduled.code == to_plan.code
            if at_renewal:
                if same_plan_scheduled and locked.scheduled_plan_id != to_plan.pk:
                    schedule(locked)
                    moved += 1
                continue
            locked.plan = to_plan
            if scheduled is not None and same_plan_scheduled:
                locked.scheduled_plan = None  # it is on the current version now
            locked.save(update_fields=["plan", "scheduled_plan", "updated_at"])
            plan_segment_switch(subscription=locked, plan=to_plan, at=max(now, locked.current_period_start))
            subscription_event_record(
                subscription=locked,
                event="plan_version_migrated",
                actor=actor,
                data={**versions, "from_plan": str(from_plan.pk), "to_plan": str(to_plan.pk)},
            )
            billing_context_notify(subscription=locked)
            moved += 1
    return moved
