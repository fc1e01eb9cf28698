"""POST /api/v1/billing/portal and the billing portal page it links to."""

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from invoices.models import Invoice
from invoices.services import invoice_for_first_period
from payments.models import Payment
from payments.tests.support import (
    PORTAL,
    RETURN_URL,
    assert_error,
    assert_ok,
    sandbox_page,
    sandbox_press,
    site_path,
    subscribe,
)
from subscriptions.models import Subscription

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscription(org, pro):
    return subscribe(org, pro)


@pytest.fixture
def open_invoice(subscription):
    return invoice_for_first_period(subscription=subscription)


def portal_url(client, return_url: str = RETURN_URL) -> str:
    return assert_ok(client.post(PORTAL, {"return_url": return_url}, format="json"))["portal_url"]


def portal_path(client) -> str:
    return site_path(portal_url(client))


def token_of(path: str) -> str:
    return urlparse(path).path.rstrip("/").split("/")[-1]


def test_portal_returns_a_link_to_this_sites_billing_page_with_the_return_url(owner, subscription):
    url = portal_url(owner)

    parts = urlparse(url)
    assert parts.path.startswith("/billing/portal/")
    assert parse_qs(parts.query) == {"return_url": [RETURN_URL]}


def test_the_portal_page_shows_the_plan_status_and_invoices(owner, org, open_invoice):
    page = Client().get(portal_path(owner))

    assert page.status_code == 200
    html = page.content.decode()
    assert org.name in html
    assert "Pro ($29.99 / month)" in html
    assert "Active" in html
    assert open_invoice.number in html
    assert 'value="pay"' in html
    assert f'href="{RETURN_URL}"' in html


def test_the_portal_page_without_a_subscription_says_free_plan(owner):
    page = Client().get(portal_path(owner))

    assert page.status_code == 200
    assert "No subscription" in page.content.decode()


def test_changing_the_payment_method_in_the_portal_saves_it(owner, subscription):
    response = Client().post(portal_path(owner), {"action": "payment_method", "payment_method": "pm_sandbox_decline"})

    assert response.status_code == 200
    assert "Payment method saved." in response.content.decode()
    subscription.refresh_from_db()
    assert subscription.payment_method == "pm_sandbox_decline"


def test_an_invalid_payment_method_in_the_portal_is_refused_and_kept(owner, subscription):
    response = Client().post(portal_path(owner), {"action": "payment_method", "payment_method": "pm_card_visa"})

    assert response.status_code == 200
    assert "Not a valid sandbox payment method" in response.content.decode()
    subscription.refresh_from_db()
    assert subscription.payment_method == "pm_sandbox_ok"


def test_cancel_in_the_portal_cancels_at_the_period_end(owner, subscription):
    response = Client().post(portal_path(owner), {"action": "cancel"})

    assert response.status_code == 200
    html = response.content.decode()
    assert "will end at the end of the period" in html
    assert 'value="reactivate"' in html
    subscription.refresh_from_db()
    assert (subscription.status, subscription.cancel_at_period_end) == ("active", True)


def test_reactivate_in_the_portal_keeps_the_subscription(owner, subscription):
    path = portal_path(owner)
    Client().post(path, {"action": "cancel"})

    response = Client().post(path, {"action": "reactivate"})

    assert "Your subscription continues." in response.content.decode()
    subscription.refresh_from_db()
    assert (subscription.cancel_at_period_end, subscription.canceled_at) == (False, None)


def test_paying_an_open_invoice_in_the_portal_redirects_to_the_sandbox_page(owner, open_invoice):
    response = Client().post(portal_path(owner), {"action": "pay", "invoice": str(open_invoice.pk)})

    assert response.status_code == 302
    payment = Payment.objects.get(invoice=open_invoice)
    assert (payment.kind, payment.status) == ("pay_link", "pending")
    assert response["Location"] == payment.checkout_url
    page = sandbox_page(response["Location"])
    assert page.status_code == 200
    assert open_invoice.number in page.content.decode()


def test_paying_on_the_page_the_portal_sent_to_marks_the_invoice_paid(owner, open_invoice):
    response = Client().post(portal_path(owner), {"action": "pay", "invoice": str(open_invoice.pk)})

    sandbox_press(response["Location"], "pay")

    open_invoice.refresh_from_db()
    assert open_invoice.status == "paid"
    assert open_invoice.amount_paid_cents == open_invoice.total_cents


def test_paying_another_organizations_invoice_in_the_portal_is_refused(owner, subscription, other_team, pro):
    theirs = invoice_for_first_period(subscription=subscribe(other_team.org, pro))

    response = Client().post(portal_path(owner), {"action": "pay", "invoice": str(theirs.pk)})

    assert response.status_code == 200
    assert "Invoice not found." in response.content.decode()
    assert not Payment.objects.filter(invoice=theirs).exists()


def test_a_portal_link_expires_after_an_hour(owner, subscription):
    path = portal_path(owner)

    with time_machine.travel(timezone.now() + timedelta(hours=1, seconds=5)):
        page = Client().get(path)

    assert page.status_code == 404


def test_an_expired_portal_link_cannot_act(owner, subscription):
    path = portal_path(owner)

    with time_machine.travel(timezone.now() + timedelta(hours=1, seconds=5)):
        response = Client().post(path, {"action": "cancel"})

    assert response.status_code == 404
    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end is False


def test_a_portal_link_works_just_before_the_hour(owner, subscription):
    path = portal_path(owner)

    with time_machine.travel(timezone.now() + timedelta(minutes=59)):
        assert Client().get(path).status_code == 200


def test_a_tampered_portal_link_is_404(owner, other_team, subscription):
    path = portal_path(owner)
    token = token_of(path)
    rest = token.split(":", 1)[1]
    forged = f"{other_team.org.pk}:{rest}"

    assert Client().get(path.replace(token, forged)).status_code == 404
    assert Client().get(path.replace(token, token[:-2] + "xx")).status_code == 404
    assert Client().post(path.replace(token, forged), {"action": "cancel"}).status_code == 404
    assert not Subscription.objects.filter(cancel_at_period_end=True).exists()


@pytest.mark.parametrize("return_url", ["https://evil.example.com/back", "ftp://localhost/back"])
def test_the_return_url_must_be_on_an_allowed_host(owner, subscription, return_url):
    error = assert_error(owner.post(PORTAL, {"return_url": return_url}, format="json"), 400, "validation_error")

    assert "return_url" in error["details"]


def test_a_member_may_not_open_the_portal(team, subscription):
    response = team.client("member").post(PORTAL, {"return_url": RETURN_URL}, format="json")

    assert_error(response, 403, "permission_denied")


def test_the_portal_requires_authentication(api_client):
    assert_error(api_client.post(PORTAL, {"return_url": RETURN_URL}, format="json"), 401, "not_authenticated")


def test_the_portal_lists_only_this_organizations_invoices(owner, open_invoice, other_team, pro):
    theirs = invoice_for_first_period(subscription=subscribe(other_team.org, pro))

    html = Client().get(portal_path(owner)).content.decode()

    assert open_invoice.number in html
    assert theirs.number not in html
    assert Invoice.objects.count() == 2
