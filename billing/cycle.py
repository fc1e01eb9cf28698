"""The running billing cycle: one pass brings every subscription and invoice up to `now`.

Each step takes its items one at a time, each in its own transaction with the row locked
(`SKIP LOCKED`, so two workers share the work instead of waiting), and re-checks the
item's state under the lock; the database's unique constraints (one live subscription
per organization, one period invoice per subscription period, one charge per collection
attempt) back that up. Running the cycle twice for the same moment therefore changes
nothing the second time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing_project.db import bulk_update_rows
from invoices.builder import pending_items_of, period_invoice, save_draft, save_drafts, usage_lines_refresh_many
from invoices.dunning import retries_exhausted
from invoices.models import Invoice, InvoiceReason, InvoiceStatus
from invoices.services import invoices_finalize_locked, invoices_stop_collecting
from invoices.tasks import send_subscription_canceled_email
from subscriptions.models import Status, Subscription
from subscriptions.services import (
    billing_context_notify,
    next_period,
    plan_segment_switch,
    plan_segments_switch_many,
    subscription_event_record,
    subscription_transition,
)
from usage.services import usage_cutoffs_advance

logger = logging.getLogger(__name__)


@dataclass
class CycleReport:
    incomplete_expired: int = 0
    trials_ended: int = 0
    periods_closed: int = 0
    invoices_finalized: int = 0
    charges_attempted: int = 0
    subscriptions_past_due: int = 0
    subscriptions_canceled: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


Progress = Callable[[str, int], Callable[[], None]]


def _each(ids: Iterable, work, label: str, report: CycleReport, progress: Progress | None) -> int:
    ids = list(ids)
    advance = progress(label, len(ids)) if progress else None
    done = 0
    for item_id in ids:
        try:
            if work(item_id):
                done += 1
        except Exception as exc:  # one bad item must not stop the cycle
            logger.exception("Billing cycle: %s failed for %s", label, item_id)
            report.errors.append(f"{label} {item_id}: {exc.__class__.__name__}: {exc}")
        if advance:
            advance()
    return done


def _batch(ids: Iterable, work, label: str, report: CycleReport, progress: Progress | None) -> int:
    """Like `_each`, for steps that work on chunks of ids at once."""
    ids = list(ids)
    advance = progress(label, len(ids)) if progress else None
    done = 0
    for chunk in _chunks(ids):
        try:
            done += work(chunk)
        except Exception as exc:  # one bad chunk must not stop the cycle
            logger.exception("Billing cycle: %s failed for a chunk of %d", label, len(chunk))
            report.errors.append(f"{label}: {exc.__class__.__name__}: {exc}")
        if advance:
            for _ in chunk:
                advance()
    return done


def _locked_subscription(subscription_id) -> Subscription | None:
    return (
        Subscription.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("plan", "scheduled_plan", "organization")
        .filter(pk=subscription_id)
        .first()
    )


def _cancel(subscription: Subscription, *, reason: str, at: datetime) -> None:
    subscription_transition(subscription=subscription, to_status=Status.CANCELED, reason=reason, at=at)
    invoices_stop_collecting(subscription=subscription)
    send_subscription_canceled_email.delay_on_commit(str(subscription.pk))


def _advance(subscription: Subscription, *, save: bool = True, switches: list | None = None) -> None:
    """Move to the next period, switching to the scheduled plan (re-anchored at the new
    period when its interval differs; its usage segment starts with the new period).
    With `switches`, the segment change is left to the caller (in bulk)."""
    start, end = next_period(subscription)
    subscription.current_period_start, subscription.current_period_end = start, end
    if subscription.scheduled_plan_id:
        if switches is None:
            plan_segment_switch(subscription=subscription, plan=subscription.scheduled_plan, at=start)
        else:
            switches.append((subscription, subscription.scheduled_plan, start))
        old_plan = subscription.plan
        subscription.plan = subscription.scheduled_plan
        subscription.scheduled_plan = None
        if old_plan.interval != subscription.plan.interval:
            subscription.billing_anchor = start
        subscription_event_record(
            subscription=subscription, event="plan_changed", data={"from": old_plan.code, "to": subscription.plan.code}
        )
        billing_context_notify(subscription=subscription)
    subscription.updated_at = timezone.now()
    if save:
        subscription.save()


def _expire_incomplete(subscription_id, now: datetime) -> bool:
    with transaction.atomic():
        subscription = _locked_subscription(subscription_id)
        if subscription is None or subscription.status != Status.INCOMPLETE:
            return False
        for invoice in Invoice.objects.filter(subscription=subscription, status=InvoiceStatus.OPEN):
            from .services import invoice_void

            invoice_void(invoice=invoice, now=now)
        subscription_transition(
            subscription=subscription, to_status=Status.CANCELED, reason="incomplete_expired", at=now
        )
        return True


def _end_trial(subscription_id, now: datetime) -> bool:
    with transaction.atomic():
        subscription = _locked_subscription(subscription_id)
        if subscription is None or subscription.status != Status.TRIALING or subscription.trial_end > now:
            return False
        if subscription.cancel_at_period_end:
            _cancel(subscription, reason=subscription.cancel_reason or "canceled during the trial", at=now)
            return True
        invoice = save_draft(period_invoice(subscription))
        subscription_transition(subscription=subscription, to_status=Status.ACTIVE, reason="trial ended", at=now)
        subscription.refresh_from_db()
        _advance(subscription)
    _finalize_and_collect_many([invoice.pk], now)
    return True


CHUNK = 500


def _chunks(ids: list, size: int = CHUNK):
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _close_periods(subscription_ids: list, now: datetime) -> int:
    """Invoice every ended period of these subscriptions (as drafts: the usage is rated
    when they are finalized, after the grace window) and move them on; cancel instead
    those set to cancel at the period end. Works in chunks, each one transaction with a
    fixed number of queries, repeated while a subscription has more ended periods (a
    cycle that did not run for months catches up)."""
    closed: set = set()
    pending = list(subscription_ids)
    while pending:
        chunk, pending = pending[:CHUNK], pending[CHUNK:]
        with transaction.atomic():
            subscriptions = list(
                Subscription.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("plan", "scheduled_plan", "organization")
                .filter(pk__in=chunk, status__in=[Status.ACTIVE, Status.PAST_DUE], current_period_end__lte=now)
            )
            if not subscriptions:
                continue
            invoiced = set(
                Invoice.objects.filter(subscription__in=subscriptions, reason=InvoiceReason.SUBSCRIPTION_CYCLE)
                .exclude(status=InvoiceStatus.VOID)
                .values_list("subscription_id", "period_start")
            )
            items = pending_items_of(subscriptions)
            save_drafts(
                [
                    period_invoice(subscription, with_usage=False, pending_items=items.get(subscription.pk, []))
                    for subscription in subscriptions
                    if (subscription.pk, subscription.current_period_start) not in invoiced
                ]
            )
            moved = []
            switches: list = []
            for subscription in subscriptions:
                if subscription.cancel_at_period_end:
                    _cancel(
                        subscription,
                        reason=subscription.cancel_reason or "canceled at period end",
                        at=subscription.current_period_end,
                    )
                else:
                    _advance(subscription, save=False, switches=switches)
                    moved.append(subscription)
            plan_segments_switch_many(switches=switches)
            bulk_update_rows(
                moved,
                [
                    "current_period_start",
                    "current_period_end",
                    "plan",
                    "scheduled_plan",
                    "billing_anchor",
                    "updated_at",
                ],
            )
            closed.update(subscription.pk for subscription in subscriptions)
            pending += [subscription.pk for subscription in moved if subscription.current_period_end <= now]
    return len(closed)


def subscription_periods_close(*, subscription: Subscription, now: datetime) -> bool:
    """Close what the billing cycle would close of this one subscription at `now` (its
    ended periods), in the caller's transaction and under the caller's lock: a change made
    between a period's end and the cycle's next run applies to the period it happens in.
    True when something was closed."""
    if subscription.status not in (Status.ACTIVE, Status.PAST_DUE) or subscription.current_period_end > now:
        return False
    return bool(_close_periods([subscription.pk], now))


def _enqueue_collections(invoices: list[Invoice], now: datetime) -> None:
    """Charge through tasks: gateways answer in hundreds of milliseconds, so charges run on
    the workers, not inside the cycle (inline when Celery is eager). One message a chunk."""
    from .tasks import collect_invoices

    due = [(str(invoice.pk), invoice.attempt_count + 1) for invoice in invoices]
    if due:
        collect_invoices.delay(due, now.isoformat())


def _finalize_and_collect_many(invoice_ids: list, now: datetime) -> int:
    """Rate the usage of drafts whose grace window is over, finalize them and queue their
    charges; in chunks, each one transaction with a fixed number of queries."""
    finalized = 0
    for chunk in _chunks(list(invoice_ids)):
        with transaction.atomic():
            invoices = list(
                Invoice.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("organization", "plan")
                .filter(pk__in=chunk, status=InvoiceStatus.DRAFT)
            )
            if not invoices:
                continue
            usage_lines_refresh_many(invoices)
            empty = [invoice for invoice in invoices if not invoice.lines.exists()]
            if empty:  # nothing to bill (a canceled period without usage): no invoice, but close the period
                usage_cutoffs_advance(cutoffs={invoice.organization_id: invoice.period_end for invoice in empty})
                Invoice.objects.filter(pk__in=[invoice.pk for invoice in empty]).delete()
                invoices = [invoice for invoice in invoices if invoice not in empty]
            invoices_finalize_locked(invoices=invoices, now=now)
        _enqueue_collections([invoice for invoice in invoices if invoice.status == InvoiceStatus.OPEN], now)
        finalized += len(invoices)
    return finalized


def _collect_due(invoice_ids: list, now: datetime) -> int:
    invoices = list(
        Invoice.objects.filter(pk__in=invoice_ids, status=InvoiceStatus.OPEN, next_payment_attempt__lte=now)
    )
    for chunk in _chunks(invoices):
        _enqueue_collections(chunk, now)
    return len(invoices)


def _mark_past_due(subscription_id, now: datetime) -> bool:
    with transaction.atomic():
        subscription = _locked_subscription(subscription_id)
        if subscription is None or subscription.status not in (Status.ACTIVE, Status.TRIALING):
            return False
        subscription_transition(
            subscription=subscription, to_status=Status.PAST_DUE, reason="payment retries exhausted", at=now
        )
        Subscription.objects.filter(pk=subscription.pk).update(past_due_since=now)
        return True


def _cancel_unpaid(subscription_id, now: datetime) -> bool:
    with transaction.atomic():
        subscription = _locked_subscription(subscription_id)
        if subscription is None or subscription.status != Status.PAST_DUE:
            return False
        Invoice.objects.filter(subscription=subscription, status=InvoiceStatus.OPEN).update(
            status=InvoiceStatus.UNCOLLECTIBLE, next_payment_attempt=None
        )
        _cancel(subscription, reason="unpaid", at=now)
        return True


def run_billing_cycle(*, now: datetime | None = None, progress: Progress | None = None) -> CycleReport:
    """Bring subscriptions and invoices up to `now` (see the module docstring)."""
    now = now or timezone.now()
    report = CycleReport()
    live = Subscription.objects.all()

    expired = live.filter(
        status=Status.INCOMPLETE, created_at__lte=now - timedelta(hours=settings.INCOMPLETE_EXPIRE_HOURS)
    ).values_list("pk", flat=True)
    report.incomplete_expired = _each(
        expired, lambda pk: _expire_incomplete(pk, now), "expire incomplete", report, progress
    )

    trials = live.filter(status=Status.TRIALING, trial_end__lte=now).values_list("pk", flat=True)
    report.trials_ended = _each(trials, lambda pk: _end_trial(pk, now), "end trials", report, progress)

    ending = live.filter(status__in=[Status.ACTIVE, Status.PAST_DUE], current_period_end__lte=now).values_list(
        "pk", flat=True
    )
    report.periods_closed = _batch(ending, lambda ids: _close_periods(ids, now), "close periods", report, progress)

    ready = Invoice.objects.filter(
        status=InvoiceStatus.DRAFT,
        reason=InvoiceReason.SUBSCRIPTION_CYCLE,
        period_end__lte=now - timedelta(seconds=settings.BILLING_GRACE_SECONDS),
    ).values_list("pk", flat=True)
    report.invoices_finalized = _batch(
        ready, lambda ids: _finalize_and_collect_many(ids, now), "finalize invoices", report, progress
    )

    due = Invoice.objects.filter(status=InvoiceStatus.OPEN, next_payment_attempt__lte=now).values_list("pk", flat=True)
    report.charges_attempted = _batch(due, lambda ids: _collect_due(ids, now), "retry payments", report, progress)

    exhausted = {
        invoice.subscription_id
        for invoice in Invoice.objects.filter(
            status=InvoiceStatus.OPEN,
            subscription__status__in=[Status.ACTIVE, Status.TRIALING],
            next_payment_attempt__isnull=True,
            attempt_count__gt=0,
        ).only("subscription_id", "attempt_count", "next_payment_attempt")
        if retries_exhausted(invoice)
    }
    report.subscriptions_past_due = _each(
        exhausted, lambda pk: _mark_past_due(pk, now), "mark past due", report, progress
    )

    overdue = live.filter(
        status=Status.PAST_DUE, past_due_since__lte=now - timedelta(days=settings.DUNNING_CANCEL_AFTER_DAYS)
    ).values_list("pk", flat=True)
    report.subscriptions_canceled += _each(
        overdue, lambda pk: _cancel_unpaid(pk, now), "cancel unpaid", report, progress
    )
    return report
