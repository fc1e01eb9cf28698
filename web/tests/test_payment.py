"""The payment page: the payment methods of the organization's gateway (the sandbox's test
card, Stripe's cards, Xendit's pay links), adding one on the gateway's page, making one
the default, removing one; and the billing details printed on invoices. Per role, per
organization, once per form."""

from __future__ import annotations

import pytest
import stripe
from django.conf import settings
from django.test import Client

from billing.services import payment_method_update, payment_methods_of
from billing_project.tests.world import subscribe
from organizations.models import Organization
from payments.gateways.sandbox import PM_DECLINE, PM_OK
from payments.gateways.stripe_gateway import stripe_customer_id
from payments.tests.fake_stripe import FAKE_SECRET_KEY
from payments.tests.fake_stripe_wallet import with_wallet
from payments.tests.test_stripe import deliver_all
from subscriptions.models import Subscription

from .conftest import form_key_of

pytestmark = pytest.mark.django_db

PAGE = "/account/payment"


def body(response) -> str:
    return response.content.decode()


def post_form(client, path: str, data: dict | None = None, key: str | None = None):
    key = key or form_key_of(body(client.get(PAGE)))
    return client.post(path, {**(data or {}), "idempotency_key": key})


def saved_card(organization) -> str:
    return Subscription.objects.get(organization=organization).payment_method


@pytest.fixture
def on_sandbox(team, pro):
    return subscribe(team.org, pro, gateway="sandbox", payment_method=PM_OK)


@pytest.fixture
def on_stripe(stripe_ready, team, pro):
    """A Stripe subscription charging a Visa, with a Mastercard also on file."""
    with_wallet(stripe_ready)
    subscribe(team.org, pro, gateway="stripe")
    payment_method_update(organization=team.org, payment_method_id="pm_card_visa")
    stripe.PaymentMethod.attach("pm_card_mastercard", customer=stripe_customer_id(team.org), api_key=FAKE_SECRET_KEY)
    return stripe_ready


def cards(organization) -> dict[str, str]:
    return {method.last4: method.id for method in payment_methods_of(organization=organization).methods}


# --- payment methods: the sandbox -------------------------------------------------------------


def test_the_sandbox_card_renewals_charge_is_listed(site, on_sandbox):
    page = site("billing").get(PAGE)

    assert page.status_code == 200
    html = body(page)
    assert "Sandbox test card: payments succeed" in html and PM_OK in html
    assert ">Default<" in html
    assert f"Remove {PM_OK}" in html
    assert "Add a payment method" in html


def test_adding_a_sandbox_card_goes_to_its_page_and_back(site, team, on_sandbox):
    client = site()

    response = post_form(client, "/account/payment/methods/add")

    assert response.status_code == 302
    portal = response["Location"]
    assert portal.startswith(settings.SITE_URL + "/billing/portal/")
    path = portal[len(settings.SITE_URL) :]
    client.post(path, {"action": "payment_method", "payment_method": PM_DECLINE})
    assert saved_card(team.org) == PM_DECLINE
    returned = body(client.get(path))
    assert f'href="{settings.SITE_URL}/account/payment?added=1"' in returned
    back = body(client.get(PAGE + "?added=1"))
    assert "Back from Sandbox" in back and "payments are declined" in back


def test_removing_the_sandbox_card(site, team, on_sandbox):
    client = site()

    response = post_form(client, "/account/payment/methods/remove", {"payment_method_id": PM_OK})

    assert response.status_code == 302 and response["Location"] == PAGE
    assert saved_card(team.org) == ""
    html = body(client.get(PAGE))
    assert "Sandbox test card: payments succeed is removed." in html
    assert "No payment method is saved." in html


def test_removing_a_card_that_is_not_the_organizations_changes_nothing(site, team, on_sandbox):
    client = site()

    response = post_form(client, "/account/payment/methods/remove", {"payment_method_id": PM_DECLINE})

    assert response.status_code == 302
    assert "That payment method is not one of this organization&#x27;s." in body(client.get(PAGE))
    assert saved_card(team.org) == PM_OK


def test_without_a_subscription_the_first_checkout_saves_the_card(site, team):
    html = body(site().get(PAGE))

    assert "No payment method is saved." in html
    assert "Add a payment method" not in html
    assert "the card you pay your first invoice with at checkout is saved" in html


# --- payment methods: Stripe -------------------------------------------------------------------


def test_stripes_cards_are_listed_with_the_default(site, team, on_stripe):
    html = body(site().get(PAGE))

    assert "Visa •••• 4242" in html and "Mastercard •••• 4444" in html
    assert "Make •••• 4444 the default" in html and "Make •••• 4242 the default" not in html
    assert html.count(">Default<") == 1


def test_making_the_mastercard_the_default(site, team, on_stripe):
    mastercard = cards(team.org)["4444"]

    response = post_form(site(), "/account/payment/methods/default", {"payment_method_id": mastercard})

    assert response.status_code == 302
    assert saved_card(team.org) == mastercard
    customer = on_stripe.get(stripe_customer_id(team.org))
    assert customer["invoice_settings"]["default_payment_method"] == mastercard


def test_removing_a_stripe_card_detaches_it(site, team, on_stripe):
    visa = cards(team.org)["4242"]

    post_form(site("billing"), "/account/payment/methods/remove", {"payment_method_id": visa})

    assert on_stripe.calls("POST", f"/v1/payment_methods/{visa}/detach")
    assert saved_card(team.org) == ""
    assert list(cards(team.org)) == ["4444"]


def test_adding_a_stripe_card_opens_a_setup_session_and_lists_the_card_after(site, team, on_stripe):
    client = site()

    response = post_form(client, "/account/payment/methods/add")

    assert response.status_code == 302 and response["Location"].startswith("https://checkout.stripe.com/")
    session = on_stripe.objects("checkout.session")[-1]
    assert session["mode"] == "setup"
    assert session["success_url"] == f"{settings.SITE_URL}/account/payment?added=1"
    deliver_all(on_stripe.complete_setup(session["id"], "pm_card_visa"))
    assert body(client.get(PAGE + "?added=1")).count("Visa •••• 4242") == 2


def test_the_same_add_form_posted_twice_opens_one_setup_page(site, team, on_stripe):
    client = site()
    key = form_key_of(body(client.get(PAGE)))

    first = post_form(client, "/account/payment/methods/add", key=key)
    second = post_form(client, "/account/payment/methods/add", key=key)

    assert second["Location"] == first["Location"]
    assert len([s for s in on_stripe.objects("checkout.session") if s["mode"] == "setup"]) == 1


def test_stripe_down_the_page_still_renders_and_says_so(site, team, on_stripe):
    on_stripe.fail_next("/v1/payment_methods", status=500, method="GET")

    page = site().get(PAGE)

    assert page.status_code == 200
    assert "The payment methods cannot be shown now" in body(page)
    assert "Save billing details" in body(page)


# --- payment methods: Xendit ------------------------------------------------------------------


def test_xendit_is_paid_by_link_and_the_page_says_so(site, team, pro, fake_xendit):
    subscribe(team.org, pro, gateway="xendit")

    html = body(site().get(PAGE))

    assert "Xendit</strong> payment links" in html
    assert "keeps no card on file" in html
    assert "Add a payment method" not in html


def test_adding_on_xendit_is_refused_with_the_reason(site, team, pro, fake_xendit):
    subscribe(team.org, pro, gateway="xendit")
    client = site()

    response = client.post("/account/payment/methods/add", {"idempotency_key": "b" * 32})

    assert response.status_code == 302
    assert "Xendit keeps no payment method" in body(client.get(PAGE))


# --- who may -------------------------------------------------------------------------------------


def test_signed_out_the_page_sends_to_sign_in():
    response = Client().get(PAGE)

    assert response.status_code == 302 and response["Location"] == "/login?next=/account/payment"


def test_a_member_is_refused_the_page_and_its_changes(site, team, on_sandbox):
    member = site("member")

    assert member.get(PAGE).status_code == 403
    response = member.post("/account/payment/methods/remove", {"payment_method_id": PM_OK, "idempotency_key": "c" * 32})
    assert response.status_code == 403
    assert saved_card(team.org) == PM_OK


def test_another_organizations_subscription_is_not_touched(site, team, other_team, pro):
    subscribe(other_team.org, pro, gateway="sandbox", payment_method=PM_OK)

    response = site().post("/account/payment/methods/remove", {"payment_method_id": PM_OK, "idempotency_key": "d" * 32})

    assert response.status_code == 302
    assert saved_card(other_team.org) == PM_OK


def test_the_same_remove_form_twice_acts_once(site, team, on_sandbox):
    client = site()
    key = form_key_of(body(client.get(PAGE)))

    first = post_form(client, "/account/payment/methods/remove", {"payment_method_id": PM_OK}, key=key)
    second = post_form(client, "/account/payment/methods/remove", {"payment_method_id": PM_OK}, key=key)

    assert first.status_code == second.status_code == 302
    assert second["Idempotent-Replayed"] == "true"
    messages = body(client.get(PAGE))
    assert "is removed" in messages and "not one of this organization" not in messages


# --- billing details -------------------------------------------------------------------------------


def details(client, **fields):
    data = {"name": "Acme Team", "billing_email": "", "country": "", **fields}
    return post_form(client, "/account/payment/details", data)


def test_the_owner_saves_the_billing_details(site, team):
    client = site("owner")

    response = details(client, name="Acme GmbH", billing_email="invoices@acme.example", country="DE")

    assert response.status_code == 302 and response["Location"] == PAGE
    team.org.refresh_from_db()
    assert (team.org.name, team.org.billing_email, team.org.country) == ("Acme GmbH", "invoices@acme.example", "DE")
    html = body(client.get(PAGE))
    assert "Billing details saved." in html
    assert 'value="invoices@acme.example"' in html and '<option value="DE" selected>Germany</option>' in html


def test_invalid_billing_details_are_a_400_with_the_errors_and_nothing_saved(site, team):
    before = Organization.objects.values("name", "billing_email", "country").get(pk=team.org.pk)

    response = details(site("admin"), name="", billing_email="not an email", country="XX")

    assert response.status_code == 400
    html = body(response)
    assert "This field is required." in html
    assert "Enter a valid email address." in html
    assert "Select a valid choice. XX is not one of the available choices." in html
    assert Organization.objects.values("name", "billing_email", "country").get(pk=team.org.pk) == before


def test_a_billing_manager_sees_the_details_and_cannot_change_them(site, team):
    client = site("billing")
    html = body(client.get(PAGE))
    assert "Owners and admins change these." in html and "Save billing details" not in html

    response = client.post("/account/payment/details", {"name": "Taken", "idempotency_key": "e" * 32})

    assert response.status_code == 403
    team.org.refresh_from_db()
    assert team.org.name == "Acme Team"


def test_the_billing_details_form_needs_its_key(site, team):
    response = site().post("/account/payment/details", {"name": "No key"})

    assert response.status_code == 400
    team.org.refresh_from_db()
    assert team.org.name == "Acme Team"


def test_tax_id_and_address_are_saved_and_printed_on_the_next_invoice(site, team):
    import io

    import pdfplumber

    from invoices.pdf import invoice_pdf_bytes
    from invoices.tests.factories import InvoiceFactory

    response = details(
        site("owner"), name="Acme GmbH", tax_id="DE123456789", billing_address="Hauptstr. 1\n10115 Berlin"
    )
    assert response.status_code == 302
    team.org.refresh_from_db()
    assert (team.org.tax_id, team.org.billing_address) == ("DE123456789", "Hauptstr. 1\n10115 Berlin")

    invoice = InvoiceFactory(organization=team.org, lines=[1000], finalized=True)
    assert (invoice.billing_tax_id, invoice.billing_address) == ("DE123456789", "Hauptstr. 1\n10115 Berlin")
    with pdfplumber.open(io.BytesIO(invoice_pdf_bytes(invoice))) as pdf:
        text = " ".join(pdf.pages[0].extract_text().split())  # the buyer column wraps its lines
    assert "Tax ID: DE123456789" in text and "Hauptstr. 1" in text and "10115 Berlin" in text, text

    # Issued, the invoice keeps what it was issued with.
    details(site("owner"), name="Acme GmbH", tax_id="DE999", billing_address="Elsewhere 2")
    invoice.refresh_from_db()
    assert invoice.billing_tax_id == "DE123456789"


def test_a_tax_id_too_long_is_refused(site, team):
    response = details(site("owner"), tax_id="X" * 65)
    assert response.status_code == 400
    assert "Ensure this value has at most 64 characters" in body(response)
