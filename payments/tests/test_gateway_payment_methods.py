"""The payment methods a gateway keeps for an organization: listed, added on the gateway's
hosted page, detached. Stripe against the fake Stripe API (with the wallet endpoints of
fake_stripe_wallet), the sandbox's test cards, and Xendit and Midtrans, which keep none.
Also: a Stripe pay link made with success and cancel URLs sends the browser back there."""

from __future__ import annotations

import pytest
import stripe
from django.conf import settings

from billing.services import (
    invoice_pay_link,
    payment_method_remove,
    payment_method_setup_url,
    payment_method_update,
    payment_methods_of,
)
from billing_project.errors import NotFound
from billing_project.tests.world import subscribe
from invoices.tests.factories import InvoiceFactory
from payments.gateways import get_gateway
from payments.gateways.base import GatewayError
from payments.gateways.sandbox import PM_DECLINE, PM_OK
from payments.gateways.stripe_gateway import stripe_customer_id
from payments.models import Payment

from .fake_stripe import FAKE_SECRET_KEY
from .fake_stripe_wallet import with_wallet
from .test_stripe import deliver_all

pytestmark = pytest.mark.django_db

RETURN = "http://localhost:3000/settings/billing"


@pytest.fixture
def wallet(stripe_ready):
    return with_wallet(stripe_ready)


def attach(organization, token: str) -> str:
    return stripe.PaymentMethod.attach(token, customer=stripe_customer_id(organization), api_key=FAKE_SECRET_KEY)["id"]


# --- Stripe -------------------------------------------------------------------------------


def test_stripe_lists_the_cards_of_the_organizations_customer(wallet, org, other_team):
    visa, mastercard = attach(org, "pm_card_visa"), attach(org, "pm_card_mastercard")
    attach(other_team.org, "pm_card_visa")

    methods = get_gateway("stripe").payment_methods(organization=org)

    assert [(m.id, m.brand, m.last4) for m in methods] == [(visa, "visa", "4242"), (mastercard, "mastercard", "4444")]
    assert methods[0].expires.startswith("12/")
    assert wallet.calls("GET", "/v1/payment_methods")[-1].params == {
        "customer": stripe_customer_id(org),
        "type": "card",
        "limit": "100",
    }


def test_listing_never_creates_a_stripe_customer(wallet, org):
    assert get_gateway("stripe").payment_methods(organization=org) == []
    assert not wallet.calls("POST", "/v1/customers")


def test_a_card_saved_on_stripes_setup_page_is_listed_and_becomes_the_renewal_card(wallet, org, pro):
    subscription = subscribe(org, pro, gateway="stripe")

    url = payment_method_setup_url(organization=org, success_url=RETURN + "?added=1", cancel_url=RETURN)

    assert url.startswith("https://checkout.stripe.com/")
    session = wallet.objects("checkout.session")[-1]
    assert (session["mode"], session["success_url"], session["cancel_url"]) == ("setup", RETURN + "?added=1", RETURN)
    assert wallet.calls("POST", "/v1/checkout/sessions")[-1].params["payment_method_types"] == ["card"]
    deliver_all(wallet.complete_setup(session["id"], "pm_card_mastercard"))
    listed = payment_methods_of(organization=org)
    assert [method.last4 for method in listed.methods] == ["4444"]
    subscription.refresh_from_db()
    assert subscription.payment_method == listed.methods[0].id == listed.charged


def test_making_another_stripe_card_the_default_and_removing_the_old_one(wallet, org, pro):
    subscription = subscribe(org, pro, gateway="stripe")
    payment_method_update(organization=org, payment_method_id="pm_card_visa")
    visa = payment_methods_of(organization=org).charged
    mastercard = attach(org, "pm_card_mastercard")

    payment_method_update(organization=org, payment_method_id=mastercard)
    payment_method_remove(organization=org, payment_method_id=visa)

    subscription.refresh_from_db()
    assert subscription.payment_method == mastercard
    assert [method.id for method in payment_methods_of(organization=org).methods] == [mastercard]
    assert wallet.calls("POST", f"/v1/payment_methods/{visa}/detach")


def test_removing_the_renewal_card_leaves_renewals_without_one(wallet, org, pro):
    subscription = subscribe(org, pro, gateway="stripe")
    payment_method_update(organization=org, payment_method_id="pm_card_visa")
    card = payment_methods_of(organization=org).charged

    payment_method_remove(organization=org, payment_method_id=card)
    deliver_all(wallet.take_events("payment_method.detached"))

    subscription.refresh_from_db()
    assert subscription.payment_method == ""
    assert payment_methods_of(organization=org).methods == []


def test_another_customers_card_is_never_detached(wallet, org, other_team, pro):
    subscribe(org, pro, gateway="stripe")
    attach(org, "pm_card_visa")
    theirs = attach(other_team.org, "pm_card_visa")

    with pytest.raises(NotFound):
        payment_method_remove(organization=org, payment_method_id=theirs)
    with pytest.raises(GatewayError):
        get_gateway("stripe").payment_method_detach(organization=org, payment_method=theirs)

    assert wallet.get(theirs)["customer"] == stripe_customer_id(other_team.org)
    assert not wallet.calls("POST", f"/v1/payment_methods/{theirs}/detach")


def test_stripe_failing_to_list_is_a_gateway_error(wallet, org):
    attach(org, "pm_card_visa")
    wallet.fail_next("/v1/payment_methods", status=500, method="GET")

    with pytest.raises(GatewayError):
        get_gateway("stripe").payment_methods(organization=org)


def test_a_stripe_pay_link_with_urls_sends_the_browser_back_there(wallet, org):
    invoice = InvoiceFactory(organization=org, lines=[2999], finalized=True)

    invoice_pay_link(
        organization=org, invoice_id=invoice.pk, gateway_name="stripe", success_url=RETURN, cancel_url=RETURN + "?no"
    )

    params = wallet.calls("POST", "/v1/checkout/sessions")[-1].params
    assert (params["success_url"], params["cancel_url"]) == (RETURN, RETURN + "?no")
    assert Payment.objects.get(invoice=invoice).success_url == RETURN


def test_a_pay_link_refuses_a_return_url_off_the_allowed_hosts(org, pro):
    subscribe(org, pro, gateway="sandbox")
    invoice = InvoiceFactory(organization=org, lines=[2999], finalized=True)

    from billing_project.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        invoice_pay_link(organization=org, invoice_id=invoice.pk, success_url="https://evil.example/")

    assert not Payment.objects.exists()


# --- the sandbox ----------------------------------------------------------------------------


def test_the_sandbox_holds_the_test_card_that_is_charged(org, pro):
    subscribe(org, pro, gateway="sandbox", payment_method=PM_DECLINE)

    listed = payment_methods_of(organization=org)

    assert (listed.gateway, listed.keeps_methods, listed.charged) == ("sandbox", True, PM_DECLINE)
    assert [(m.id, m.brand) for m in listed.methods] == [(PM_DECLINE, "Sandbox test card: payments are declined")]
    assert get_gateway("sandbox").payment_methods(organization=org, charged="pm_unknown") == []


def test_the_sandboxs_page_to_add_a_card_is_the_billing_portal(org, pro, client):
    subscribe(org, pro, gateway="sandbox", payment_method="")

    url = payment_method_setup_url(organization=org, success_url=RETURN, cancel_url=RETURN)

    assert "/billing/portal/" in url
    page = client.get(url[len(settings.SITE_URL) :])
    assert page.status_code == 200 and PM_OK in page.content.decode()


def test_removing_the_sandbox_card_stops_renewals_charging_it(org, pro):
    subscription = subscribe(org, pro, gateway="sandbox", payment_method=PM_OK)

    payment_method_remove(organization=org, payment_method_id=PM_OK)

    subscription.refresh_from_db()
    assert subscription.payment_method == ""
    with pytest.raises(NotFound):
        payment_method_remove(organization=org, payment_method_id=PM_OK)


# --- gateways paid by link ------------------------------------------------------------------


def test_xendit_keeps_no_payment_methods(fake_xendit, org, pro):
    subscribe(org, pro, gateway="xendit")

    listed = payment_methods_of(organization=org)

    assert (listed.gateway, listed.keeps_methods, listed.methods) == ("xendit", False, [])
    with pytest.raises(GatewayError, match="paid through its payment link"):
        payment_method_setup_url(organization=org, success_url=RETURN, cancel_url=RETURN)
