"""POST /api/v1/invoices/{id}/pay and POST /api/v1/credits/purchase."""

import uuid

import pytest

from credits.models import CreditLedgerEntry
from invoices.models import Invoice
from invoices.services import invoice_for_first_period, invoice_mark_paid, invoice_void
from payments.models import Payment
from payments.tests.support import (
    CANCEL_URL,
    CREDITS_BALANCE,
    CREDITS_PURCHASE,
    PRO_PRICE_CENTS,
    SUCCESS_URL,
    assert_error,
    assert_ok,
    pay_url,
    post_webhook,
    sandbox_page,
    sandbox_press,
    subscribe,
    success_event_for,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def open_invoice(org, pro):
    return invoice_for_first_period(subscription=subscribe(org, pro))


# --- invoices/{id}/pay -----------------------------------------------------------------


def test_pay_an_open_invoice_returns_a_payment_intent_url(owner, open_invoice):
    data = assert_ok(owner.post(pay_url(open_invoice)))

    payment = Payment.objects.get(invoice=open_invoice)
    assert data == {"payment_intent_url": payment.checkout_url, "session_id": str(payment.pk)}
    assert (payment.kind, payment.status, payment.amount_cents) == ("pay_link", "pending", PRO_PRICE_CENTS)
    assert payment.reference.startswith("sbx_pl_")


def test_the_payment_intent_url_opens_the_sandbox_page(owner, open_invoice):
    data = assert_ok(owner.post(pay_url(open_invoice)))

    page = sandbox_page(data["payment_intent_url"])

    assert page.status_code == 200
    html = page.content.decode()
    assert open_invoice.number in html
    assert "$29.99" in html


def test_paying_on_the_sandbox_page_marks_the_invoice_paid(owner, open_invoice):
    data = assert_ok(owner.post(pay_url(open_invoice)))

    response = sandbox_press(data["payment_intent_url"], "pay")

    assert response.status_code == 302  # a pay link has no success URL: back to the page
    open_invoice.refresh_from_db()
    assert (open_invoice.status, open_invoice.amount_paid_cents) == ("paid", PRO_PRICE_CENTS)
    assert Payment.objects.get(invoice=open_invoice).status == "succeeded"
    assert "Payment received" in sandbox_page(data["payment_intent_url"]).content.decode()


def test_declining_on_the_sandbox_page_leaves_the_invoice_open(owner, open_invoice):
    data = assert_ok(owner.post(pay_url(open_invoice)))

    sandbox_press(data["payment_intent_url"], "decline")

    open_invoice.refresh_from_db()
    assert open_invoice.status == "open"
    assert Payment.objects.get(invoice=open_invoice).status == "failed"


def test_pay_a_paid_invoice_is_409(owner, open_invoice):
    invoice_mark_paid(invoice=open_invoice)

    assert_error(owner.post(pay_url(open_invoice)), 409, "conflict")
    assert not Payment.objects.filter(invoice=open_invoice).exists()


def test_pay_a_void_invoice_is_409(owner, open_invoice):
    invoice_void(invoice=open_invoice)

    assert_error(owner.post(pay_url(open_invoice)), 409, "conflict")
    assert not Payment.objects.filter(invoice=open_invoice).exists()


def test_pay_another_organizations_invoice_is_404(owner, other_team, pro):
    theirs = invoice_for_first_period(subscription=subscribe(other_team.org, pro))

    assert_error(owner.post(pay_url(theirs)), 404, "not_found")
    assert not Payment.objects.filter(invoice=theirs).exists()


def test_pay_an_unknown_invoice_is_404(owner):
    response = owner.post(f"/api/v1/invoices/{uuid.uuid4()}/pay")

    assert_error(response, 404, "not_found")


def test_a_member_may_not_pay_an_invoice(team, open_invoice):
    assert_error(team.client("member").post(pay_url(open_invoice)), 403, "permission_denied")
    assert not Payment.objects.filter(invoice=open_invoice).exists()


# --- credits/purchase ------------------------------------------------------------------


def purchase(client, amount_cents, **overrides):
    body = {"amount_cents": amount_cents, "success_url": SUCCESS_URL, "cancel_url": CANCEL_URL, **overrides}
    return client.post(CREDITS_PURCHASE, body, format="json")


def balance(client) -> int:
    return assert_ok(client.get(CREDITS_BALANCE))["balance_cents"]


def test_credits_purchase_opens_a_checkout_for_a_top_up_invoice(owner, org):
    data = assert_ok(purchase(owner, 5000))

    payment = Payment.objects.get(pk=data["session_id"])
    assert data["checkout_url"] == payment.checkout_url
    assert data["status"] == "pending"
    assert (payment.kind, payment.amount_cents, payment.status) == ("checkout", 5000, "pending")
    invoice = payment.invoice
    assert (invoice.reason, invoice.status, invoice.total_cents) == ("credit_purchase", "open", 5000)
    assert invoice.subscription is None
    assert balance(owner) == 0


def test_paying_a_top_up_adds_exactly_that_credit(owner, org):
    data = assert_ok(purchase(owner, 5000))

    response = sandbox_press(data["checkout_url"], "pay")

    assert response.status_code == 302
    assert response["Location"] == f"{SUCCESS_URL}?session_id={data['session_id']}"
    assert balance(owner) == 5000
    assert Invoice.objects.get(organization=org).status == "paid"


def test_checkout_success_of_a_paid_top_up_is_paid_without_a_subscription(owner):
    data = assert_ok(purchase(owner, 5000))
    sandbox_press(data["checkout_url"], "pay")

    status = assert_ok(owner.get("/api/v1/checkout/success", {"session_id": data["session_id"]}))

    assert status == {"status": "paid", "subscription": None}


def test_a_replayed_success_event_adds_no_more_credit(owner, org):
    data = assert_ok(purchase(owner, 5000))
    payment = Payment.objects.get(pk=data["session_id"])
    body, signature = success_event_for(payment)
    assert post_webhook(body, signature).status_code == 200

    replay = post_webhook(body, signature)

    assert replay.status_code == 200
    assert replay.json() == {"received": True}
    assert balance(owner) == 5000
    assert CreditLedgerEntry.objects.filter(organization=org, kind="purchase").count() == 1


def test_a_second_success_event_for_a_paid_top_up_adds_no_more_credit(owner, org):
    data = assert_ok(purchase(owner, 5000))
    sandbox_press(data["checkout_url"], "pay")

    again = post_webhook(*success_event_for(Payment.objects.get(pk=data["session_id"])))

    assert again.status_code == 200
    assert balance(owner) == 5000


def test_a_declined_top_up_adds_no_credit(owner):
    data = assert_ok(purchase(owner, 5000))

    sandbox_press(data["checkout_url"], "decline")

    assert balance(owner) == 0


def test_credit_bought_is_spent_on_the_next_invoice(owner, org, pro):
    data = assert_ok(purchase(owner, 5000))
    sandbox_press(data["checkout_url"], "pay")

    invoice = invoice_for_first_period(subscription=subscribe(org, pro))

    assert (invoice.credit_applied_cents, invoice.total_cents, invoice.status) == (PRO_PRICE_CENTS, 0, "paid")
    assert balance(owner) == 5000 - PRO_PRICE_CENTS


@pytest.mark.parametrize("amount", [0, -100])
def test_a_purchase_of_zero_or_less_is_400_and_creates_nothing(owner, org, amount):
    error = assert_error(purchase(owner, amount), 400, "validation_error")

    assert "amount_cents" in error["details"]
    assert not Invoice.objects.filter(organization=org).exists()
    assert not Payment.objects.filter(organization=org).exists()


def test_a_purchase_with_a_foreign_success_url_is_400(owner, org):
    error = assert_error(purchase(owner, 5000, success_url="https://evil.example.com/x"), 400, "validation_error")

    assert "success_url" in error["details"]
    assert not Invoice.objects.filter(organization=org).exists()


def test_a_member_may_not_buy_credit(team, org):
    assert_error(purchase(team.client("member"), 5000), 403, "permission_denied")
    assert not Invoice.objects.filter(organization=org).exists()
