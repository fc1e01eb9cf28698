"""Assertions and small helpers shared by the invoices tests."""

from __future__ import annotations

from datetime import date, datetime

from billing_project.testing import assert_error, assert_ok  # noqa: F401 - re-exported
from billing_project.tests.world import PRO_PRICE_CENTS, iso, utc  # noqa: F401 - re-exported
from invoices.tests.factories import manual_draft  # noqa: F401 - re-exported
from usage.tests.factories import add_rollup as add_usage

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


def add_golden_usage(organization, day: date | datetime) -> None:
    for code, amount in GOLDEN_USAGE.items():
        add_usage(organization, code, day, amount)


def lines_of(draft_or_invoice) -> list[tuple]:
    """(kind, amount_cents) of each line of a Draft or a stored Invoice, in order."""
    lines = draft_or_invoice.lines
    if hasattr(lines, "all"):
        lines = lines.all()
    return [(line.kind, line.amount_cents) for line in lines]
