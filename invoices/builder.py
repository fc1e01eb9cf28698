"""Building invoices: what a subscription period owes, gathered from the database and
priced by the pure rating engine (invoices.rating).

One builder serves the real invoice and the preview (`GET /invoices/upcoming`): the
preview is the same draft, never stored, so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from django.db import transaction
from django.db.models import Max, Sum

from billing_project.db import bulk_update_rows
from plans.models import Plan, PlanCharge
from subscriptions.models import Subscription
from subscriptions.selectors import plan_segments
from subscriptions.services import months_of, next_period
from usage.selectors import UsageWindow, usage_in_windows

from . import rating
from .models import Invoice, InvoiceLine, InvoiceReason, InvoiceStatus, LineKind, PendingLineItem


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
    plan: Plan | None = None  # whose charges rate the usage (of the last segment)
    pending_item_ids: list[int] = field(default_factory=list)
    segments: list[tuple] = field(default_factory=list)  # (plan id, start, end) of the rated usage

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


def _segments_of(subscription: Subscription | None, *, plan_id, start: datetime, end: datetime) -> list[tuple]:
    """The plan segments of the usage window [start, end): [(plan id, start, end)].
    A subscription without recorded segments (or no subscription) is on `plan_id`."""
    segments = []
    if subscription is not None:
        segments = plan_segments(windows={subscription.pk: (subscription.pk, start, end)}).get(subscription.pk, [])
    return segments or [(plan_id, start, end)]


def rate_segments(
    *,
    segments: list[tuple],
    used: list[dict[str, int]],
    window_start: datetime,
    window_end: datetime,
    charges_of,
    plan_names: dict,
    shares_until: datetime | None = None,
) -> list[rating.RatedLine]:
    """Usage lines of one window, each segment rated on its own plan's prices. One plan for
    the whole window gets its included quantities whole; several plans share them, each
    its plan's included quantity times its share of the window (rounded half-up).

    `shares_until` (a preview's period end, later than `window_end`) shares the included
    quantities as the period's invoice will: over the whole period, the plan in force now
    keeping its segment to the period end. A preview taken mid-period then shows the usage
    lines that invoice will have if no more usage comes."""
    lines: list[rating.RatedLine] = []
    several = len(segments) > 1
    shares_end = max(shares_until or window_end, window_end)
    last = len(segments) - 1
    for index, ((plan_id, start, end), segment_used) in enumerate(zip(segments, used, strict=True)):
        charges = charges_of(plan_id)
        if several:
            share_end = shares_end if index == last else end
            charges = [
                replace(
                    charge,
                    included=rating.prorate_quantity(
                        charge.included, window_start=window_start, window_end=shares_end, start=start, end=share_end
                    ),
                )
                for charge in charges
            ]
        rated = rating.rate_usage(charges, segment_used, start, end)
        if several:
            name = plan_names[plan_id]
            rated = [replace(line, description=f"{name}: {line.description}") for line in rated]
        lines += rated
    return lines


class _ChargesCache:
    """The usage charges of plans by id, each loaded once per use."""

    def __init__(self) -> None:
        self.charges: dict = {}
        self.metric_ids: dict[str, object] = {}
        self.names: dict = {}

    def load(self, plan_ids) -> None:
        missing = [plan_id for plan_id in set(plan_ids) if plan_id not in self.charges]
        for plan in Plan.objects.filter(pk__in=missing):
            charges, metric_ids = _usage_charges(plan.pk, months_of(plan))
            self.charges[plan.pk] = charges
            self.metric_ids.update(metric_ids)
            self.names[plan.pk] = plan.name

    def __call__(self, plan_id):
        return self.charges[plan_id]


def _usage_lines(
    draft: Draft,
    *,
    subscription: Subscription | None,
    plan: Plan,
    start: datetime,
    end: datetime,
    shares_until: datetime | None = None,
) -> None:
    """Rate the usage of [start, end) into the draft, per plan segment (`shares_until`: see
    rate_segments)."""
    draft.plan = plan
    if not start < end:
        return
    segments = _segments_of(subscription, plan_id=plan.pk, start=start, end=end)
    cache = _ChargesCache()
    cache.load(plan_id for plan_id, _start, _end in segments)
    draft.plan = Plan.objects.get(pk=segments[-1][0]) if segments[-1][0] != plan.pk else plan
    draft.segments = segments
    if not any(cache(plan_id) for plan_id, _start, _end in segments):
        return
    used = usage_in_windows(
        windows=[UsageWindow(draft.organization_id, seg_start, seg_end) for _plan, seg_start, seg_end in segments],
        metric_codes=list(cache.metric_ids),
    )
    draft.lines += rate_segments(
        segments=segments,
        used=used,
        window_start=start,
        window_end=end,
        charges_of=cache,
        plan_names=cache.names,
        shares_until=shares_until,
    )
    draft.metric_ids.update(cache.metric_ids)


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
            _usage_lines(
                draft,
                subscription=subscription,
                plan=subscription.plan,
                start=start,
                end=min(usage_until or end, end),
                shares_until=end,
            )
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
        _usage_lines(
            draft, subscription=subscription, plan=subscription.plan, start=subscription.current_period_start, end=until
        )
    _pending_lines(draft, subscription)
    return draft


def plan_change_invoice(subscription: Subscription, *, new_plan: Plan, switch_at: datetime) -> Draft:
    """A switch of plans inside the current period: the new plan's fee for the rest of the
    period, prorated by the second. (The unused time of what was charged before comes
    back as a credit note, see billing.credit_notes.unused_time_credit.)"""
    draft = Draft(
        organization_id=subscription.organization_id,
        subscription=subscription,
        reason=InvoiceReason.SUBSCRIPTION_UPDATE,
        currency=new_plan.currency,
        period_start=switch_at,
        period_end=subscription.current_period_end,
    )
    line = rating.proration_line(
        plan_name=new_plan.name,
        price_cents=new_plan.price_cents,
        period_start=subscription.current_period_start,
        period_end=subscription.current_period_end,
        switch_at=switch_at,
    )
    if line is not None:
        draft.lines.append(line)
    return draft


def reissue_draft(original: Invoice) -> Draft:
    """The draft that reissues `original`: its lines other than usage as they were, and its
    usage rated again over the same window (per plan segment)."""
    subscription = original.subscription
    draft = Draft(
        organization_id=original.organization_id,
        subscription=subscription,
        reason=original.reason,
        currency=original.currency,
        period_start=original.period_start,
        period_end=original.period_end,
        plan=original.plan,
    )
    usage_window = None
    for line in original.lines.select_related("metric").order_by("position", "id"):
        if line.kind == LineKind.USAGE:
            if usage_window is None:
                usage_window = (line.period_start, line.period_end)
            usage_window = (min(usage_window[0], line.period_start), max(usage_window[1], line.period_end))
            continue
        draft.lines.append(
            rating.RatedLine(
                kind=line.kind,
                description=line.description,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount_cents=line.amount_cents,
                period_start=line.period_start,
                period_end=line.period_end,
            )
        )
    rates_usage = original.reason in (InvoiceReason.SUBSCRIPTION_CYCLE, InvoiceReason.SUBSCRIPTION_CANCEL)
    in_trial = (
        subscription is not None
        and subscription.trial_end is not None
        and original.period_end is not None
        and original.period_end <= subscription.trial_end
    )
    if in_trial:
        usage_window = None
    elif rates_usage and original.plan_id and original.period_start:
        usage_window = (original.period_start, original.period_end)
    if usage_window is not None and original.plan is not None:
        _usage_lines(draft, subscription=subscription, plan=original.plan, start=usage_window[0], end=usage_window[1])
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
    """`usage_lines_refresh` for many drafts in a fixed number of queries (the billing
    cycle finalizes thousands at once): their segments in one query, the usage of every
    segment in one batch, the lines replaced in bulk."""
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
    found = plan_segments(
        windows={
            invoice.pk: (invoice.subscription_id, invoice.period_start, invoice.period_end)
            for invoice in drafts
            if invoice.subscription_id is not None
        }
    )
    segments_of = {
        invoice.pk: found.get(invoice.pk) or [(invoice.plan_id, invoice.period_start, invoice.period_end)]
        for invoice in drafts
    }
    cache = _ChargesCache()
    cache.load(plan_id for segments in segments_of.values() for plan_id, _start, _end in segments)
    rated = [invoice for invoice in drafts if any(cache(plan_id) for plan_id, _s, _e in segments_of[invoice.pk])]
    windows = [
        UsageWindow(invoice.organization_id, start, end)
        for invoice in rated
        for _plan, start, end in segments_of[invoice.pk]
    ]
    used_all = iter(usage_in_windows(windows=windows, metric_codes=list(cache.metric_ids)) if windows else [])
    rows: list[InvoiceLine] = []
    for invoice in drafts:
        segments = segments_of[invoice.pk]
        draft = Draft(
            organization_id=invoice.organization_id,
            subscription=None,
            reason=invoice.reason,
            currency=invoice.currency,
            period_start=invoice.period_start,
            period_end=invoice.period_end,
            metric_ids=cache.metric_ids,
        )
        if invoice in rated:
            used = [next(used_all) for _segment in segments]
            draft.lines = rate_segments(
                segments=segments,
                used=used,
                window_start=invoice.period_start,
                window_end=invoice.period_end,
                charges_of=cache,
                plan_names=cache.names,
            )
        before = kept.get(invoice.pk, {})
        rows += _line_rows(invoice, draft, first_position=(before.get("last") or 0) + 1)
        invoice.subtotal_cents = (before.get("total") or 0) + draft.subtotal_cents
        invoice.total_cents = invoice.subtotal_cents
        invoice.plan_id = segments[-1][0]
    InvoiceLine.objects.bulk_create(rows)
    bulk_update_rows(drafts, ["subtotal_cents", "total_cents", "plan"])
