"""Assertions and small helpers shared by the invoices tests."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from billing_project.testing import assert_error, assert_ok  # noqa: F401 - re-exported
from invoices import rating
from invoices.builder import Draft, save_draft
from invoices.models import Invoice
from plans.models import BillableMetric
from usage.models import DailyUsage

INVOICES = "/api/v1/invoices"
UPCOMING = "/api/v1/invoices/upcoming"
OVERVIEW = "/api/v1/billing/overview"
REPORT = "/api/v1/usage/report"

# The golden telephony period on the demo `pro` plan: 425 call minutes at 5c, 1,150 SMS at
# 1c and 5,900 API calls at 0.1c (none included) = 2,125 + 1,150 + 590 = 3,865 cents of
# usage; with the next period's $29.99 the subtotal is $68.64.
GOLDEN_USAGE = {"call_minutes": 425, "sms": 1150, "api_calls": 5900}
GOLDEN_USAGE_CENTS = 3865
GOLDEN_SUBTOTAL_CENTS = 6864
PRO_PRICE_CENTS = 2999


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def add_usage(organization, metric_code: str, day: date | datetime, amount: int) -> DailyUsage:
    """A daily rollup of `amount` units (events and quantity alike, so it reads the same
    for sum and count metrics)."""
    if isinstance(day, datetime):
        day = day.date()
    row, _ = DailyUsage.objects.get_or_create(
        organization=organization, metric=BillableMetric.objects.get(code=metric_code), day=day
    )
    row.quantity += amount
    row.event_count += amount
    row.max_quantity = max(row.max_quantity, amount)
    row.save()
    return row


def add_golden_usage(organization, day: date | datetime) -> None:
    for code, amount in GOLDEN_USAGE.items():
        add_usage(organization, code, day, amount)


def lines_of(draft_or_invoice) -> list[tuple]:
    """(kind, amount_cents) of each line of a Draft or a stored Invoice, in order."""
    lines = draft_or_invoice.lines
    if hasattr(lines, "all"):
        lines = lines.all()
    return [(line.kind, line.amount_cents) for line in lines]


def manual_draft(organization, *amounts: int, currency: str = "USD") -> Invoice:
    """A stored draft with one line per amount: charges as adjustments, negatives as credits."""
    draft = Draft(
        organization_id=organization.pk,
        subscription=None,
        reason="manual",
        currency=currency,
        period_start=None,
        period_end=None,
    )
    for amount in amounts:
        kind = rating.CREDIT if amount < 0 else rating.ADJUSTMENT
        draft.lines.append(
            rating.RatedLine(
                kind=kind,
                description=f"{kind} of {amount}",
                quantity=Decimal(1),
                unit_price=Decimal(amount),
                amount_cents=amount,
            )
        )
    return save_draft(draft)
