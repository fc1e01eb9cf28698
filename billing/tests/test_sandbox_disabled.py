"""A deployment without the sandbox gateway (SANDBOX_GATEWAY_ENABLED off, as in production):
nobody can choose it at checkout, for credits or on a pay link, and nothing already made
with it can be charged, get a pay link or save a card. The sandbox's page and webhook are
webhooks/tests/test_sandbox_disabled.py; the gateways' own answers and the system checks,
payments/tests/test_sandbox_disabled.py. `sandbox_off` is a fixture of payments.tests.fixtures."""

from __future__ import annotations

import pytest

from billing.services import invoice_collect_or_retry_later
from invoices.services import invoice_for_first_period
from payments.gateways import sandbox
from payments.models import Payment
from payments.tests.support import (
    CANCEL_URL,
    CHECKOUT,
    CREDITS_PURCHASE,
    PAYMENT_METHOD,
    PORTAL,
    RETURN_URL,
    SUCCESS_URL,
    assert_error,
    pay_url,
    stored,
    subscribe,
)
from plans.tests.factories import PlanFactory

pytestmark = pytest.mark.django_db


def assert_gateway_refused(response) -> None:
    error = assert_error(response, 400, "validation_error")
    assert "gateway" in error["details"], error


# --- choosing the sandbox ----------------------------------------------------------------------


def test_buying_credit_through_the_disabled_sandbox_is_a_400_and_stores_nothing(sandbox_off, owner, org):
    before = stored(org)

    response = owner.post(
        CREDITS_PURCHASE,
        {"amount_cents": 1_000_000, "success_url": SUCCESS_URL, "cancel_url": CANCEL_URL, "gateway": "sandbox"},
        format="json",
    )

    assert_gateway_refused(response)
    assert stored(org) == before


def test_a_checkout_through_the_disabled_sandbox_is_a_400_and_stores_nothing(sandbox_off, owner, org, pro):
    before = stored(org)

    response = owner.post(
        CHECKOUT,
        {"plan_id": str(pro.pk), "success_url": SUCCESS_URL, "cancel_url": CANCEL_URL, "gateway": "sandbox"},
        format="json",
    )

    assert_gateway_refused(response)
    assert stored(org) == before


def test_an_unknown_gateway_is_a_400_on_the_gateway_field(sandbox_off, owner, org, pro):
    before = stored(org)

    response = owner.post(
        CHECKOUT,
        {"plan_id": str(pro.pk), "success_url": SUCCESS_URL, "cancel_url": CANCEL_URL, "gateway": "freebies"},
        format="json",
    )

    assert_gateway_refused(response)
    assert stored(org) == before


# --- what was made while the sandbox was on ----------------------------------------------------


def test_a_sandbox_subscription_is_not_charged_to_its_sandbox_card_once_the_sandbox_is_disabled(org, pro, settings):
    invoice = invoice_for_first_period(subscription=subscribe(org, pro))  # pm_sandbox_ok saved
    settings.SANDBOX_GATEWAY_ENABLED = False

    assert invoice_collect_or_retry_later(invoice=invoice) is None

    invoice.refresh_from_db()
    assert invoice.status == "open"
    assert not Payment.objects.filter(invoice=invoice).exists()


def test_a_sandbox_subscriptions_invoice_gets_no_sandbox_pay_link_once_the_sandbox_is_disabled(
    owner, org, pro, settings
):
    invoice = invoice_for_first_period(subscription=subscribe(org, pro))
    settings.SANDBOX_GATEWAY_ENABLED = False

    assert_gateway_refused(owner.post(pay_url(invoice)))
    assert not Payment.objects.filter(invoice=invoice).exists()


def test_a_sandbox_subscription_cannot_save_a_sandbox_card_or_open_its_portal_once_disabled(owner, org, pro, settings):
    subscription = subscribe(org, pro, payment_method="")
    settings.SANDBOX_GATEWAY_ENABLED = False

    assert_gateway_refused(owner.put(PAYMENT_METHOD, {"payment_method_id": sandbox.PM_OK}, format="json"))
    assert_gateway_refused(owner.post(PORTAL, {"return_url": RETURN_URL}, format="json"))
    subscription.refresh_from_db()
    assert subscription.payment_method == ""


# --- a gateway must fit the organization ----------------------------------------------------------


def test_an_organization_outside_indonesia_cannot_choose_an_indonesian_gateway(fake_xendit, owner, org):
    org.country, org.currency = "US", "USD"
    org.save()
    idr_plan = PlanFactory(code="pro-idr", name="Pro", price_cents=450_000, currency="IDR", trial_days=0)
    before = stored(org)

    response = owner.post(
        CHECKOUT,
        {"plan_id": str(idr_plan.pk), "success_url": SUCCESS_URL, "cancel_url": CANCEL_URL, "gateway": "xendit"},
        format="json",
    )

    error = assert_error(response, 400, "validation_error")
    assert "organizations in" in str(error["details"]["gateway"])
    assert stored(org) == before
    assert not fake_xendit.calls("POST", "/v2/invoices")
