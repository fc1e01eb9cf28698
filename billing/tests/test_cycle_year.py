"""The billing cycle over time: one subscription travelled through a year of renewals
(month ends and a leap year), plan changes, cancellation, a trial, dunning, credits,
late usage and repeated runs. Each step travels the clock (time_machine) to its moment
and runs `run_billing_cycle(now=...)` for it; usage goes through the real API with an
API key (bulk counts straight into the daily rollups)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from django.core import mail

from billing.tests.cycle_helpers import (
    after_grace,
    base_fees,
    cents,
    cycle,
    cycle_invoices,
    error_code,
    usage_cents,
    usage_lines,
    world_counts,
)
from billing_project.tests.world import customer_create, plans_trial_days, utc
from credits.models import CreditBalance, CreditLedgerEntry
from credits.services import credits_grant
from invoices import rating
from invoices.models import CreditNote, Invoice, InvoiceReason
from payments.gateways.sandbox import PM_DECLINE, PM_OK
from plans.models import Plan
from subscriptions.models import SubscriptionEvent
from usage.tests.factories import add_rollup

pytestmark = pytest.mark.django_db

PRO, TEAM = 2999, 9999

# Renewal dates, written out: anchored on Jan 31, each boundary is counted from the
# anchor (clamped to the month's end), never from the previous boundary.
CALENDAR_2026 = [
    utc(2026, 1, 31), utc(2026, 2, 28), utc(2026, 3, 31), utc(2026, 4, 30), utc(2026, 5, 31),
    utc(2026, 6, 30), utc(2026, 7, 31), utc(2026, 8, 31), utc(2026, 9, 30), utc(2026, 10, 31),
    utc(2026, 11, 30), utc(2026, 12, 31), utc(2027, 1, 31), utc(2027, 2, 28),
]  # fmt: skip
CALENDAR_2028 = [
    utc(2028, 1, 31), utc(2028, 2, 29), utc(2028, 3, 31), utc(2028, 4, 30), utc(2028, 5, 31),
    utc(2028, 6, 30), utc(2028, 7, 31), utc(2028, 8, 31), utc(2028, 9, 30), utc(2028, 10, 31),
    utc(2028, 11, 30), utc(2028, 12, 31), utc(2029, 1, 31), utc(2029, 2, 28),
]  # fmt: skip


def subscribe(customer, clock, plan_code: str, start):
    """Check out `plan_code` at the moment `start` (paid on the sandbox page, or a trial):
    periods start at the moment of purchase."""
    clock.move_to(start, tick=False)
    customer.subscribe(plan_code)
    return customer.subscription


def use_telephony(customer, clock, start, end, k: int = 0) -> dict[str, int]:
    """Usage inside the period [start, end): events through the API at its first and last
    second, bulk SMS and API-call counts in a rollup. Returns the units per metric."""
    clock.move_to(start + timedelta(hours=10), tick=False)
    customer.report_ok("call_minutes", start, 10 + k)
    customer.report_ok("sms", start)
    day = (start + timedelta(days=10)).date()
    add_rollup(customer.organization, "sms", day, 1000 + 37 * k)
    add_rollup(customer.organization, "api_calls", day, 5004 + 10 * k)  # 5,005 + 10k calls: a half cent
    clock.move_to(end - timedelta(minutes=2), tick=False)
    last_second = end - timedelta(seconds=1)
    customer.report_ok("call_minutes", last_second, k + 1)
    customer.report_ok("api_calls", last_second)
    return {"call_minutes": 11 + 2 * k, "sms": 1001 + 37 * k, "api_calls": 5005 + 10 * k}


def pro_usage_lines(used: dict[str, int]) -> dict[str, tuple[int, int]]:
    """The pro plan's usage lines for `used`: nothing included; 5c, 1c and 0.1c a unit."""
    prices = {"call_minutes": 5, "sms": 1, "api_calls": Decimal("0.1")}
    return {code: (units, cents(units * prices[code])) for code, units in used.items() if units}


def assert_paid_once(invoice: Invoice) -> None:
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert invoice.amount_paid_cents == invoice.total_cents
    payments = list(invoice.payments.all())
    assert [(p.status, p.kind, p.amount_cents) for p in payments] == [("succeeded", "off_session", invoice.total_cents)]


def assert_second_run_changes_nothing(moment, clock) -> None:
    before = world_counts()
    outbox = len(mail.outbox)
    again = cycle(moment, clock)
    assert {name: value for name, value in again.as_dict().items() if value} == {}
    assert world_counts() == before
    assert len(mail.outbox) == outbox


# --- a year of renewals ------------------------------------------------------------------


@pytest.mark.parametrize("calendar", [CALENDAR_2026, CALENDAR_2028], ids=["2026", "leap-2028"])
def test_a_year_of_renewals_follows_the_calendar_and_bills_base_fee_plus_usage(customer, clock, calendar):
    pro = Plan.objects.get(code="pro")
    subscription = subscribe(customer, clock, "pro", calendar[0])
    first = Invoice.objects.get(subscription=subscription)
    assert (first.reason, first.status, first.total_cents) == ("subscription_create", "paid", PRO)
    assert (subscription.current_period_start, subscription.current_period_end) == (calendar[0], calendar[1])

    carried = {}  # usage dated at a period's first second, reported before that period was billed
    for k in range(12):
        start, end, following = calendar[k], calendar[k + 1], calendar[k + 2]
        used = use_telephony(customer, clock, start, end, k)
        used["sms"] += carried.pop("sms", 0)
        # Inside the grace window, an event at the next period's first second: next period's.
        clock.move_to(end + timedelta(minutes=1), tick=False)
        customer.report_ok("sms", end)
        carried["sms"] = 1

        moment = after_grace(end)
        report = cycle(moment, clock)
        assert (report.periods_closed, report.invoices_finalized) == (1, 1), (k, report)

        subscription.refresh_from_db()
        assert subscription.status == "active"
        assert (subscription.current_period_start, subscription.current_period_end) == (end, following), k
        invoice = Invoice.objects.get(subscription=subscription, reason="subscription_cycle", period_start=start)
        assert invoice.period_end == end
        assert base_fees(invoice) == [(PRO, end, following)]
        assert usage_lines(invoice) == pro_usage_lines(used), k
        assert invoice.total_cents == PRO + usage_cents(pro, used)
        assert invoice.number == f"INV-{moment.year}-{(k + 2 if moment.year == calendar[0].year else 1):06d}"
        assert_paid_once(invoice)
        assert_second_run_changes_nothing(moment, clock)

    first_renewal = cycle_invoices(subscription).first()
    # 11 minutes at 5c + 1,001 SMS at 1c + 5,005 API calls at 0.1c (500.5 -> 501) + $29.99
    assert first_renewal.total_cents == 55 + 1001 + 501 + PRO
    assert cycle_invoices(subscription).count() == 12
    assert Invoice.objects.filter(subscription=subscription).count() == 13


def test_a_cycle_that_missed_runs_invoices_every_ended_period(customer, clock):
    subscription = subscribe(customer, clock, "pro", CALENDAR_2026[0])
    used = [use_telephony(customer, clock, CALENDAR_2026[k], CALENDAR_2026[k + 1], k) for k in range(3)]

    report = cycle(after_grace(CALENDAR_2026[3]), clock)

    assert (report.periods_closed, report.invoices_finalized) == (1, 3)
    subscription.refresh_from_db()
    assert (subscription.current_period_start, subscription.current_period_end) == tuple(CALENDAR_2026[3:5])
    invoices = list(cycle_invoices(subscription))
    assert [(i.period_start, i.period_end) for i in invoices] == list(pairwise(CALENDAR_2026[:4]))
    for k, invoice in enumerate(invoices):
        assert base_fees(invoice) == [(PRO, CALENDAR_2026[k + 1], CALENDAR_2026[k + 2])]
        assert usage_lines(invoice) == pro_usage_lines(used[k])
        assert_paid_once(invoice)


# --- plan changes --------------------------------------------------------------------------


def test_mid_period_upgrade_is_prorated_by_the_second_and_renewals_follow_at_team_price(customer, clock):
    team = Plan.objects.get(code="team")
    subscription = subscribe(customer, clock, "pro", utc(2026, 1, 31))
    cycle(after_grace(utc(2026, 2, 28)), clock)  # now in [Feb 28, Mar 31)
    period_start, period_end = utc(2026, 2, 28), utc(2026, 3, 31)
    clock.move_to(utc(2026, 3, 10), tick=False)
    customer.report_ok("call_minutes", utc(2026, 3, 9), 400)  # on pro, before the switch

    switch_at = utc(2026, 3, 14, 13, 27, 41)
    clock.move_to(switch_at, tick=False)
    data = customer.change_plan("team", prorate=True)

    assert data["subscription"]["plan"]["code"] == "team"
    window = {"period_start": period_start, "period_end": period_end, "start": switch_at, "end": period_end}
    credit, charge = rating.prorate(PRO, **window), rating.prorate(TEAM, **window)
    # 16 d 10:32:19 left of a 31-day period: 2,999 x 1,420,339 / 2,678,400 = 1,590.35 and
    # 9,999 x ... = 5,302.41.
    assert (credit, charge) == (1590, 5302)
    # Pro's unused time comes back as a credit note on the renewal that charged it, to the
    # balance, which pays that much of Team's remaining time.
    note = CreditNote.objects.get(invoice__subscription=subscription)
    assert (note.reason, note.total_cents, note.credited_cents) == ("plan_change", credit, credit)
    assert note.invoice == cycle_invoices(subscription).get(period_start=utc(2026, 1, 31))
    change = Invoice.objects.get(subscription=subscription, reason=InvoiceReason.SUBSCRIPTION_UPDATE)
    lines = [(line.kind, line.amount_cents, line.period_start, line.period_end) for line in change.lines.all()]
    assert lines == [("proration", charge, switch_at, period_end)]
    assert change.credit_applied_cents == credit
    assert change.total_cents == charge - credit == data["invoice"]["total_cents"]
    assert_paid_once(change)
    subscription.refresh_from_db()
    assert (subscription.plan_id, subscription.current_period_start, subscription.current_period_end) == (
        team.pk,
        period_start,
        period_end,
    )

    clock.move_to(utc(2026, 3, 20), tick=False)
    customer.report_ok("call_minutes", utc(2026, 3, 20), 220)  # on team: 620 minutes in the period
    add_rollup(customer.organization, "sms", utc(2026, 3, 20).date(), 1234)
    add_rollup(customer.organization, "api_calls", utc(2026, 3, 20).date(), 10_555)
    cycle(after_grace(period_end), clock)

    renewal = Invoice.objects.get(subscription=subscription, reason="subscription_cycle", period_start=period_start)
    assert base_fees(renewal) == [(TEAM, utc(2026, 3, 31), utc(2026, 4, 30))]
    # Each segment on its plan. Pro until the switch: 400 minutes at 5c (none included) =
    # 2,000. Team after it, 1,420,339 s of the 2,678,400 s period (0.5303), with that share
    # of Team's 500 minutes, 1,000 SMS and 10,000 calls included: 265, 530 and 5,303. So
    # 220 minutes are free, 1,234 - 530 = 704 SMS at 0.8c = 563.2 -> 563 and
    # 10,555 - 5,303 = 5,252 calls at 0.08c = 420.16 -> 420.
    assert usage_lines(renewal) == {"call_minutes": (400, 2000), "sms": (704, 563), "api_calls": (5252, 420)}
    assert renewal.total_cents == TEAM + 2000 + 563 + 420
    assert_paid_once(renewal)

    clock.move_to(utc(2026, 4, 10), tick=False)
    customer.report_ok("call_minutes", utc(2026, 4, 10), 501)
    cycle(after_grace(utc(2026, 4, 30)), clock)
    next_renewal = Invoice.objects.get(subscription=subscription, period_start=utc(2026, 3, 31))
    assert base_fees(next_renewal) == [(TEAM, utc(2026, 4, 30), utc(2026, 5, 31))]
    assert usage_lines(next_renewal) == {"call_minutes": (1, 4)}
    assert_paid_once(next_renewal)


def test_scheduled_downgrade_takes_effect_at_the_next_period(customer, clock):
    pro, team = Plan.objects.get(code="pro"), Plan.objects.get(code="team")
    subscription = subscribe(customer, clock, "team", utc(2026, 1, 31))
    cycle(after_grace(utc(2026, 2, 28)), clock)

    clock.move_to(utc(2026, 3, 14, 12), tick=False)
    invoices_before = Invoice.objects.count()
    data = customer.change_plan("pro", prorate=False)

    assert data["invoice"] is None
    assert Invoice.objects.count() == invoices_before
    subscription.refresh_from_db()
    assert (subscription.plan_id, subscription.scheduled_plan_id) == (team.pk, pro.pk)
    customer.report_ok("call_minutes", utc(2026, 3, 14), 600)
    cycle(after_grace(utc(2026, 3, 31)), clock)

    renewal = Invoice.objects.get(subscription=subscription, period_start=utc(2026, 2, 28))
    assert base_fees(renewal) == [(PRO, utc(2026, 3, 31), utc(2026, 4, 30))]
    assert usage_lines(renewal) == {"call_minutes": (100, 400)}  # the ended period, on team
    assert renewal.total_cents == PRO + 400
    assert_paid_once(renewal)
    subscription.refresh_from_db()
    assert (subscription.plan_id, subscription.scheduled_plan_id) == (pro.pk, None)
    assert subscription.history.filter(event="plan_changed", data={"from": "team", "to": "pro"}).count() == 1

    clock.move_to(utc(2026, 4, 10), tick=False)
    customer.report_ok("call_minutes", utc(2026, 4, 10), 600)
    cycle(after_grace(utc(2026, 4, 30)), clock)
    next_renewal = Invoice.objects.get(subscription=subscription, period_start=utc(2026, 3, 31))
    assert base_fees(next_renewal) == [(PRO, utc(2026, 4, 30), utc(2026, 5, 31))]
    assert usage_lines(next_renewal) == {"call_minutes": (600, 3000)}  # on pro
    assert_paid_once(next_renewal)


# --- cancel and reactivate -----------------------------------------------------------------


def test_cancel_at_period_end_bills_only_the_final_usage_and_cancels_at_the_period_end(
    customer, clock, django_capture_on_commit_callbacks
):
    pro = Plan.objects.get(code="pro")
    subscription = subscribe(customer, clock, "pro", utc(2026, 1, 31))
    cycle(after_grace(utc(2026, 2, 28)), clock)
    used = use_telephony(customer, clock, utc(2026, 2, 28), utc(2026, 3, 31))

    clock.move_to(utc(2026, 3, 15), tick=False)
    data = customer.cancel()
    assert (data["status"], data["cancel_at_period_end"]) == ("active", True)
    cycle(utc(2026, 3, 30, 23, 59), clock)  # access until the period ends
    subscription.refresh_from_db()
    assert subscription.status == "active"

    with django_capture_on_commit_callbacks(execute=True):
        report = cycle(after_grace(utc(2026, 3, 31)), clock)

    assert (report.periods_closed, report.invoices_finalized) == (1, 1)
    subscription.refresh_from_db()
    assert subscription.status == "canceled"
    assert subscription.ended_at == utc(2026, 3, 31)
    assert (subscription.current_period_start, subscription.current_period_end) == (utc(2026, 2, 28), utc(2026, 3, 31))
    final = Invoice.objects.get(subscription=subscription, period_start=utc(2026, 2, 28))
    assert base_fees(final) == []  # no renewal
    assert usage_lines(final) == pro_usage_lines(used)
    assert final.total_cents == usage_cents(pro, used)
    assert_paid_once(final)
    assert [m.subject for m in mail.outbox if "ended" in m.subject] == ["Your Pro subscription has ended"]

    cycle(after_grace(utc(2026, 4, 30)), clock)
    assert Invoice.objects.filter(subscription=subscription).count() == 3  # first, renewal, final
    assert_second_run_changes_nothing(after_grace(utc(2026, 4, 30)), clock)


def test_reactivating_before_the_period_end_keeps_the_subscription_renewing(customer, clock):
    subscription = subscribe(customer, clock, "pro", utc(2026, 1, 31))
    clock.move_to(utc(2026, 2, 10), tick=False)
    customer.cancel()
    clock.move_to(utc(2026, 2, 27, 23), tick=False)
    data = customer.reactivate()
    assert data["cancel_at_period_end"] is False

    cycle(after_grace(utc(2026, 2, 28)), clock)

    subscription.refresh_from_db()
    assert subscription.status == "active"
    assert (subscription.current_period_start, subscription.current_period_end) == (utc(2026, 2, 28), utc(2026, 3, 31))
    renewal = Invoice.objects.get(subscription=subscription, reason="subscription_cycle")
    assert base_fees(renewal) == [(PRO, utc(2026, 2, 28), utc(2026, 3, 31))]
    assert_paid_once(renewal)


# --- trial ---------------------------------------------------------------------------------


def test_a_trial_bills_nothing_until_it_ends_then_charges_the_first_paid_period(customer, clock):
    plans_trial_days(14)
    subscription = subscribe(customer, clock, "pro", utc(2026, 1, 31))
    trial_end = utc(2026, 2, 14)
    assert subscription.status == "trialing"
    assert (subscription.current_period_start, subscription.current_period_end) == (utc(2026, 1, 31), trial_end)
    customer.set_payment_method(PM_OK)
    clock.move_to(trial_end - timedelta(minutes=2), tick=False)
    customer.report_ok("call_minutes", trial_end - timedelta(seconds=1), 100)  # free, in the trial

    report = cycle(trial_end - timedelta(minutes=1), clock)

    assert report.trials_ended == 0
    assert not Invoice.objects.filter(organization=customer.organization).exists()
    clock.move_to(trial_end + timedelta(minutes=5), tick=False)
    customer.report_ok("call_minutes", trial_end, 7)  # the first paid period's first second

    report = cycle(after_grace(trial_end), clock)

    assert report.trials_ended == 1
    subscription.refresh_from_db()
    assert subscription.status == "active"
    assert (subscription.current_period_start, subscription.current_period_end) == (trial_end, utc(2026, 3, 14))
    first = Invoice.objects.get(subscription=subscription)
    assert base_fees(first) == [(PRO, trial_end, utc(2026, 3, 14))]
    assert usage_lines(first) == {}
    assert first.total_cents == PRO
    assert_paid_once(first)
    assert_second_run_changes_nothing(after_grace(trial_end), clock)

    cycle(after_grace(utc(2026, 3, 14)), clock)
    renewal = Invoice.objects.get(subscription=subscription, period_start=trial_end)
    assert base_fees(renewal) == [(PRO, utc(2026, 3, 14), utc(2026, 4, 14))]
    assert usage_lines(renewal) == {"call_minutes": (7, 35)}  # the trial's 100 minutes are not billed
    assert_paid_once(renewal)


# --- dunning -------------------------------------------------------------------------------


def declined_renewal(customer, clock, capture) -> tuple[object, Invoice, object]:
    """A pro subscription whose card declines at the Feb 28 renewal (attempt 1 at T0)."""
    subscription = subscribe(customer, clock, "pro", utc(2026, 1, 31))
    customer.set_payment_method(PM_DECLINE)
    mail.outbox.clear()
    t0 = after_grace(utc(2026, 2, 28))
    with capture(execute=True):
        cycle(t0, clock)
    return subscription, Invoice.objects.get(subscription=subscription, reason="subscription_cycle"), t0


def failed_mails() -> list[str]:
    return [m.subject for m in mail.outbox if m.subject.startswith("Payment failed")]


def test_a_declined_renewal_walks_the_dunning_schedule_to_canceled(customer, clock, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    subscription, invoice, t0 = declined_renewal(customer, clock, capture)
    assert (invoice.status, invoice.attempt_count, invoice.next_payment_attempt) == ("open", 1, t0 + timedelta(days=1))
    assert failed_mails() == [f"Payment failed for invoice {invoice.number}"]
    assert mail.outbox[-1].to == [customer.organization.billing_email]

    schedule = [(1, 2, 3), (3, 3, 5), (5, 4, None)]  # retry day, attempt count after it, next retry day
    for day, attempts, next_day in schedule:
        with capture(execute=True):
            cycle(t0 + timedelta(days=day) - timedelta(minutes=1), clock)  # not yet due
        invoice.refresh_from_db()
        assert invoice.attempt_count == attempts - 1
        with capture(execute=True):
            cycle(t0 + timedelta(days=day), clock)
        invoice.refresh_from_db()
        assert invoice.attempt_count == attempts
        assert invoice.next_payment_attempt == (None if next_day is None else t0 + timedelta(days=next_day))
        assert len(failed_mails()) == attempts
        subscription.refresh_from_db()
        assert subscription.status == ("past_due" if next_day is None else "active")

    assert subscription.past_due_since == t0 + timedelta(days=5)
    payments = invoice.payments.order_by("attempt")
    assert [(p.attempt, p.kind, p.status) for p in payments] == [(n, "off_session", "failed") for n in (1, 2, 3, 4)]
    assert_second_run_changes_nothing(t0 + timedelta(days=5), clock)

    cancel_at = t0 + timedelta(days=5 + 7)
    with capture(execute=True):
        cycle(cancel_at - timedelta(minutes=1), clock)
    subscription.refresh_from_db()
    assert subscription.status == "past_due"

    with capture(execute=True):
        report = cycle(cancel_at, clock)

    assert report.subscriptions_canceled == 1
    subscription.refresh_from_db()
    invoice.refresh_from_db()
    assert (subscription.status, subscription.ended_at) == ("canceled", cancel_at)
    assert (invoice.status, invoice.next_payment_attempt, invoice.attempt_count) == ("uncollectible", None, 4)
    assert [m.subject for m in mail.outbox if "ended" in m.subject] == ["Your Pro subscription has ended"]
    assert_second_run_changes_nothing(cancel_at, clock)


def test_paying_the_open_invoice_by_pay_link_returns_a_past_due_subscription_to_active(
    customer, clock, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    subscription, invoice, t0 = declined_renewal(customer, clock, capture)
    for day in (1, 3, 5):
        with capture(execute=True):
            cycle(t0 + timedelta(days=day), clock)
    subscription.refresh_from_db()
    assert subscription.status == "past_due"

    clock.move_to(t0 + timedelta(days=6), tick=False)
    customer.pay_by_link(invoice)

    invoice.refresh_from_db()
    subscription.refresh_from_db()
    assert (invoice.status, invoice.amount_paid_cents) == ("paid", invoice.total_cents)
    assert subscription.status == "active"
    assert invoice.payments.filter(status="succeeded", kind="pay_link").count() == 1
    with capture(execute=True):
        report = cycle(t0 + timedelta(days=5 + 7), clock)
    assert report.subscriptions_canceled == 0
    subscription.refresh_from_db()
    assert subscription.status == "active"


def test_a_working_card_saved_before_the_next_retry_pays_the_invoice_at_that_retry(
    customer, clock, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    subscription, invoice, t0 = declined_renewal(customer, clock, capture)
    clock.move_to(t0 + timedelta(hours=12), tick=False)
    customer.set_payment_method(PM_OK)

    with capture(execute=True):
        cycle(t0 + timedelta(days=1), clock)

    invoice.refresh_from_db()
    assert (invoice.status, invoice.attempt_count, invoice.next_payment_attempt) == ("paid", 2, None)
    payments = invoice.payments.order_by("attempt")
    assert [(p.attempt, p.status) for p in payments] == [(1, "failed"), (2, "succeeded")]
    for day in (3, 5, 12):
        with capture(execute=True):
            cycle(t0 + timedelta(days=day), clock)
    invoice.refresh_from_db()
    subscription.refresh_from_db()
    assert (invoice.attempt_count, subscription.status) == (2, "active")
    assert not subscription.history.filter(to_status="past_due").exists()
    assert len(failed_mails()) == 1


# --- credits, late usage -------------------------------------------------------------------


def test_credits_granted_before_a_renewal_are_applied_before_charging(customer, clock):
    subscription = subscribe(customer, clock, "pro", utc(2026, 1, 31))
    clock.move_to(utc(2026, 2, 20), tick=False)
    customer.report_ok("call_minutes", utc(2026, 2, 20), 40)  # 200c
    credits_grant(organization=customer.organization, amount_cents=1000, reason="goodwill")

    cycle(after_grace(utc(2026, 2, 28)), clock)

    renewal = Invoice.objects.get(subscription=subscription, reason="subscription_cycle")
    assert (renewal.subtotal_cents, renewal.credit_applied_cents) == (PRO + 200, 1000)
    assert renewal.total_cents == PRO + 200 - 1000
    assert_paid_once(renewal)  # the card is charged the rest
    application = CreditLedgerEntry.objects.get(organization=customer.organization, kind="invoice_application")
    assert (application.amount_cents, application.invoice_id, application.balance_after_cents) == (
        -1000,
        renewal.pk,
        0,
    )
    assert CreditBalance.objects.get(pk=customer.organization.pk).balance_cents == 0


def test_credit_covering_the_whole_renewal_pays_it_without_a_charge(customer, clock):
    subscription = subscribe(customer, clock, "pro", utc(2026, 1, 31))
    credits_grant(organization=customer.organization, amount_cents=5000, reason="promotion")

    cycle(after_grace(utc(2026, 2, 28)), clock)

    renewal = Invoice.objects.get(subscription=subscription, reason="subscription_cycle")
    assert (renewal.status, renewal.credit_applied_cents, renewal.total_cents) == ("paid", PRO, 0)
    assert not renewal.payments.exists()
    assert CreditBalance.objects.get(pk=customer.organization.pk).balance_cents == 5000 - PRO


def test_late_usage_inside_the_grace_window_is_billed_and_usage_after_finalization_is_refused(customer, clock):
    subscription = subscribe(customer, clock, "pro", utc(2026, 1, 31))
    period_end = utc(2026, 2, 28)
    cycle(period_end + timedelta(minutes=5), clock)  # the period is closed, its invoice a draft
    draft = Invoice.objects.get(subscription=subscription, reason="subscription_cycle")
    assert draft.status == "draft"

    clock.move_to(period_end + timedelta(minutes=30), tick=False)
    customer.report_ok("call_minutes", period_end - timedelta(minutes=10), 12)  # late, in the grace window
    cycle(after_grace(period_end), clock)

    draft.refresh_from_db()
    assert draft.status == "paid"
    assert usage_lines(draft) == {"call_minutes": (12, 60)}
    assert draft.total_cents == PRO + 60
    clock.move_to(after_grace(period_end) + timedelta(minutes=1), tick=False)
    refused = customer.report("call_minutes", period_end - timedelta(seconds=1), 5)
    assert error_code(refused, 400) == "validation_error"
    assert "outside the open billing window" in refused.json()["error"]["message"]
    customer.report_ok("call_minutes", period_end, 5)  # the open period still takes usage
    draft.refresh_from_db()
    assert usage_lines(draft) == {"call_minutes": (12, 60)}


# --- running twice -------------------------------------------------------------------------


def test_running_the_cycle_twice_for_the_same_moment_changes_nothing(demo, clock, django_capture_on_commit_callbacks):
    """Customers in every state the cycle touches: renewing, declined, trialing, canceling."""
    renewing, declined, trialing, canceling = (customer_create() for _ in range(4))
    for customer in (renewing, declined, canceling):
        subscribe(customer, clock, "pro", utc(2026, 1, 31))
    plans_trial_days(28)
    subscribe(trialing, clock, "pro", utc(2026, 1, 31))
    trialing.set_payment_method(PM_OK)
    declined.set_payment_method(PM_DECLINE)
    canceling.cancel()
    clock.move_to(utc(2026, 2, 1, 12), tick=False)
    for customer in (renewing, declined, canceling):
        customer.report_ok("sms", utc(2026, 2, 1))

    t0 = after_grace(utc(2026, 2, 28))
    seen = set()
    for moment in (t0, t0 + timedelta(days=1), t0 + timedelta(days=3), t0 + timedelta(days=5), t0 + timedelta(days=12)):
        with django_capture_on_commit_callbacks(execute=True):
            first = cycle(moment, clock)
        seen |= {name for name, value in first.as_dict().items() if value}
        with django_capture_on_commit_callbacks(execute=True):
            assert_second_run_changes_nothing(moment, clock)

    assert seen >= {"trials_ended", "periods_closed", "invoices_finalized", "charges_attempted",
                    "subscriptions_past_due", "subscriptions_canceled"}  # fmt: skip
    assert SubscriptionEvent.objects.filter(to_status="canceled").count() == 2
