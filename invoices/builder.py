"""Building invoices: what a subscription period owes, gathered from the database and
priced by the pure rating engine (invoices.rating).

One builder serves the real invoice and the preview (`GET /invoices/upcoming`): the
preview is the same draft, never stored, so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction

from plans.models import Plan
from subscriptions.models import Subscription
from subscriptions.services import months_of, next_period
from usage.selectors import usage_totals

from . import rating
from .models import Invoice, InvoiceLine, InvoiceReason, InvoiceStatus, PendingLineItem


@dataclass
class Draft:
    """An invoice before it is stored: its lines and where they come from."""

    organization_id: object
    subscription: Subscription | None
    reason: str
    currency: str
    period_start: datetime | None
    period_end: datetime | None
    lines: list[rating.RatedLine] = field(default_factory=list)
    metric_ids: dict[str, object] = field(default_factory=dict)
    pending_item_ids: list[int] = field(default_factory=list)

    @property
    def subtotal_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)


def usage_charges(plan: Plan, *, months: int) -> tuple[list[rating.Charge], dict[str, object]]:
    """The plan's usage charges for a period of `months` months (included quantities are
    monthly), and the metric ids by code."""
    charges = []
    metric_ids = {}
    for charge in plan.charges.select_related("metric").filter(metric__is_active=True).order_by("metric__code"):
        metric = charge.metric
        metric_ids[metric.code] = metric.pk
        included = None if charge.included_quantity is None else charge.included_quantity * months
        charges.append(
            rating.Charge(
                metric_code=metric.code,
                metric_name=metric.name,
                unit=metric.unit,
                included=included,
                pricing_model=charge.pricing_model,
                unit_price=charge.unit_price,
                package_size=charge.package_size,
                tiers=rating.tiers_from_json(charge.tiers) if charge.tiers else (),
            )
        )
    return charges, metric_ids


def _usage_lines(draft: Draft, *, plan: Plan, start: datetime, end: datetime) -> None:
    charges, metric_ids = usage_charges(plan, months=months_of(plan))
    if not charges:
        return
    used = usage_totals(
        organization_id=draft.organization_id, start=start.date(), end=end.date(), metric_codes=list(metric_ids)
    )
    draft.lines += rating.rate_usage(charges, used, start, end)
    draft.metric_ids.update(metric_ids)


def _pending_lines(draft: Draft, subscription: Subscription) -> None:
    for item in PendingLineItem.objects.filter(subscription=subscription, invoice__isnull=True).order_by("id"):
        draft.lines.append(
            rating.RatedLine(
                kind=item.kind,
                description=item.description,
                quantity=item.quantity,
                unit_price=item.unit_price,
                amount_cents=item.amount_cents,
                period_start=item.period_start,
                period_end=item.period_end,
            )
        )
        draft.pending_item_ids.append(item.pk)


def first_invoice(subscription: Subscription) -> Draft:
    """The invoice that starts a subscription: the base fee of its first period."""
    plan = subscription.plan
    draft = Draft(
        organization_id=subscription.organization_id,
        subscription=subscription,
        reason=InvoiceReason.SUBSCRIPTION_CREATE,
        currency=plan.currency,
        period_start=subscription.current_period_start,
        period_end=subscription.current_period_end,
    )
    if plan.price_cents:
        draft.lines.append(
            rating.base_fee_line(
                plan_name=plan.name,
                price_cents=plan.price_cents,
                period_start=subscription.current_period_start,
                period_end=subscription.current_period_end,
                interval=plan.interval,
            )
        )
    return draft


def period_invoice(subscription: Subscription, *, usage_until: datetime | None = None) -> Draft:
    """The invoice that closes the subscription's current period: its usage in arrears
    (up to `usage_until`, default the period end; none for a trial), the base fee of the
    next period in advance (on the plan scheduled for it; none when the subscription ends
    with this period), and the pending lines."""
    start, end = subscription.current_period_start, subscription.current_period_end
    in_trial = subscription.trial_end is not None and end <= subscription.trial_end
    draft = Draft(
        organization_id=subscription.organization_id,
        subscription=subscription,
        reason=InvoiceReason.SUBSCRIPTION_CYCLE,
        currency=subscription.plan.currency,
        period_start=start,
        period_end=end,
    )
    if not subscription.cancel_at_period_end:
        next_plan = subscription.scheduled_plan or subscription.plan
        next_start, next_end = next_period(subscription)
        if next_plan.price_cents:
            draft.lines.append(
                rating.base_fee_line(
                    plan_name=next_plan.name,
                    price_cents=next_plan.price_cents,
                    period_start=next_start,
                    period_end=next_end,
                    interval=next_plan.interval,
                )
            )
    if not in_trial:
        _usage_lines(draft, plan=subscription.plan, start=start, end=min(usage_until or end, end))
    _pending_lines(draft, subscription)
    return draft


def final_usage_invoice(subscription: Subscription, *, until: datetime) -> Draft:
    """At an immediate cancellation: the usage of the current period so far and pending lines."""
    draft = Draft(
        organization_id=subscription.organization_id,
        subscription=subscription,
        reason=InvoiceReason.SUBSCRIPTION_CANCEL,
        currency=subscription.plan.currency,
        period_start=subscription.current_period_start,
        period_end=until,
    )
    in_trial = subscription.trial_end is not None and subscription.current_period_end <= subscription.trial_end
    if not in_trial:
        _usage_lines(draft, plan=subscription.plan, start=subscription.current_period_start, end=until)
    _pending_lines(draft, subscription)
    return draft


def plan_change_invoice(subscription: Subscription, *, old_plan: Plan, new_plan: Plan, switch_at: datetime) -> Draft:
    """A switch of plans inside the current period, prorated by the second."""
    draft = Draft(
        organization_id=subscription.organization_id,
        subscription=subscription,
        reason=InvoiceReason.SUBSCRIPTION_UPDATE,
        currency=new_plan.currency,
        period_start=switch_at,
        period_end=subscription.current_period_end,
    )
    draft.lines += rating.proration_lines(
        old_plan_name=old_plan.name,
        old_price_cents=old_plan.price_cents,
        new_plan_name=new_plan.name,
        new_price_cents=new_plan.price_cents,
        period_start=subscription.current_period_start,
        period_end=subscription.current_period_end,
        switch_at=switch_at,
    )
    return draft


@transaction.atomic
def save_draft(draft: Draft) -> Invoice:
    """Store a draft invoice with its lines; pending lines it took are marked as invoiced."""
    invoice = Invoice.objects.create(
        organization_id=draft.organization_id,
        subscription=draft.subscription,
        reason=draft.reason,
        currency=draft.currency,
        period_start=draft.period_start,
        period_end=draft.period_end,
        status=InvoiceStatus.DRAFT,
        subtotal_cents=draft.subtotal_cents,
        total_cents=draft.subtotal_cents,
    )
    InvoiceLine.objects.bulk_create(
        [
            InvoiceLine(
                invoice=invoice,
                kind=line.kind,
                description=line.description[:300],
                metric_id=draft.metric_ids.get(line.metric_code) if line.metric_code else None,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount_cents=line.amount_cents,
                period_start=line.period_start,
                period_end=line.period_end,
                position=position,
            )
            for position, line in enumerate(draft.lines)
        ]
    )
    if draft.pending_item_ids:
        PendingLineItem.objects.filter(pk__in=draft.pending_item_ids, invoice__isnull=True).update(invoice=invoice)
    return invoice
