"""A deployment without the sandbox gateway (SANDBOX_GATEWAY_ENABLED off, as in production):
the sandbox's hosted page (webhooks.sandbox_page) and its webhook are gone, and nothing
opened while it was on can be driven to paid through them."""

from __future__ import annotations

import pytest

from invoices.models import Invoice
from payments.models import Payment
from payments.tests.support import (
    CANCEL_URL,
    CREDITS_PURCHASE,
    SUCCESS_URL,
    assert_error,
    post_webhook,
    sandbox_page,
    sandbox_press,
    start_checkout,
    stored,
    success_event_for,
)
from subscriptions.models import Subscription
from webhooks.models import InboundEvent

pytestmark = pytest.mark.django_db


# --- what was made while the sandbox was on ----------------------------------------------------


@pytest.fixture
def sandbox_checkout(owner, pro) -> Payment:
    """A checkout paid through the sandbox, opened while it was still enabled."""
    return Payment.objects.get(pk=start_checkout(owner, pro, gateway="sandbox")["session_id"])


@pytest.fixture
def sandbox_credit_purchase(owner) -> Payment:
    data = owner.post(
        CREDITS_PURCHASE,
        {"amount_cents": 500_000, "success_url": SUCCESS_URL, "cancel_url": CANCEL_URL, "gateway": "sandbox"},
        format="json",
    ).json()["data"]
    return Payment.objects.get(pk=data["session_id"])


def test_the_sandbox_page_is_404_once_the_sandbox_is_disabled(sandbox_checkout, settings):
    assert sandbox_page(sandbox_checkout.checkout_url).status_code == 200
    settings.SANDBOX_GATEWAY_ENABLED = False

    assert sandbox_page(sandbox_checkout.checkout_url).status_code == 404


def test_pressing_pay_on_the_disabled_sandbox_page_credits_nothing(sandbox_credit_purchase, org, settings):
    settings.SANDBOX_GATEWAY_ENABLED = False
    before = stored(org)

    response = sandbox_press(sandbox_credit_purchase.checkout_url, "pay")

    assert response.status_code == 404
    sandbox_credit_purchase.refresh_from_db()
    assert sandbox_credit_purchase.status == "pending"
    assert Invoice.objects.get(pk=sandbox_credit_purchase.invoice_id).status == "open"
    assert stored(org) == before


def test_pressing_pay_on_the_disabled_sandbox_page_does_not_activate_the_plan(sandbox_checkout, settings):
    settings.SANDBOX_GATEWAY_ENABLED = False

    sandbox_press(sandbox_checkout.checkout_url, "pay")

    sandbox_checkout.refresh_from_db()
    assert sandbox_checkout.status == "pending"
    assert Subscription.objects.get(pk=sandbox_checkout.invoice.subscription_id).status == "incomplete"


def test_a_signed_sandbox_webhook_is_refused_once_the_sandbox_is_disabled(sandbox_checkout, settings):
    settings.SANDBOX_GATEWAY_ENABLED = False

    response = post_webhook(*success_event_for(sandbox_checkout))

    assert_error(response, 404, "not_found")
    assert InboundEvent.objects.count() == 0
    sandbox_checkout.refresh_from_db()
    assert sandbox_checkout.status == "pending"
