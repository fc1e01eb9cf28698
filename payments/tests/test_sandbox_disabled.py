"""A deployment without the sandbox gateway (SANDBOX_GATEWAY_ENABLED off, as in production):
nobody can choose it, its page and webhook are gone, nothing already made with it can be
driven to paid, and a DEFAULT_GATEWAY naming it stops the server at its system checks."""

from __future__ import annotations

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from billing.services import invoice_collect_or_retry_later
from credits.models import CreditLedgerEntry
from invoices.models import Invoice
from invoices.services import invoice_for_first_period
from payments.gateways import gateway_names, get_gateway, sandbox
from payments.models import Payment
from plans.tests.factories import PlanFactory
from subscriptions.models import Subscription
from webhooks.models import InboundEvent

from .support import (
    CANCEL_URL,
    CHECKOUT,
    CREDITS_PURCHASE,
    PAYMENT_METHOD,
    PORTAL,
    RETURN_URL,
    SUCCESS_URL,
    assert_error,
    counts,
    pay_url,
    post_webhook,
    sandbox_page,
    sandbox_press,
    start_checkout,
    subscribe,
    success_event_for,
)

pytestmark = pytest.mark.django_db

FAKE_KEYS = {
    "stripe": {"STRIPE_SECRET_KEY": "sk_test_notarealkey000000000000000000"},
    "xendit": {"XENDIT_SECRET_KEY": "xnd_development_notarealkey", "XENDIT_CALLBACK_TOKEN": "not-a-real-token"},
}


@pytest.fixture(params=sorted(FAKE_KEYS))
def live(request, settings):
    """The sandbox off, another gateway (with keys that are never called) the default."""
    settings.SANDBOX_GATEWAY_ENABLED = False
    settings.DEFAULT_GATEWAY = request.param
    for name, value in FAKE_KEYS[request.param].items():
        setattr(settings, name, value)
    return settings


def stored(organization) -> dict[str, int]:
    return {
        **counts(organization),
        "credit entries": CreditLedgerEntry.objects.filter(organization=organization).count(),
    }


def assert_gateway_refused(response) -> None:
    error = assert_error(response, 400, "validation_error")
    assert "gateway" in error["details"], error


# --- choosing the sandbox ----------------------------------------------------------------------


def test_buying_credit_through_the_disabled_sandbox_is_a_400_and_stores_nothing(live, owner, org):
    before = stored(org)

    response = owner.post(
        CREDITS_PURCHASE,
        {"amount_cents": 1_000_000, "success_url": SUCCESS_URL, "cancel_url": CANCEL_URL, "gateway": "sandbox"},
        format="json",
    )

    assert_gateway_refused(response)
    assert stored(org) == before


def test_a_checkout_through_the_disabled_sandbox_is_a_400_and_stores_nothing(live, owner, org, pro):
    before = stored(org)

    response = owner.post(
        CHECKOUT,
        {"plan_id": str(pro.pk), "success_url": SUCCESS_URL, "cancel_url": CANCEL_URL, "gateway": "sandbox"},
        format="json",
    )

    assert_gateway_refused(response)
    assert stored(org) == before


def test_an_unknown_gateway_is_a_400_on_the_gateway_field(live, owner, org, pro):
    before = stored(org)

    response = owner.post(
        CHECKOUT,
        {"plan_id": str(pro.pk), "success_url": SUCCESS_URL, "cancel_url": CANCEL_URL, "gateway": "freebies"},
        format="json",
    )

    assert_gateway_refused(response)
    assert stored(org) == before


def test_the_disabled_sandbox_does_not_say_it_is_configured(live):
    assert sandbox.SandboxGateway().is_configured() is False
    assert live.DEFAULT_GATEWAY in gateway_names()
    assert get_gateway().name == live.DEFAULT_GATEWAY


def test_every_gateway_without_keys_says_it_is_not_configured(settings):
    settings.SANDBOX_GATEWAY_ENABLED = False
    settings.STRIPE_SECRET_KEY = settings.XENDIT_SECRET_KEY = settings.MIDTRANS_SERVER_KEY = ""

    from payments.gateways import _registry

    assert {name: cls().is_configured() for name, cls in _registry().items()} == dict.fromkeys(gateway_names(), False)


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


# --- the system check ---------------------------------------------------------------------------


def payment_check_errors() -> list[str]:
    return [message.id for message in checks.run_checks() if message.level >= checks.ERROR]


def test_a_default_gateway_on_the_disabled_sandbox_fails_the_system_checks(settings):
    settings.DEBUG = False
    settings.SANDBOX_GATEWAY_ENABLED = False
    settings.DEFAULT_GATEWAY = "sandbox"

    assert "payments.E001" in payment_check_errors()
    with pytest.raises(SystemCheckError, match="DEFAULT_GATEWAY"):
        call_command("check")


def test_a_default_gateway_nobody_registered_fails_the_system_checks(settings):
    settings.DEFAULT_GATEWAY = "freebies"

    assert "payments.E002" in payment_check_errors()


def test_the_enabled_sandbox_as_default_passes_the_system_checks(settings):
    settings.SANDBOX_GATEWAY_ENABLED = True
    settings.DEFAULT_GATEWAY = "sandbox"

    assert not {"payments.E001", "payments.E002"} & set(payment_check_errors())


def test_the_deploy_checks_warn_about_the_sandbox_left_on_without_debug(settings):
    settings.DEBUG = False
    settings.SANDBOX_GATEWAY_ENABLED = True

    warnings = [message.id for message in checks.run_checks(include_deployment_checks=True)]

    assert "payments.W001" in warnings


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
