"""Building invoices: what a subscription period owes, gathered from the database and
priced by the pure rating engine (invoices.rating).

One builder serves the real invoice and the preview (`GET /invoices/upcoming`): the
preview is the same draft, never stored, so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max, Sum

from billing_project.db import bulk_update_rows
from billing_project.periods import start_of_day
from plans.models import Plan, PlanCharge
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
    plan: Plan | None = None  # whose charges rate the usage
    pending_item_ids: list[int] = field(default_factory=list)

    @property
    def subtotal_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)


def usage_charges(plan: Plan, *, months: int) -> tuple[list[rating.Charge], dict[str, object]]:
    """The plan's usage charges for a period of `months` months (included quantities are
    monthly), and the metric ids by code."""
    return _usage_charges(plan.pk, months)


def _usage_charges(plan_id, months: int) -> tuple[list[rating.Charge], dict[str, object]]:
    charges = []
    metric_ids = {}
    charges_of_plan = PlanCharge.objects.filter(plan_id=plan_id, metric__is_active=True)
    for charge in charges_of_plan.select_related("metric").order_by("metric__code"):
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


def _usage_window_days(start: datetime, end: datetime):
    """The rollup days of [start, end): a window ending during a day (a preview now, a
    cancellation) includes that day's usage so far."""
    last_day = end.date() if end == start_of_day(end) else end.date() + timedelta(days=1)
    return start.date(), last_day


def _usage_lines(draft: Draft, *, plan: Plan, start: datetime, end: datetime) -> None:
    draft.plan = plan
    charges, metric_ids = usage_charges(plan, months=months_of(plan))
    if not charges:
        return
    first_day, last_day = _usage_window_days(start, end)
    used = usage_totals(
        organization_id=draft.organization_id, start=first_day, end=last_day, metric_codes=list(metric_ids)
    )
    draft.lines += rating.rate_usage(charges, used, start, end)
    draft.metric_ids.update(metric_ids)


def pending_items_of(subscriptions) -> dict:
    """Subscription id -> its pending line items, for many subscriptions in one query."""
    items: dict = {}
    for item in PendingLineItem.objects.filter(subscription__in=list(subscriptions), invoice__isnull=True).order_by(
        "id"
    ):
        items.setdefault(item.subscription_id, []).append(item)
    return items


def _pending_lines(draft: Draft, subscription: Subscription, items=None) -> None:
    if items is None:
        items = PendingLineItem.objects.filter(subscription=subscription, invoice__isnull=True).order_by("id")
    for item in items:
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


def period_invoice(
    subscription: Subscription, *, usage_until: datetime | None = None, with_usage: bool = True, pending_items=None
) -> Draft:
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
        if with_usage:
            _usage_lines(draft, plan=subscription.plan, start=start, end=min(usage_until or end, end))
        else:  # usage is rated when the draft is finalized, after the grace window
            draft.plan = subscription.plan
    _pending_lines(draft, subscription, pending_items)
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


def _store_lines(invoice: Invoice, draft: Draft, *, first_position: int) -> None:
    InvoiceLine.objects.bulk_create(_line_rows(invoice, draft, first_position=first_position))


def _line_rows(invoice: Invoice, draft: Draft, *, first_position: int) -> list[InvoiceLine]:
    return [
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
            position=first_position + index,
        )
        for index, line in enumerate(draft.lines)
    ]


@transaction.atomic
def save_drafts(drafts: list[Draft]) -> list[Invoice]:
    """Store many drafts with their lines in three queries (the billing cycle)."""
    invoices = [
        Invoice(
            organization_id=draft.organization_id,
            subscription=draft.subscription,
            plan=draft.plan,
            reason=draft.reason,
            currency=draft.currency,
            period_start=draft.period_start,
            period_end=draft.period_end,
            status=InvoiceStatus.DRAFT,
            subtotal_cents=draft.subtotal_cents,
            total_cents=draft.subtotal_cents,
        )
        for draft in drafts
    ]
    Invoice.objects.bulk_create(invoices)
    lines = []
    pending: dict = {}
    for invoice, draft in zip(invoices, drafts, strict=True):
        lines += _line_rows(invoice, draft, first_position=0)
        for item_id in draft.pending_item_ids:
            pending[item_id] = invoice
    InvoiceLine.objects.bulk_create(lines)
    for item_id, invoice in pending.items():
        PendingLineItem.objects.filter(pk=item_id, invoice__isnull=True).update(invoice=invoice)
    return invoices


@transaction.atomic
def save_draft(draft: Draft) -> Invoice:
    """Store a draft invoice with its lines; pending lines it took are marked as invoiced."""
    invoice = Invoice.objects.create(
        organization_id=draft.organization_id,
        subscription=draft.subscription,
        plan=draft.plan,
        reason=draft.reason,
        currency=draft.currency,
        period_start=draft.period_start,
        period_end=draft.period_end,
        status=InvoiceStatus.DRAFT,
        subtotal_cents=draft.subtotal_cents,
        total_cents=draft.subtotal_cents,
    )
    _store_lines(invoice, draft, first_position=0)
    if draft.pending_item_ids:
        PendingLineItem.objects.filter(pk__in=draft.pending_item_ids, invoice__isnull=True).update(invoice=invoice)
    return invoice


@transaction.atomic
def usage_lines_refresh(invoice: Invoice) -> Invoice:
    """Rate a draft's period usage again from the rollups (late events included) and put
    the usage lines after its other lines; the subtotal follows."""
    usage_lines_refresh_many([invoice])
    return invoice


@transaction.atomic
def usage_lines_refresh_many(invoices: list[Invoice]) -> None:
    """`usage_lines_refresh` for many drafts: one usage query per plan and period, the
    lines replaced in bulk (the billing cycle finalizes thousands at once)."""
    from usage.selectors import usage_totals_many

    drafts = [
        invoice
        for invoice in invoices
        if invoice.status == InvoiceStatus.DRAFT and invoice.plan_id is not None and invoice.period_start is not None
    ]
    if not drafts:
        return
    InvoiceLine.objects.filter(invoice__in=drafts, kind="usage").delete()
    kept = {
        row["invoice_id"]: row
        for row in InvoiceLine.objects.filter(invoice__in=drafts)
        .values("invoice_id")
        .annotate(total=Sum("amount_cents"), last=Max("position"))
    }
    groups: dict = {}
    for invoice in drafts:
        groups.setdefault((invoice.plan_id, invoice.period_start, invoice.period_end), []).append(invoice)
    rows: list[InvoiceLine] = []
    for (plan_id, start, end), members in groups.items():
        months = 12 if members[0].plan.interval == "year" else 1
        charges, metric_ids = _usage_charges(plan_id, months)
        used_by_org = {}
        if charges:
            first_day, last_day = _usage_window_days(start, end)
            used_by_org = usage_totals_many(
                organization_ids=[invoice.organization_id for invoice in members],
                start=first_day,
                end=last_day,
                metric_codes=list(metric_ids),
            )
        for invoice in members:
            draft = Draft(
                organization_id=invoice.organization_id,
                subscription=None,
                reason=invoice.reason,
                currency=invoice.currency,
                period_start=start,
                period_end=end,
                metric_ids=metric_ids,
            )
            if charges:
                draft.lines = rating.rate_usage(charges, used_by_org[str(invoice.organization_id)], start, end)
            before = kept.get(invoice.pk, {})
            rows += _line_rows(invoice, draft, first_position=(before.get("last") or 0) + 1)
            invoice.subtotal_cents = (before.get("total") or 0) + draft.subtotal_cents
            invoice.total_cents = invoice.subtotal_cents
    InvoiceLine.objects.bulk_create(rows)
    bulk_update_rows(drafts, ["subtotal_cents", "total_cents"])
