"""invoices.builder: what a subscription period owes. The period invoice holds the next
period's base fee in advance, the ended period's usage in arrears (from the daily rollups)
and the pending lines; across month ends, leap years, yearly plans, trials, plan changes
and cancellations."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command

from billing_project.tests.world import subscribe
from invoices.builder import first_invoice, period_invoice, save_draft
from invoices.models import Invoice, InvoiceStatus, PendingLineItem
from invoices.services import invoice_for_period_end
from invoices.tests.factories import PendingLineItemFactory
from plans.models import BillableMetric, Plan
from plans.tests.factories import PlanChargeFactory, PlanFactory
from subscriptions.services import next_period
from usage.testing import record_usage

from .helpers import (
    GOLDEN_SUBTOTAL_CENTS,
    GOLDEN_USAGE_CENTS,
    PRO_PRICE_CENTS,
    add_golden_usage,
    add_usage,
    lines_of,
    utc,
)

pytestmark = pytest.mark.django_db


def advance(subscription):
    """Roll the subscription into its next period."""
    subscription.current_period_start, subscription.current_period_end = next_period(subscription)
    subscription.save(update_fields=["current_period_start", "current_period_end"])
    return subscription


def usage_by_metric(draft) -> dict[str, int]:
    return {line.metric_code: line.amount_cents for line in draft.lines if line.kind == "usage"}


def base_fees(draft) -> list[tuple]:
    return [
        (line.description, line.amount_cents, line.period_start, line.period_end)
        for line in draft.lines
        if line.kind == "base_fee"
    ]


def pending(subscription, kind: str, amount_cents: int, description: str = "") -> PendingLineItem:
    return PendingLineItemFactory(
        subscription=subscription,
        kind=kind,
        amount_cents=amount_cents,
        description=description or f"{kind} {amount_cents}",
    )


# --- the first invoice -------------------------------------------------------------------


def test_the_first_invoice_is_the_base_fee_of_the_first_period(org, pro):
    subscription = subscribe(org, pro, utc(2026, 3, 10))

    draft = first_invoice(subscription)

    assert draft.reason == "subscription_create"
    assert (draft.period_start, draft.period_end) == (utc(2026, 3, 10), utc(2026, 4, 10))
    assert base_fees(draft) == [
        ("Pro plan, monthly (2026-03-10 to 2026-04-10)", PRO_PRICE_CENTS, utc(2026, 3, 10), utc(2026, 4, 10))
    ]
    assert draft.subtotal_cents == PRO_PRICE_CENTS


def test_the_first_invoice_ignores_usage_already_reported(org, pro):
    subscription = subscribe(org, pro, utc(2026, 3, 10))
    add_golden_usage(org, date(2026, 3, 10))

    assert lines_of(first_invoice(subscription)) == [("base_fee", PRO_PRICE_CENTS)]


def test_the_first_invoice_of_a_free_plan_has_no_lines(org, demo):
    subscription = subscribe(org, PlanFactory(price_cents=0), utc(2026, 3, 10))

    draft = first_invoice(subscription)

    assert draft.lines == []
    assert draft.subtotal_cents == 0


def test_the_first_invoice_of_a_yearly_plan_is_a_years_fee(org, demo):
    yearly = PlanFactory(name="Annual", price_cents=29_900, interval="year")
    subscription = subscribe(org, yearly, utc(2026, 3, 10))

    assert base_fees(first_invoice(subscription)) == [
        ("Annual plan, yearly (2026-03-10 to 2027-03-10)", 29_900, utc(2026, 3, 10), utc(2027, 3, 10))
    ]


# --- the period invoice ------------------------------------------------------------------


def test_the_period_invoice_bills_the_next_period_in_advance(org, pro):
    subscription = subscribe(org, pro, utc(2026, 3, 1))

    draft = period_invoice(subscription)

    assert draft.reason == "subscription_cycle"
    assert (draft.period_start, draft.period_end) == (utc(2026, 3, 1), utc(2026, 4, 1))
    assert base_fees(draft) == [
        ("Pro plan, monthly (2026-04-01 to 2026-05-01)", PRO_PRICE_CENTS, utc(2026, 4, 1), utc(2026, 5, 1))
    ]


def test_the_period_invoice_bills_the_ended_periods_usage_in_arrears(org, pro):
    subscription = subscribe(org, pro, utc(2026, 3, 1))
    add_usage(org, "call_minutes", date(2026, 3, 2), 400)
    add_usage(org, "call_minutes", date(2026, 3, 20), 25)
    add_usage(org, "sms", date(2026, 3, 15), 1150)

    draft = period_invoice(subscription)

    usage = [line for line in draft.lines if line.kind == "usage"]
    assert [(line.metric_code, line.quantity, line.unit_price, line.amount_cents) for line in usage] == [
        ("call_minutes", Decimal(425), Decimal(5), 2125),
        ("sms", Decimal(1150), Decimal(1), 1150),
    ]
    assert {(line.period_start, line.period_end) for line in usage} == {(utc(2026, 3, 1), utc(2026, 4, 1))}


def test_usage_outside_the_period_is_not_billed(org, pro):
    subscription = subscribe(org, pro, utc(2026, 3, 1))
    add_usage(org, "call_minutes", date(2026, 2, 28), 1000)  # the day before
    add_usage(org, "call_minutes", date(2026, 3, 1), 1)  # the first day
    add_usage(org, "call_minutes", date(2026, 3, 31), 2)  # the last day
    add_usage(org, "call_minutes", date(2026, 4, 1), 1000)  # the next period's first day

    assert usage_by_metric(period_invoice(subscription)) == {"call_minutes": 3 * 5}


def test_usage_of_other_organizations_is_not_billed(org, pro):
    from organizations.tests.factories import OrganizationFactory

    subscription = subscribe(org, pro, utc(2026, 3, 1))
    add_usage(OrganizationFactory(), "call_minutes", date(2026, 3, 5), 1000)

    assert usage_by_metric(period_invoice(subscription)) == {}


def test_usage_within_the_included_quantity_adds_no_line(org, pro):
    subscription = subscribe(org, pro, utc(2026, 3, 1))
    add_usage(org, "tokens", date(2026, 3, 5), 1_000_000)  # exactly the included million
    add_usage(org, "requests", date(2026, 3, 5), 50_000)

    assert lines_of(period_invoice(subscription)) == [("base_fee", PRO_PRICE_CENTS)]


def test_usage_beyond_the_included_quantity_is_billed_by_the_pricing_model(org, pro):
    subscription = subscribe(org, pro, utc(2026, 3, 1))
    add_usage(org, "tokens", date(2026, 3, 5), 1_150_000)  # 150,000 over: two started packages of 100,000 at $2
    add_usage(org, "requests", date(2026, 3, 5), 50_005)  # 5 over at 0.1c: 0.5c, half-up to 1c

    assert usage_by_metric(period_invoice(subscription)) == {"tokens": 400, "requests": 1}


def test_pending_lines_are_added_after_the_usage(org, pro):
    subscription = subscribe(org, pro, utc(2026, 3, 1))
    add_usage(org, "sms", date(2026, 3, 5), 10)
    pending(subscription, "adjustment", 500, "Setup fee")
    pending(subscription, "credit", -300, "Goodwill credit")

    draft = period_invoice(subscription)

    assert lines_of(draft) == [("base_fee", PRO_PRICE_CENTS), ("usage", 10), ("adjustment", 500), ("credit", -300)]
    assert draft.subtotal_cents == PRO_PRICE_CENTS + 10 + 500 - 300


def test_saving_the_draft_takes_the_pending_lines_once(org, pro):
    subscription = subscribe(org, pro, utc(2026, 3, 1))
    item = pending(subscription, "adjustment", 500)

    invoice = save_draft(period_invoice(subscription))

    item.refresh_from_db()
    assert item.invoice == invoice
    assert lines_of(invoice) == [("base_fee", PRO_PRICE_CENTS), ("adjustment", 500)]
    assert lines_of(period_invoice(advance(subscription))) == [("base_fee", PRO_PRICE_CENTS)]


def test_pending_lines_of_another_subscription_are_not_taken(org, pro):
    from organizations.tests.factories import OrganizationFactory

    subscription = subscribe(org, pro, utc(2026, 3, 1))
    other = subscribe(OrganizationFactory(), pro, utc(2026, 3, 1))
    pending(other, "adjustment", 500)

    assert lines_of(period_invoice(subscription)) == [("base_fee", PRO_PRICE_CENTS)]


def test_a_saved_draft_matches_the_draft(org, pro):
    subscription = subscribe(org, pro, utc(2026, 3, 1))
    add_golden_usage(org, date(2026, 3, 9))
    draft = period_invoice(subscription)

    invoice = save_draft(draft)

    assert invoice.status == InvoiceStatus.DRAFT
    assert invoice.number is None
    assert invoice.subtotal_cents == invoice.total_cents == draft.subtotal_cents
    assert lines_of(invoice) == lines_of(draft)
    metrics = [line.metric.code if line.metric else None for line in invoice.lines.all()]
    assert metrics == [None, "api_calls", "call_minutes", "sms"]


# --- month ends and leap years ------------------------------------------------------------


def test_a_jan_31_period_ends_on_feb_28_and_bills_until_then(org, pro):
    subscription = subscribe(org, pro, utc(2026, 1, 31))
    add_usage(org, "call_minutes", date(2026, 1, 31), 1)
    add_usage(org, "call_minutes", date(2026, 2, 27), 2)
    add_usage(org, "call_minutes", date(2026, 2, 28), 1000)  # already the next period

    draft = period_invoice(subscription)

    assert (draft.period_start, draft.period_end) == (utc(2026, 1, 31), utc(2026, 2, 28))
    assert usage_by_metric(draft) == {"call_minutes": 3 * 5}
    assert base_fees(draft)[0][2:] == (utc(2026, 2, 28), utc(2026, 3, 31))


def test_the_period_after_feb_28_runs_to_mar_31(org, pro):
    subscription = advance(subscribe(org, pro, utc(2026, 1, 31)))
    add_usage(org, "call_minutes", date(2026, 2, 28), 4)
    add_usage(org, "call_minutes", date(2026, 3, 30), 6)
    add_usage(org, "call_minutes", date(2026, 3, 31), 1000)

    draft = period_invoice(subscription)

    assert (draft.period_start, draft.period_end) == (utc(2026, 2, 28), utc(2026, 3, 31))
    assert usage_by_metric(draft) == {"call_minutes": 10 * 5}
    assert base_fees(draft)[0][2:] == (utc(2026, 3, 31), utc(2026, 4, 30))


def test_in_a_leap_year_the_jan_31_period_ends_on_feb_29(org, pro):
    subscription = subscribe(org, pro, utc(2028, 1, 31))
    add_usage(org, "call_minutes", date(2028, 2, 28), 7)
    add_usage(org, "call_minutes", date(2028, 2, 29), 1000)  # the next period's first day

    draft = period_invoice(subscription)

    assert draft.period_end == utc(2028, 2, 29)
    assert usage_by_metric(draft) == {"call_minutes": 7 * 5}
    assert base_fees(draft)[0] == (
        "Pro plan, monthly (2028-02-29 to 2028-03-31)",
        PRO_PRICE_CENTS,
        utc(2028, 2, 29),
        utc(2028, 3, 31),
    )


def test_the_leap_day_is_billed_in_the_period_that_contains_it(org, pro):
    subscription = advance(subscribe(org, pro, utc(2028, 1, 31)))
    add_usage(org, "call_minutes", date(2028, 2, 29), 9)

    assert usage_by_metric(period_invoice(subscription)) == {"call_minutes": 9 * 5}


# --- yearly plans --------------------------------------------------------------------------


@pytest.fixture
def yearly(demo) -> Plan:
    """$300 a year; 100 call minutes a month included (1,200 a year), then 5c."""
    plan = PlanFactory(code="pro_yearly", name="Pro yearly", price_cents=30_000, interval="year")
    PlanChargeFactory(
        plan=plan, metric=BillableMetric.objects.get(code="call_minutes"), included_quantity=100, unit_price=5
    )
    return plan


def test_a_yearly_plan_bills_the_next_years_fee(org, yearly):
    subscription = subscribe(org, yearly, utc(2026, 3, 1))

    draft = period_invoice(subscription)

    assert (draft.period_start, draft.period_end) == (utc(2026, 3, 1), utc(2027, 3, 1))
    assert base_fees(draft) == [
        ("Pro yearly plan, yearly (2027-03-01 to 2028-03-01)", 30_000, utc(2027, 3, 1), utc(2028, 3, 1))
    ]


def test_a_yearly_plan_includes_twelve_months_of_usage(org, yearly):
    subscription = subscribe(org, yearly, utc(2026, 3, 1))
    add_usage(org, "call_minutes", date(2026, 3, 1), 1000)
    add_usage(org, "call_minutes", date(2027, 2, 28), 200)  # 1,200 in all: exactly what is included

    assert usage_by_metric(period_invoice(subscription)) == {}


def test_a_yearly_plan_bills_usage_beyond_twelve_months_of_inclusion(org, yearly):
    subscription = subscribe(org, yearly, utc(2026, 3, 1))
    add_usage(org, "call_minutes", date(2026, 3, 1), 1000)
    add_usage(org, "call_minutes", date(2027, 2, 28), 500)

    draft = period_invoice(subscription)

    (line,) = [line for line in draft.lines if line.kind == "usage"]
    assert (line.quantity, line.amount_cents) == (Decimal(300), 300 * 5)
    assert "after 1,200 included" in line.description


# --- trials --------------------------------------------------------------------------------


def test_the_trial_period_invoice_has_no_usage_and_bills_the_first_paid_period(org, pro):
    subscription = subscribe(org, pro, utc(2026, 3, 1), trial_days=14)
    add_golden_usage(org, date(2026, 3, 5))

    draft = period_invoice(subscription)

    assert (draft.period_start, draft.period_end) == (utc(2026, 3, 1), utc(2026, 3, 15))
    assert lines_of(draft) == [("base_fee", PRO_PRICE_CENTS)]
    assert base_fees(draft)[0][2:] == (utc(2026, 3, 15), utc(2026, 4, 15))


def test_the_trial_of_the_plan_applies_by_default(org, pro):
    pro.trial_days = 14
    pro.save()
    subscription = subscribe(org, pro, utc(2026, 3, 1), trial_days=None)

    assert subscription.status == "trialing"
    assert base_fees(period_invoice(subscription))[0][2:] == (utc(2026, 3, 15), utc(2026, 4, 15))


def test_the_first_paid_period_after_a_trial_bills_its_usage(org, pro):
    subscription = advance(subscribe(org, pro, utc(2026, 3, 1), trial_days=14))
    add_usage(org, "call_minutes", date(2026, 3, 14), 1000)  # still in the trial
    add_usage(org, "call_minutes", date(2026, 3, 15), 10)

    draft = period_invoice(subscription)

    assert (draft.period_start, draft.period_end) == (utc(2026, 3, 15), utc(2026, 4, 15))
    assert usage_by_metric(draft) == {"call_minutes": 10 * 5}
    assert base_fees(draft)[0][2:] == (utc(2026, 4, 15), utc(2026, 5, 15))


# --- plan changes and cancellation ---------------------------------------------------------


def test_a_scheduled_plan_change_bills_the_new_plans_fee_for_the_next_period(org, pro, team_plan):
    subscription = subscribe(org, pro, utc(2026, 3, 1))
    subscription.scheduled_plan = team_plan
    subscription.save()

    draft = period_invoice(subscription)

    assert base_fees(draft) == [
        ("Team plan, monthly (2026-04-01 to 2026-05-01)", 9999, utc(2026, 4, 1), utc(2026, 5, 1))
    ]


def test_a_scheduled_plan_change_rates_the_ended_periods_usage_on_the_current_plan(org, pro, team_plan):
    subscription = subscribe(org, pro, utc(2026, 3, 1))
    subscription.scheduled_plan = team_plan
    subscription.save()
    add_usage(org, "call_minutes", date(2026, 3, 5), 425)  # the Team plan would include 500

    assert usage_by_metric(period_invoice(subscription)) == {"call_minutes": 425 * 5}


def test_a_switch_to_a_yearly_plan_bills_a_year_from_the_period_end(org, pro, yearly):
    subscription = subscribe(org, pro, utc(2026, 3, 1))
    subscription.scheduled_plan = yearly
    subscription.save()

    assert base_fees(period_invoice(subscription)) == [
        ("Pro yearly plan, yearly (2026-04-01 to 2027-04-01)", 30_000, utc(2026, 4, 1), utc(2027, 4, 1))
    ]


def test_a_subscription_canceling_at_period_end_gets_no_base_fee(org, pro):
    subscription = subscribe(org, pro, utc(2026, 3, 1))
    subscription.cancel_at_period_end = True
    subscription.save()
    add_usage(org, "sms", date(2026, 3, 5), 40)

    assert lines_of(period_invoice(subscription)) == [("usage", 40)]


def test_canceling_at_period_end_wins_over_a_scheduled_plan_change(org, pro, team_plan):
    subscription = subscribe(org, pro, utc(2026, 3, 1))
    subscription.scheduled_plan = team_plan
    subscription.cancel_at_period_end = True
    subscription.save()

    assert lines_of(period_invoice(subscription)) == []


# --- usage so far (the preview) ------------------------------------------------------------


def test_usage_until_bills_the_days_so_far_including_today(org, pro):
    subscription = subscribe(org, pro, utc(2026, 3, 1))
    add_usage(org, "sms", date(2026, 3, 9), 3)
    record_usage(org, "sms", utc(2026, 3, 10, 9), 4)  # today, so far
    record_usage(org, "sms", utc(2026, 3, 10, 16), 50)  # today, after the moment asked about
    add_usage(org, "sms", date(2026, 3, 11), 1000)  # dated in the future: not yet

    draft = period_invoice(subscription, usage_until=utc(2026, 3, 10, 15, 30))

    assert usage_by_metric(draft) == {"sms": 7}


def test_usage_until_after_the_period_end_stops_at_the_period_end(org, pro):
    subscription = subscribe(org, pro, utc(2026, 3, 1))
    add_usage(org, "sms", date(2026, 3, 31), 3)
    add_usage(org, "sms", date(2026, 4, 1), 1000)

    draft = period_invoice(subscription, usage_until=utc(2026, 4, 2, 12))

    assert usage_by_metric(draft) == {"sms": 3}


# --- the golden invoice ------------------------------------------------------------------


def test_the_golden_telephony_invoice(org):
    call_command("seed_demo", "--i-know", stdout=io.StringIO())  # DEBUG is off in tests
    pro = Plan.objects.get(code="pro")
    subscription = subscribe(org, pro, utc(2026, 10, 1))
    add_usage(org, "call_minutes", date(2026, 10, 3), 400)
    add_usage(org, "call_minutes", date(2026, 10, 31), 25)
    add_usage(org, "sms", date(2026, 10, 15), 1150)
    add_usage(org, "api_calls", date(2026, 10, 1), 5000)
    add_usage(org, "api_calls", date(2026, 10, 20), 900)

    invoice = invoice_for_period_end(subscription=subscription, finalize=False)

    assert [(line.kind, line.description, line.amount_cents) for line in invoice.lines.all()] == [
        ("base_fee", "Pro plan, monthly (2026-11-01 to 2026-12-01)", 2999),
        ("usage", "Telephony API calls: 5,900 calls", 590),
        ("usage", "Call minutes: 425 minutes", 2125),
        ("usage", "SMS messages: 1,150 messages", 1150),
    ]
    usage = sum(line.amount_cents for line in invoice.lines.all() if line.kind == "usage")
    assert usage == GOLDEN_USAGE_CENTS == 3865
    assert invoice.subtotal_cents == GOLDEN_SUBTOTAL_CENTS == 6864
    assert Invoice.objects.filter(subscription=subscription).count() == 1
