"""The shared test world (billing_project.tests.world) and the payments factories: what
every suite builds on is what the application would have made."""

import pytest

from billing_project.testing import assert_ok
from billing_project.tests.world import ROLES, customer_create, paid_plans, subscribe
from invoices.models import InvoiceStatus
from payments.models import PaymentStatus, RefundStatus
from payments.tests.factories import PaymentFactory, RefundFactory

pytestmark = pytest.mark.django_db


def test_the_team_has_one_signed_in_member_of_each_role(team):
    assert {m.role: m.user for m in team.org.memberships.all()} == team.users
    assert set(team.users) == set(ROLES)
    for role in ROLES:
        orgs = assert_ok(team.clients[role].get("/api/v1/orgs"))
        assert str(team.org.pk) in {org["id"] for org in orgs}
        assert team.client(role).get("/api/v1/subscriptions").status_code == 200


def test_the_demo_plans_are_paid_at_checkout(demo, pro, team_plan):
    assert (pro, team_plan) == demo == paid_plans()
    assert [(plan.code, plan.price_cents, plan.trial_days) for plan in demo] == [("pro", 2999, 0), ("team", 9999, 0)]


def test_subscribe_is_as_after_a_paid_checkout(org, pro):
    subscription = subscribe(org, pro, payment_method="pm_sandbox_ok")

    assert (subscription.status, subscription.gateway, subscription.payment_method) == (
        "active",
        "sandbox",
        "pm_sandbox_ok",
    )


def test_a_customer_checks_out_and_reports_usage_with_its_key(demo, clock):
    customer = customer_create()

    data = customer.subscribe("pro")
    customer.report_ok("call_minutes", customer.subscription.current_period_start, 3)

    assert data["subscription_id"] == str(customer.subscription.pk)
    assert customer.subscription.status == "active"


def test_a_payment_is_its_invoices_in_its_currency_for_what_it_owes():
    payment = PaymentFactory(invoice__organization__currency="EUR")

    payment.full_clean()
    assert payment.invoice.status == InvoiceStatus.OPEN
    assert payment.organization_id == payment.invoice.organization_id
    assert (payment.amount_cents, payment.currency, payment.status) == (2999, "EUR", PaymentStatus.PENDING)
    assert not payment.is_applied


def test_a_refund_is_of_the_whole_of_a_succeeded_payment():
    refund = RefundFactory()

    refund.full_clean()
    assert refund.payment.status == PaymentStatus.SUCCEEDED
    assert refund.payment.succeeded_at is not None
    assert (refund.amount_cents, refund.status, refund.credit_note) == (2999, RefundStatus.PENDING, None)
