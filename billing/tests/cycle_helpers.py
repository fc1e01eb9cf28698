"""Helpers for the billing-cycle tests: the cycle run at a moment, expected amounts
computed from the plan's charges (not with the rating engine under test), and snapshots
of what a run writes. The customer who subscribes through checkout and reports usage
with an API key is the shared world's (billing_project.tests.world.Customer)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

from billing.cycle import CycleReport, run_billing_cycle
from credits.models import CreditLedgerEntry
from invoices.models import Invoice, InvoiceReason
from payments.models import Payment
from plans.models import Plan
from subscriptions.models import Subscription, SubscriptionEvent
from webhooks.models import InboundEvent


def grace() -> timedelta:
    return timedelta(seconds=settings.BILLING_GRACE_SECONDS)


def after_grace(period_end: datetime) -> datetime:
    """When the cycle runs for a period: its end, the grace window and a minute."""
    return period_end + grace() + timedelta(minutes=1)


def error_code(response, status: int) -> str:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False, body
    return body["error"]["code"]


# --- money -------------------------------------------------------------------------------


def cents(amount: Decimal) -> int:
    """Half-up to whole cents (computed here, not with the rating engine under test)."""
    return int(Decimal(amount).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def usage_cents(plan: Plan, used: dict[str, int]) -> int:
    """What `used` (metric code -> units) costs on `plan`: per metric, units beyond the
    included quantity at the unit price, each line rounded half-up once."""
    total = 0
    for charge in plan.charges.select_related("metric"):
        units = used.get(charge.metric.code, 0)
        if not units or charge.included_quantity is None:
            continue
        assert charge.pricing_model == "per_unit", f"expected per-unit pricing for {charge.metric.code}"
        billable = max(units - charge.included_quantity, 0)
        if billable:
            total += cents(billable * charge.unit_price)
    return total


def usage_lines(invoice: Invoice) -> dict[str, tuple[int, int]]:
    """Metric code -> (billable quantity, amount) of the invoice's usage lines."""
    return {
        line.metric.code: (int(line.quantity), line.amount_cents)
        for line in invoice.lines.filter(kind="usage").select_related("metric")
    }


def base_fees(invoice: Invoice) -> list[tuple[int, datetime, datetime]]:
    return [(line.amount_cents, line.period_start, line.period_end) for line in invoice.lines.filter(kind="base_fee")]


# --- state snapshots -----------------------------------------------------------------------


def cycle_invoices(subscription: Subscription):
    return Invoice.objects.filter(subscription=subscription, reason=InvoiceReason.SUBSCRIPTION_CYCLE).order_by(
        "period_start"
    )


def world_counts() -> dict[str, object]:
    """Everything a billing-cycle run may write, counted (and invoice states)."""
    return {
        "invoices": Counter(Invoice.objects.values_list("status", flat=True)),
        "numbered": Invoice.objects.exclude(number=None).count(),
        "attempts": sum(Invoice.objects.values_list("attempt_count", flat=True)),
        "payments": Counter(Payment.objects.values_list("status", flat=True)),
        "ledger": CreditLedgerEntry.objects.count(),
        "subscription_events": SubscriptionEvent.objects.count(),
        "subscriptions": Counter(Subscription.objects.values_list("status", flat=True)),
        "inbound_events": InboundEvent.objects.count(),
    }


def cycle(now: datetime, clock) -> CycleReport:
    """Travel to `now` and run the billing cycle for it; a run that reports an error fails."""
    clock.move_to(now, tick=False)
    report = run_billing_cycle(now=now)
    assert report.errors == [], report.errors
    return report
