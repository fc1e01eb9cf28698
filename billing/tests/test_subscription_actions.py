"""POST subscriptions/cancel and reactivate, PUT subscriptions/upgrade and payment-method."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from billing_project.tests.world import people_client
from invoices import rating
from invoices.models import CreditNote, Invoice
from invoices.services import invoice_for_first_period, invoice_mark_paid
from payments.models import Payment
from payments.tests.support import (
    CANCEL,
    PAYMENT_METHOD,
    PRO_PRICE_CENTS,
    REACTIVATE,
    TEAM_PRICE_CENTS,
    UPGRADE,
    assert_error,
    assert_ok,
    subscribe,
)
from plans.models import Plan
from subscriptions.models import Subscription
from usage.testing import record_usage

pytestmark = pytest.mark.django_db

# A subscription that started on the 1st of October 2026: its period is October.
PERIOD_START = datetime(2026, 10, 1, tzinfo=UTC)
PERIOD_END = datetime(2026, 11, 1, tzinfo=UTC)
# Mid-period, at an odd second, so the proration is not a round share.
SWITCH_AT = datetime(2026, 10, 17, 13, 47, 29, tzinfo=UTC)


@pytest.fixture
def subscription(org, pro):
    return subscribe(org, pro)


def subscription_events(subscription) -> list[str]:
    return list(subscription.history.order_by("id").values_list("event", flat=True))


# --- cancel ----------------------------------------------------------------------------


def test_cancel_by_default_cancels_at_the_period_end(owner, subscription):
    data = assert_ok(owner.post(CANCEL, {"reason": "too expensive"}, format="json"))

    assert data["cancel_at_period_end"] is True
    assert data["status"] == "active"
    assert data["canceled_at"] is not None
    subscription.refresh_from_db()
    assert (subscription.status, subscription.cancel_at_period_end) == ("active", True)
    assert subscription.cancel_reason == "too expensive"
    assert data["current_period_end"] == subscription.current_period_end.isoformat().replace("+00:00", "Z")


def test_cancel_at_the_period_end_issues_no_invoice(owner, org, subscription):
    assert_ok(owner.post(CANCEL, {}, format="json"))

    assert not Invoice.objects.filter(organization=org).exists()


def test_cancel_immediately_ends_the_subscription_at_once(owner, subscription):
    data = assert_ok(owner.post(CANCEL, {"cancel_immediately": True, "reason": "closing"}, format="json"))

    assert data["status"] == "canceled"
    assert data["cancel_at_period_end"] is False
    subscription.refresh_from_db()
    assert subscription.status == "canceled"
    assert subscription.ended_at is not None
    assert subscription.cancel_reason == "closing"


def test_cancel_immediately_invoices_the_usage_of_the_period_so_far(owner, org, subscription):
    record_usage(org, "call_minutes", subscription.current_period_start, 10)  # 5c each on pro
    record_usage(org, "sms", subscription.current_period_start, 30)  # 1c each on pro

    assert_ok(owner.post(CANCEL, {"cancel_immediately": True}, format="json"))

    invoice = Invoice.objects.get(organization=org)
    assert (invoice.reason, invoice.status) == ("subscription_cancel", "open")
    assert invoice.total_cents == 10 * 5 + 30 * 1
    assert sorted((line.metric.code, line.amount_cents) for line in invoice.lines.all()) == [
        ("call_minutes", 50),
        ("sms", 30),
    ]


def test_cancel_immediately_without_usage_issues_no_invoice(owner, org, subscription):
    assert_ok(owner.post(CANCEL, {"cancel_immediately": True}, format="json"))

    assert not Invoice.objects.filter(organization=org).exists()


def test_cancel_twice_at_the_period_end_is_409(owner, subscription):
    assert_ok(owner.post(CANCEL, {"reason": "first"}, format="json"))

    assert_error(owner.post(CANCEL, {"reason": "second"}, format="json"), 409, "conflict")

    subscription.refresh_from_db()
    assert subscription.cancel_reason == "first"


def test_cancel_after_an_immediate_cancel_is_409(owner, subscription):
    assert_ok(owner.post(CANCEL, {"cancel_immediately": True}, format="json"))

    assert_error(owner.post(CANCEL, {"cancel_immediately": True}, format="json"), 409, "conflict")


def test_cancel_without_any_subscription_is_404(owner):
    assert_error(owner.post(CANCEL, {}, format="json"), 404, "not_found")


def test_a_member_may_not_cancel(team, subscription):
    assert_error(team.client("member").post(CANCEL, {}, format="json"), 403, "permission_denied")
    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end is False


def test_cancel_of_another_organizations_subscription_is_404(team, other_team, subscription):
    intruder = people_client(other_team.users["owner"], team.org)

    assert_error(intruder.post(CANCEL, {}, format="json"), 404, "not_found")
    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end is False


# --- reactivate ------------------------------------------------------------------------


def test_reactivate_before_the_period_end_undoes_the_cancellation(owner, subscription):
    assert_ok(owner.post(CANCEL, {"reason": "maybe"}, format="json"))

    data = assert_ok(owner.post(REACTIVATE))

    assert data == {"status": "active", "cancel_at_period_end": False}
    subscription.refresh_from_db()
    assert (subscription.cancel_at_period_end, subscription.canceled_at, subscription.cancel_reason) == (
        False,
        None,
        "",
    )
    assert subscription_events(subscription)[-2:] == ["cancel_scheduled", "reactivated"]


def test_reactivate_a_canceled_subscription_is_409(owner, subscription):
    assert_ok(owner.post(CANCEL, {"cancel_immediately": True}, format="json"))

    error = assert_error(owner.post(REACTIVATE), 409, "conflict")

    assert "checkout" in error["message"]
    subscription.refresh_from_db()
    assert subscription.status == "canceled"


def test_reactivate_when_not_set_to_cancel_is_409(owner, subscription):
    assert_error(owner.post(REACTIVATE), 409, "conflict")

    assert "reactivated" not in subscription_events(subscription)


def test_reactivate_after_the_period_ended_is_409(team, subscription):
    assert_ok(team.owner.post(CANCEL, {}, format="json"))
    subscription.refresh_from_db()

    with time_machine.travel(subscription.current_period_end + timedelta(minutes=1)):
        error = assert_error(team.owner.post(REACTIVATE), 409, "conflict")

    assert "period has ended" in error["message"]
    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end is True


def test_reactivate_without_any_subscription_is_404(owner):
    assert_error(owner.post(REACTIVATE), 404, "not_found")


def test_a_member_may_not_reactivate(team, owner, subscription):
    assert_ok(owner.post(CANCEL, {}, format="json"))

    assert_error(team.client("member").post(REACTIVATE), 403, "permission_denied")
    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end is True


# --- upgrade ---------------------------------------------------------------------------


def with_paid_first_period(subscription):
    """The first invoice (the period's base fee) issued and paid, as after a checkout."""
    with time_machine.travel(subscription.current_period_start, tick=False):
        invoice_mark_paid(invoice=invoice_for_first_period(subscription=subscription))
    return subscription


@pytest.fixture
def october_subscription(org, pro):
    """On pro since 1 October 2026, its October paid, with pm_sandbox_ok saved."""
    return with_paid_first_period(subscribe(org, pro, start=PERIOD_START))


def plan_change_invoices(org):
    return Invoice.objects.filter(organization=org, reason="subscription_update")


def upgrade(team, plan, *, prorate=True, at=SWITCH_AT):
    """PUT subscriptions/upgrade as the owner at the moment `at` (time stands still)."""
    with time_machine.travel(at, tick=False):
        return team.owner.put(UPGRADE, {"new_plan_id": str(plan.pk), "prorate": prorate}, format="json")


def test_a_prorated_upgrade_credits_unused_pro_and_charges_remaining_team_to_the_cent(
    team, october_subscription, team_plan
):
    window = {"period_start": PERIOD_START, "period_end": PERIOD_END, "start": SWITCH_AT, "end": PERIOD_END}
    credit = -rating.prorate(PRO_PRICE_CENTS, **window)
    charge = rating.prorate(TEAM_PRICE_CENTS, **window)

    data = assert_ok(upgrade(team, team_plan))

    invoice = data["invoice"]
    assert [(line["kind"], line["amount_cents"]) for line in invoice["line_items"]] == [("proration", charge)]
    # The unused Pro time came back as a credit note, and the balance paid that much.
    note = CreditNote.objects.get(invoice__subscription=october_subscription)
    assert (note.reason, note.total_cents, note.credited_cents) == ("plan_change", -credit, -credit)
    assert [(line.amount_cents, line.period_start) for line in note.lines.all()] == [(-credit, SWITCH_AT)]
    assert (invoice["subtotal_cents"], invoice["credit_applied_cents"]) == (charge, -credit)
    assert invoice["total_cents"] == charge + credit
    # 14 days, 10 hours, 12 minutes and 31 seconds of a 31-day October remain.
    assert (credit, charge) == (-1396, 4653)
    assert invoice["reason"] == "subscription_update"
    assert invoice["period_start"] == "2026-10-17T13:47:29Z"
    assert invoice["period_end"] == "2026-11-01T00:00:00Z"


def test_a_prorated_upgrade_is_charged_to_the_saved_method_and_paid(team, org, october_subscription, team_plan):
    data = assert_ok(upgrade(team, team_plan))

    assert data["invoice"]["status"] == "paid"
    invoice = Invoice.objects.get(pk=data["invoice"]["id"])
    assert invoice.amount_paid_cents == invoice.total_cents == 4653 - 1396
    payment = Payment.objects.get(invoice=invoice)
    assert (payment.kind, payment.status, payment.payment_method) == ("off_session", "succeeded", "pm_sandbox_ok")
    assert payment.amount_cents == invoice.total_cents


def test_a_prorated_upgrade_switches_the_plan_now(team, october_subscription, team_plan):
    data = assert_ok(upgrade(team, team_plan))

    assert data["subscription"]["plan"]["code"] == "team"
    assert data["subscription"]["scheduled_plan"] is None
    october_subscription.refresh_from_db()
    assert october_subscription.plan == team_plan
    assert (october_subscription.current_period_start, october_subscription.current_period_end) == (
        PERIOD_START,
        PERIOD_END,
    )


def test_a_prorated_upgrade_with_a_declining_card_leaves_the_invoice_open(team, org, october_subscription, team_plan):
    october_subscription.payment_method = "pm_sandbox_decline"
    october_subscription.save()

    data = assert_ok(upgrade(team, team_plan))

    assert data["invoice"]["status"] == "open"
    payment = Payment.objects.get(invoice_id=data["invoice"]["id"])
    assert payment.status == "failed"
    assert data["subscription"]["plan"]["code"] == "team"


def test_a_prorated_downgrade_adds_the_difference_to_the_credit_balance(team, org, team_plan, pro):
    with_paid_first_period(subscribe(org, team_plan, start=PERIOD_START))

    data = assert_ok(upgrade(team, pro))

    invoice = data["invoice"]
    assert (invoice["subtotal_cents"], invoice["credit_applied_cents"]) == (1396, 1396)
    assert invoice["total_cents"] == 0
    assert invoice["status"] == "paid"
    assert CreditNote.objects.get(reason="plan_change").total_cents == 4653
    with time_machine.travel(SWITCH_AT, tick=False):
        balance = assert_ok(team.owner.get("/api/v1/credits/balance"))
    assert balance["balance_cents"] == 4653 - 1396
    assert not Payment.objects.filter(organization=org).exists()


def test_a_change_credits_only_what_was_charged(team, org, team_plan):
    subscribe(org, Plan.objects.get(code="pro"), start=PERIOD_START)  # no invoice for October (staff-made)

    data = assert_ok(upgrade(team, team_plan))

    assert not CreditNote.objects.exists()
    assert data["invoice"]["total_cents"] == 4653


def test_an_upgrade_without_proration_schedules_the_plan_for_the_next_period(
    team, org, october_subscription, team_plan
):
    data = assert_ok(upgrade(team, team_plan, prorate=False))

    assert data["invoice"] is None
    assert data["subscription"]["plan"]["code"] == "pro"
    assert data["subscription"]["scheduled_plan"]["code"] == "team"
    october_subscription.refresh_from_db()
    assert (october_subscription.plan.code, october_subscription.scheduled_plan.code) == ("pro", "team")
    assert not plan_change_invoices(org).exists()


def test_an_upgrade_to_the_same_plan_is_400(team, org, october_subscription, pro):
    error = assert_error(upgrade(team, pro), 400, "validation_error")

    assert "new_plan_id" in error["details"]
    assert not plan_change_invoices(org).exists()


def test_an_upgrade_to_an_inactive_plan_is_400(team, org, october_subscription, team_plan):
    team_plan.is_active = False
    team_plan.save()

    assert_error(upgrade(team, team_plan), 400, "validation_error")

    october_subscription.refresh_from_db()
    assert october_subscription.plan.code == "pro"
    assert not plan_change_invoices(org).exists()
    assert not CreditNote.objects.exists()


def test_an_upgrade_to_an_unknown_plan_is_404(team, october_subscription):
    with time_machine.travel(SWITCH_AT, tick=False):
        response = team.owner.put(UPGRADE, {"new_plan_id": str(uuid.uuid4()), "prorate": True}, format="json")

    assert_error(response, 404, "not_found")


def test_an_upgrade_without_a_subscription_is_404(team, team_plan):
    assert_error(upgrade(team, team_plan), 404, "not_found")


def test_a_prorated_switch_from_monthly_to_yearly_is_400(team, org, october_subscription):
    yearly = Plan.objects.create(code="pro_yearly", name="Pro yearly", price_cents=29990, interval="year")

    error = assert_error(upgrade(team, yearly), 400, "validation_error")

    assert "prorate" in error["details"]
    october_subscription.refresh_from_db()
    assert (october_subscription.plan.code, october_subscription.scheduled_plan) == ("pro", None)
    assert not plan_change_invoices(org).exists()
    assert not CreditNote.objects.exists()


def test_a_switch_from_monthly_to_yearly_without_proration_is_scheduled(team, october_subscription):
    yearly = Plan.objects.create(code="pro_yearly", name="Pro yearly", price_cents=29990, interval="year")

    data = assert_ok(upgrade(team, yearly, prorate=False))

    assert data["subscription"]["scheduled_plan"]["code"] == "pro_yearly"
    assert data["invoice"] is None


def test_an_upgrade_of_a_canceled_subscription_is_404(team, october_subscription, team_plan):
    Subscription.objects.filter(pk=october_subscription.pk).update(status="canceled")

    assert_error(upgrade(team, team_plan), 404, "not_found")


def test_a_member_may_not_change_the_plan(team, october_subscription, team_plan):
    with time_machine.travel(SWITCH_AT, tick=False):
        response = team.client("member").put(UPGRADE, {"new_plan_id": str(team_plan.pk)}, format="json")

    assert_error(response, 403, "permission_denied")
    october_subscription.refresh_from_db()
    assert october_subscription.plan.code == "pro"


# --- payment-method --------------------------------------------------------------------


@pytest.mark.parametrize("method", ["pm_sandbox_ok", "pm_sandbox_decline"])
def test_a_sandbox_payment_method_is_saved(owner, org, pro, method):
    subscription = subscribe(org, pro, payment_method="")

    response = owner.put(PAYMENT_METHOD, {"payment_method_id": method}, format="json")

    data = assert_ok(response)
    assert response.json()["message"] == "Payment method updated successfully"
    assert data["id"] == str(subscription.pk)
    subscription.refresh_from_db()
    assert (subscription.payment_method, subscription.gateway) == (method, "sandbox")


@pytest.mark.parametrize("method", ["pm_card_visa", "tok_visa", "PM_SANDBOX_OK"])
def test_any_other_payment_method_is_400_and_keeps_the_saved_one(owner, subscription, method):
    response = owner.put(PAYMENT_METHOD, {"payment_method_id": method}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert "payment_method_id" in error["details"]
    subscription.refresh_from_db()
    assert subscription.payment_method == "pm_sandbox_ok"


def test_an_empty_payment_method_is_400(owner, subscription):
    assert_error(owner.put(PAYMENT_METHOD, {"payment_method_id": ""}, format="json"), 400, "validation_error")


def test_a_payment_method_without_a_subscription_is_404(owner):
    response = owner.put(PAYMENT_METHOD, {"payment_method_id": "pm_sandbox_ok"}, format="json")

    assert_error(response, 404, "not_found")


def test_a_member_may_not_change_the_payment_method(team, subscription):
    response = team.client("member").put(PAYMENT_METHOD, {"payment_method_id": "pm_sandbox_decline"}, format="json")

    assert_error(response, 403, "permission_denied")
    subscription.refresh_from_db()
    assert subscription.payment_method == "pm_sandbox_ok"
