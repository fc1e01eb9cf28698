"""The money errors of the outside billing audit (issue 12, items 1 to 4 and 7), each with
the audit's input and the amounts it expected, through the public surface: checkout and
plan changes through the API, usage through an API key, the billing cycle at its moments."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.tests.cycle_helpers import after_grace, cycle, cycle_invoices, usage_lines
from billing_project.testing import assert_ok as ok
from billing_project.tests.world import utc
from credits.selectors import balance_of
from invoices.models import CreditNote, Invoice, InvoiceReason
from payments.gateways.sandbox import PM_DECLINE
from payments.models import Payment
from plans.models import BillableMetric, Plan
from plans.tests.factories import PlanChargeFactory, PlanFactory

pytestmark = pytest.mark.django_db

UPCOMING = "/api/v1/invoices/upcoming"


def minutes_plan(code: str, *, price_cents: int, per_minute: str, included: int = 0) -> Plan:
    """A monthly plan billing call minutes per unit beyond `included`."""
    plan = PlanFactory(code=code, name=code.title(), price_cents=price_cents)
    PlanChargeFactory(
        plan=plan,
        metric=BillableMetric.objects.get(code="call_minutes"),
        included_quantity=included,
        unit_price=Decimal(per_minute),
    )
    return plan


def subscribe_at(customer, clock, plan_code: str, moment):
    clock.move_to(moment, tick=False)
    customer.subscribe(plan_code)
    return customer.subscription


def minutes_billed(invoice: Invoice) -> list[tuple[str, int, int]]:
    """(plan name in the description or "", billable minutes, cents) of each usage line."""
    return [
        (
            line.description.split(":")[0] if line.description.count(":") > 1 else "",
            int(line.quantity),
            line.amount_cents,
        )
        for line in invoice.lines.filter(kind="usage").order_by("position")
    ]


# --- 1. usage is rated on the plan it was used under ----------------------------------------


def test_usage_before_an_upgrade_is_billed_at_the_old_plans_price(customer, clock):
    """10,000 call minutes on Apr 10 at $0.05, upgrade Apr 30 to $0.038: $500, not $380."""
    minutes_plan("basic", price_cents=1000, per_minute="5")
    minutes_plan("bulk", price_cents=2000, per_minute="3.8")
    subscription = subscribe_at(customer, clock, "basic", utc(2025, 4, 1))
    clock.move_to(utc(2025, 4, 10, 12), tick=False)
    customer.report_ok("call_minutes", utc(2025, 4, 10, 12), 10_000)

    clock.move_to(utc(2025, 4, 30, 12), tick=False)
    customer.change_plan("bulk", prorate=True)
    cycle(after_grace(utc(2025, 5, 1)), clock)

    april = cycle_invoices(subscription).get(period_start=utc(2025, 4, 1))
    assert usage_lines(april) == {"call_minutes": (10_000, 50_000)}
    assert [(line.period_start, line.period_end) for line in april.lines.filter(kind="usage")] == [
        (utc(2025, 4, 1), utc(2025, 4, 30, 12))
    ]


def test_usage_before_a_last_day_downgrade_is_billed_at_the_old_plans_price(customer, clock):
    minutes_plan("basic", price_cents=1000, per_minute="5")
    minutes_plan("bulk", price_cents=2000, per_minute="3.8")
    subscription = subscribe_at(customer, clock, "bulk", utc(2025, 4, 1))
    clock.move_to(utc(2025, 4, 10, 12), tick=False)
    customer.report_ok("call_minutes", utc(2025, 4, 10, 12), 10_000)

    clock.move_to(utc(2025, 4, 30, 12), tick=False)
    customer.change_plan("basic", prorate=True)
    cycle(after_grace(utc(2025, 5, 1)), clock)

    april = cycle_invoices(subscription).get(period_start=utc(2025, 4, 1))
    assert usage_lines(april) == {"call_minutes": (10_000, 38_000)}


def test_each_segment_is_rated_on_its_plan_with_its_share_of_the_included_minutes(customer, clock):
    """Included minutes are shared by time: 1,000 on basic and 3,000 on bulk, switched at
    exactly half of the 30-day April period: 500 included on basic, 1,500 on bulk."""
    minutes_plan("basic", price_cents=1000, per_minute="5", included=1000)
    minutes_plan("bulk", price_cents=2000, per_minute="3.8", included=3000)
    subscription = subscribe_at(customer, clock, "basic", utc(2025, 4, 1))
    clock.move_to(utc(2025, 4, 10), tick=False)
    customer.report_ok("call_minutes", utc(2025, 4, 10), 2000)
    clock.move_to(utc(2025, 4, 16), tick=False)
    customer.change_plan("bulk", prorate=True)
    clock.move_to(utc(2025, 4, 20), tick=False)
    customer.report_ok("call_minutes", utc(2025, 4, 20), 1600)

    cycle(after_grace(utc(2025, 5, 1)), clock)

    april = cycle_invoices(subscription).get(period_start=utc(2025, 4, 1))
    # basic: 2,000 - 500 = 1,500 at 5c = 7,500; bulk: 1,600 - 1,500 = 100 at 3.8c = 380.
    assert minutes_billed(april) == [("Basic", 1500, 7500), ("Bulk", 100, 380)]
    assert "(after 500 included)" in april.lines.filter(kind="usage").first().description


def test_the_upcoming_invoice_shows_the_plan_segments(customer, clock):
    minutes_plan("basic", price_cents=1000, per_minute="5")
    minutes_plan("bulk", price_cents=2000, per_minute="3.8")
    subscribe_at(customer, clock, "basic", utc(2025, 4, 1))
    clock.move_to(utc(2025, 4, 10, 12), tick=False)
    customer.report_ok("call_minutes", utc(2025, 4, 10, 12), 100)
    clock.move_to(utc(2025, 4, 16), tick=False)
    customer.change_plan("bulk", prorate=True)
    clock.move_to(utc(2025, 4, 20), tick=False)
    customer.report_ok("call_minutes", utc(2025, 4, 19), 10)

    preview = ok(customer.client().get(UPCOMING))

    assert [(s["plan_code"], s["start"], s["end"]) for s in preview["segments"]] == [
        ("basic", "2025-04-01T00:00:00Z", "2025-04-16T00:00:00Z"),
        ("bulk", "2025-04-16T00:00:00Z", "2025-04-20T00:00:00Z"),
    ]
    usage = [(line["metric"], line["amount_cents"]) for line in preview["line_items"] if line["kind"] == "usage"]
    assert usage == [("call_minutes", 500), ("call_minutes", 38)]


def test_a_preview_after_a_plan_change_shares_the_included_minutes_as_the_invoice_will(customer, clock):
    """Mid-period, the preview shares the included minutes over the whole period (the plan in
    force now keeping them to its end), so it shows the usage lines the period's invoice
    gets if no more usage comes: not a larger share for the old plan because the period
    "ended now" (it showed 1,211 and 968 billable minutes here)."""
    minutes_plan("basic", price_cents=1000, per_minute="5", included=1000)
    minutes_plan("bulk", price_cents=2000, per_minute="3.8", included=3000)
    subscription = subscribe_at(customer, clock, "basic", utc(2025, 4, 1))
    clock.move_to(utc(2025, 4, 10), tick=False)
    customer.report_ok("call_minutes", utc(2025, 4, 10), 2000)
    clock.move_to(utc(2025, 4, 16), tick=False)
    customer.change_plan("bulk", prorate=True)
    clock.move_to(utc(2025, 4, 20), tick=False)
    customer.report_ok("call_minutes", utc(2025, 4, 19), 1600)

    preview = ok(customer.client().get(UPCOMING))
    cycle(after_grace(utc(2025, 5, 1)), clock)

    april = cycle_invoices(subscription).get(period_start=utc(2025, 4, 1))
    previewed = [
        (line["description"].split(":")[0], int(Decimal(line["quantity"])), line["amount_cents"])
        for line in preview["line_items"]
        if line["kind"] == "usage"
    ]
    assert previewed == minutes_billed(april) == [("Basic", 1500, 7500), ("Bulk", 100, 380)]


# --- 2. a plan change between a period's end and the cycle's run -----------------------------


def test_an_upgrade_after_the_period_end_before_the_cycle_ran_works(customer, clock):
    """2025-05-01 00:05, the cycle not yet run: the change lands in May (it was a 500)."""
    subscription = subscribe_at(customer, clock, "pro", utc(2025, 4, 1))
    clock.move_to(utc(2025, 5, 1, 0, 5), tick=False)

    data = customer.change_plan("team", prorate=True)

    assert data["subscription"]["plan"]["code"] == "team"
    assert data["subscription"]["current_period_start"] == "2025-05-01T00:00:00Z"
    april = cycle_invoices(subscription).get(period_start=utc(2025, 4, 1))
    assert april.status == "draft"  # closed, waiting for its grace window
    change = Invoice.objects.get(subscription=subscription, reason=InvoiceReason.SUBSCRIPTION_UPDATE)
    # Team for May from 00:05: 9,999 x (31 days - 5 min) / 31 days = 9,997.88 -> 9,998.
    assert [(line.kind, line.amount_cents) for line in change.lines.all()] == [("proration", 9998)]
    cycle(after_grace(utc(2025, 5, 1)), clock)
    april.refresh_from_db()
    # May's Pro fee, billed in advance on April's invoice, came back for all but 5 minutes.
    fees = sorted((line.kind, line.amount_cents) for line in april.lines.all())
    assert fees == [("base_fee", 2999), ("credit", -2999)]


def test_a_cancel_after_the_period_end_before_the_cycle_ran_works(customer, clock):
    subscription = subscribe_at(customer, clock, "pro", utc(2025, 4, 1))
    clock.move_to(utc(2025, 5, 1, 0, 5), tick=False)

    response = customer.client().post("/api/v1/subscriptions/cancel", {"cancel_immediately": True}, format="json")

    assert response.status_code == 200, response.content
    subscription.refresh_from_db()
    assert subscription.status == "canceled"
    assert cycle_invoices(subscription).filter(period_start=utc(2025, 4, 1)).exists()


# --- 3. an immediate cancel in the grace window ------------------------------------------------


def test_cancel_now_in_the_grace_window_does_not_charge_the_new_period(customer, clock):
    """00:15 drafts May's renewal, the customer cancels at 00:30, 01:15 must not charge
    $29.99 for May; April's usage is still billed."""
    subscription = subscribe_at(customer, clock, "pro", utc(2025, 4, 1))
    clock.move_to(utc(2025, 4, 20), tick=False)
    customer.report_ok("call_minutes", utc(2025, 4, 20), 10)
    cycle(utc(2025, 5, 1, 0, 15), clock)
    clock.move_to(utc(2025, 5, 1, 0, 30), tick=False)
    ok(customer.client().post("/api/v1/subscriptions/cancel", {"cancel_immediately": True}, format="json"))

    cycle(utc(2025, 5, 1, 1, 15), clock)

    april = cycle_invoices(subscription).get(period_start=utc(2025, 4, 1))
    assert [(line.kind, line.amount_cents) for line in april.lines.all()] == [("usage", 50)]
    assert april.total_cents == 50
    assert list(Payment.objects.filter(invoice=april).values_list("amount_cents", flat=True)) == [50]


def test_dunning_stops_on_the_open_invoices_of_a_canceled_subscription(customer, clock):
    subscription = subscribe_at(customer, clock, "pro", utc(2025, 4, 1))
    customer.set_payment_method(PM_DECLINE)
    cycle(after_grace(utc(2025, 5, 1)), clock)  # the renewal is declined: attempt 1
    renewal = cycle_invoices(subscription).get(period_start=utc(2025, 4, 1))
    renewal.refresh_from_db()
    assert (renewal.status, renewal.attempt_count) == ("open", 1)
    clock.move_to(utc(2025, 5, 1, 12), tick=False)
    ok(customer.client().post("/api/v1/subscriptions/cancel", {"cancel_immediately": True}, format="json"))

    for day in (2, 4, 6, 9):
        cycle(utc(2025, 5, day, 12), clock)

    renewal.refresh_from_db()
    assert (renewal.status, renewal.attempt_count, renewal.next_payment_attempt) == ("open", 1, None)


# --- 4. purchase moments and half-open usage windows ---------------------------------------


def test_cancel_now_then_resubscribe_the_same_day_bills_the_usage_once(customer, clock):
    """100 minutes at 08:00, cancel at 10:00, a new checkout at 12:00."""
    subscribe_at(customer, clock, "pro", utc(2025, 4, 1))
    clock.move_to(utc(2025, 4, 15, 8), tick=False)
    customer.report_ok("call_minutes", utc(2025, 4, 15, 8), 100)
    clock.move_to(utc(2025, 4, 15, 10), tick=False)
    ok(customer.client().post("/api/v1/subscriptions/cancel", {"cancel_immediately": True}, format="json"))
    final = Invoice.objects.get(reason=InvoiceReason.SUBSCRIPTION_CANCEL)
    assert usage_lines(final) == {"call_minutes": (100, 500)}

    second = subscribe_at(customer, clock, "pro", utc(2025, 4, 15, 12))
    assert (second.current_period_start, second.current_period_end) == (utc(2025, 4, 15, 12), utc(2025, 5, 15, 12))
    cycle(after_grace(utc(2025, 5, 15, 12)), clock)

    renewal = cycle_invoices(second).get()
    assert usage_lines(renewal) == {}


def test_usage_before_the_purchase_is_not_billed(customer, clock):
    """400 free-plan minutes at 03:00, checkout at 15:00, 10 minutes after: 10 billed."""
    clock.move_to(utc(2025, 4, 1, 3), tick=False)
    customer.report_ok("call_minutes", utc(2025, 4, 1, 3), 400)
    subscription = subscribe_at(customer, clock, "pro", utc(2025, 4, 1, 15))
    clock.move_to(utc(2025, 4, 1, 16), tick=False)
    customer.report_ok("call_minutes", utc(2025, 4, 1, 16), 10)

    cycle(after_grace(utc(2025, 5, 1, 15)), clock)

    assert usage_lines(cycle_invoices(subscription).get()) == {"call_minutes": (10, 50)}


# --- 7. credit carries its tax ----------------------------------------------------------------


def test_a_downgrade_credits_the_unused_time_with_its_tax(customer, clock):
    """10% tax, Team ($99.99) downgraded to Pro ($29.99) at half of April: net $104.48 for
    the two months ($107.98 when the credit forgot its tax)."""
    customer.organization.tax_rate = Decimal("10")
    customer.organization.save()
    subscription = subscribe_at(customer, clock, "team", utc(2025, 4, 1))
    first = Invoice.objects.get(subscription=subscription, reason=InvoiceReason.SUBSCRIPTION_CREATE)
    assert (first.subtotal_cents, first.tax_cents, first.total_cents) == (9999, 1000, 10999)

    clock.move_to(utc(2025, 4, 16), tick=False)
    customer.change_plan("pro", prorate=True)
    cycle(after_grace(utc(2025, 5, 1)), clock)

    note = CreditNote.objects.get(invoice=first)
    # Half of Team's 9,999 (4,999.5 -> 5,000) plus its 10% tax.
    assert (note.reason, note.subtotal_cents, note.tax_cents, note.total_cents) == ("plan_change", 5000, 500, 5500)
    assert note.credited_cents == 5500
    change = Invoice.objects.get(subscription=subscription, reason=InvoiceReason.SUBSCRIPTION_UPDATE)
    assert (change.subtotal_cents, change.tax_cents, change.credit_applied_cents, change.total_cents) == (
        1500,
        150,
        1650,
        0,
    )
    may = cycle_invoices(subscription).get(period_start=utc(2025, 4, 1))
    assert (may.subtotal_cents, may.tax_cents, may.credit_applied_cents, may.total_cents) == (2999, 300, 3299, 0)
    cash = sum(
        Payment.objects.filter(organization=customer.organization, status="succeeded").values_list(
            "amount_cents", flat=True
        )
    )
    balance, _currency = balance_of(organization=customer.organization)
    assert (cash, balance) == (10999, 551)
    assert cash - balance == 10448


def test_the_upgrade_invoice_is_paid_net_of_the_unused_time(customer, clock):
    subscription = subscribe_at(customer, clock, "pro", utc(2025, 4, 1))
    clock.move_to(utc(2025, 4, 16), tick=False)

    data = customer.change_plan("team", prorate=True)

    # Pro's unused half (1,499.5 -> 1,500) is credited; Team's half is 4,999.5 -> 5,000.
    note = CreditNote.objects.get(invoice__subscription=subscription)
    assert (note.total_cents, note.credited_cents) == (1500, 1500)
    assert (data["invoice"]["subtotal_cents"], data["invoice"]["credit_applied_cents"]) == (5000, 1500)
    assert data["invoice"]["total_cents"] == 3500
    assert data["invoice"]["status"] == "paid"
    assert balance_of(organization=customer.organization)[0] == 0
