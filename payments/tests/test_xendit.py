"""Xendit as a gateway, end to end against the fake Xendit API (payments/tests/fake_xendit.py):
checkout -> callback -> subscription active; renewals and dunning by emailed pay links;
refunds through Xendit or recorded as manual; refused, replayed and unknown callbacks."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from django.test import Client

from billing.services import payment_refund
from billing_project.tests.world import utc
from invoices.models import Invoice
from payments.models import Payment, Refund
from plans.tests.factories import PlanFactory
from subscriptions.models import Subscription
from subscriptions.services import subscription_create
from webhooks.models import InboundEvent

from .support import (
    CHECKOUT,
    CHECKOUT_SUCCESS,
    SUCCESS_URL,
    UPGRADE,
    assert_error,
    assert_ok,
    counts,
    cycle,
    start_checkout,
)

pytestmark = pytest.mark.django_db

PRICE = 450_000  # Rp450.000: IDR is whole rupiah (exponent 0)


@pytest.fixture
def idr_plan(db):
    return PlanFactory(code="pro-idr", name="Pro", price_cents=PRICE, currency="IDR")


@pytest.fixture
def id_org(org):
    org.country, org.currency, org.billing_email = "ID", "IDR", "finance@contoh.co.id"
    org.save()
    return org


def deliver(payload: dict, token: str | None):
    headers = {} if token is None else {"HTTP_X_CALLBACK_TOKEN": token}
    return Client().post("/webhooks/xendit", data=json.dumps(payload), content_type="application/json", **headers)


def deliver_ok(fake, payload: dict) -> None:
    response = deliver(payload, fake.callback_token)
    assert response.status_code == 200, response.content
    assert response.json() == {"received": True}


def post_checkout(owner, plan):
    """POST checkout/create naming Xendit; the raw response."""
    body = {"plan_id": str(plan.pk), "success_url": SUCCESS_URL, "cancel_url": SUCCESS_URL, "gateway": "xendit"}
    return owner.post(CHECKOUT, body, format="json")


def xendit_checkout(owner, plan) -> tuple[dict, Payment]:
    data = start_checkout(owner, plan, gateway="xendit")
    return data, Payment.objects.get(pk=data["session_id"])


def state(payment: Payment) -> dict:
    payment.refresh_from_db()
    invoice = Invoice.objects.get(pk=payment.invoice_id)
    subscription = invoice.subscription
    return {
        "payment": payment.status,
        "invoice": invoice.status,
        "paid": invoice.amount_paid_cents,
        "subscription": subscription.status if subscription else None,
        "refunded": payment.amount_refunded_cents,
        "events": InboundEvent.objects.count(),
    }


# --- checkout -------------------------------------------------------------------------


def test_checkout_pays_through_a_xendit_invoice_and_the_callback_activates(fake_xendit, owner, id_org, idr_plan):
    data, payment = xendit_checkout(owner, idr_plan)

    sent = fake_xendit.calls("POST", "/v2/invoices")[0].body
    assert sent["external_id"] == str(payment.invoice_id)
    assert (sent["amount"], sent["currency"]) == (PRICE, "IDR")
    assert sent["payer_email"] == "finance@contoh.co.id"
    assert sent["invoice_duration"] == 72 * 3600  # PAY_LINK_HOURS
    assert sent["success_redirect_url"] == f"{SUCCESS_URL}?session_id={payment.pk}"  # for checkout/success
    assert data["checkout_url"] == fake_xendit.invoice(payment.reference)["invoice_url"]
    assert data["status"] == "incomplete"

    deliver_ok(fake_xendit, fake_xendit.pay(payment.reference))

    assert state(payment) | {"events": 0} == {
        "payment": "succeeded",
        "invoice": "paid",
        "paid": PRICE,
        "subscription": "active",
        "refunded": 0,
        "events": 0,
    }
    assert payment.payment_method == "EWALLET/OVO"
    assert not Subscription.objects.get(pk=data["subscription_id"]).payment_method  # nothing to charge later
    assert assert_ok(owner.get(CHECKOUT_SUCCESS, {"session_id": data["session_id"]}))["status"] == "paid"

    # SETTLED follows PAID: acknowledged, nothing changes
    before = state(payment)
    deliver_ok(fake_xendit, fake_xendit.settle(payment.reference))
    assert state(payment) == before | {"events": before["events"] + 1}
    fake_xendit.assert_all_handled()


def test_an_indonesian_organization_pays_with_the_configured_default(fake_xendit, settings, owner, id_org, idr_plan):
    settings.INDONESIA_DEFAULT_GATEWAY = "xendit"

    data = start_checkout(owner, idr_plan)

    payment = Payment.objects.get(pk=data["session_id"])
    assert payment.gateway == "xendit"
    assert data["checkout_url"].startswith("https://checkout.xendit.co/web/")


def test_a_usd_plan_for_an_indonesian_organization_falls_back_to_the_default_gateway(fake_xendit, owner, id_org, pro):
    data = start_checkout(owner, pro)

    assert Payment.objects.get(pk=data["session_id"]).gateway == "sandbox"
    assert not fake_xendit.calls("POST", "/v2/invoices")


def test_a_currency_xendit_does_not_take_is_a_clear_400_and_nothing_is_made(fake_xendit, owner, id_org, pro):
    before = counts(id_org)

    response = post_checkout(owner, pro)

    error = assert_error(response, 400, "validation_error")
    assert "xendit gateway does not take payments in USD" in json.dumps(error)
    assert counts(id_org) == before


def test_without_keys_xendit_is_off(settings, owner, id_org, idr_plan):
    settings.XENDIT_SECRET_KEY = ""

    response = post_checkout(owner, idr_plan)

    assert "not configured" in json.dumps(assert_error(response, 400, "validation_error"))
    health = Client().get("/health/detailed").json()
    assert health["data"]["gateways"]["xendit"] == "not configured"


@pytest.mark.parametrize("failure", ["500", "timeout", "refused"])
def test_xendit_failing_at_checkout_is_a_502_and_nothing_is_half_made(
    fake_xendit, settings, owner, id_org, idr_plan, failure
):
    if failure == "500":
        fake_xendit.fail_next("/v2/invoices", status=500)
    elif failure == "timeout":
        settings.GATEWAY_TIMEOUT_SECONDS = 0.3
        fake_xendit.delay_next("/v2/invoices", 2, drop=True)
    else:
        fake_xendit.min_amount = PRICE + 1  # Xendit's MINIMAL_TRANSFER_AMOUNT_ERROR
    before = counts(id_org)

    response = post_checkout(owner, idr_plan)

    error = assert_error(response, 502, "gateway_error")
    if failure == "refused":
        assert "MINIMAL_TRANSFER_AMOUNT_ERROR" in error["message"]
    assert counts(id_org) == before


# --- callbacks that are refused, replayed or unknown -------------------------------------


@pytest.mark.parametrize("token", [None, "", "wrong-token", "fake-callback-token"])
def test_a_missing_or_wrong_callback_token_is_401_and_nothing_changes(fake_xendit, owner, id_org, idr_plan, token):
    _, payment = xendit_checkout(owner, idr_plan)
    before = state(payment)

    response = deliver(fake_xendit.pay(payment.reference), token)

    assert_error(response, 401, "authentication_failed")
    assert state(payment) == before


def test_a_tampered_amount_is_refused_and_nothing_changes(fake_xendit, owner, id_org, idr_plan):
    _, payment = xendit_checkout(owner, idr_plan)
    before = state(payment)
    callback = fake_xendit.pay(payment.reference)

    for field, value in (("paid_amount", 10_000), ("currency", "USD")):
        response = deliver({**callback, field: value}, fake_xendit.callback_token)
        assert_error(response, 400, "amount_mismatch")

    assert state(payment) == before


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"status": "PAID"}'])
def test_a_malformed_callback_is_400(fake_xendit, body):
    response = Client().post(
        "/webhooks/xendit", data=body, content_type="application/json", HTTP_X_CALLBACK_TOKEN=fake_xendit.callback_token
    )

    assert_error(response, 400, "invalid_signature")
    assert InboundEvent.objects.count() == 0


def test_a_replayed_callback_is_200_and_changes_nothing(fake_xendit, owner, id_org, idr_plan):
    _, payment = xendit_checkout(owner, idr_plan)
    callback = fake_xendit.pay(payment.reference)
    deliver_ok(fake_xendit, callback)
    after_first = state(payment)

    for _ in range(3):
        deliver_ok(fake_xendit, callback)

    assert state(payment) == after_first
    assert InboundEvent.objects.get().attempts == 1


def test_a_callback_for_an_unknown_invoice_is_acknowledged_and_logged(fake_xendit, owner, id_org, idr_plan, caplog):
    _, payment = xendit_checkout(owner, idr_plan)
    before = state(payment)
    callback = fake_xendit.pay(payment.reference) | {"id": "579c8d61f23fa4ca35e52da4", "external_id": "invoice_123"}

    with caplog.at_level(logging.WARNING, logger="billing.services"):
        deliver_ok(fake_xendit, callback)

    assert "579c8d61f23fa4ca35e52da4" in caplog.text
    assert InboundEvent.objects.get().outcome == "ignored"
    assert state(payment) == before | {"events": 1}


def test_xendits_documented_sample_callback_is_accepted(fake_xendit):
    """The invoice callback sample from Xendit's docs, for an invoice this server never made."""
    sample = {
        "id": "579c8d61f23fa4ca35e52da4",
        "external_id": "invoice_123124123",
        "user_id": "5781d19b2e2385880609791c",
        "is_high": True,
        "payment_method": "BANK_TRANSFER",
        "status": "PAID",
        "merchant_name": "Xendit",
        "amount": 50000,
        "paid_amount": 50000,
        "bank_code": "PERMATA",
        "paid_at": "2016-10-12T08:15:03.404Z",
        "payer_email": "wildan@xendit.co",
        "description": "This is a description",
        "adjusted_received_amount": 47500,
        "fees_paid_amount": 0,
        "updated": "2016-10-10T08:15:03.404Z",
        "created": "2016-10-10T08:15:03.404Z",
        "currency": "IDR",
        "payment_channel": "PERMATA",
        "payment_destination": "888888888888",
    }

    deliver_ok(fake_xendit, sample)

    event = InboundEvent.objects.get()
    assert (event.event_id, event.outcome) == ("invoice:579c8d61f23fa4ca35e52da4:PAID", "ignored")


def test_an_expired_checkout_link_fails_the_payment_and_a_new_checkout_replaces_it(
    fake_xendit, owner, id_org, idr_plan
):
    _, payment = xendit_checkout(owner, idr_plan)

    deliver_ok(fake_xendit, fake_xendit.expire(payment.reference))

    assert state(payment)["payment"] == "failed"
    assert "expired" in payment.failure_reason
    _, again = xendit_checkout(owner, idr_plan)
    deliver_ok(fake_xendit, fake_xendit.pay(again.reference, "CREDIT_CARD"))
    assert state(again)["subscription"] == "active"


# --- renewals and dunning by pay link ----------------------------------------------------


@pytest.fixture
def renewing(fake_xendit, id_org, idr_plan):
    return subscription_create(
        organization=id_org, plan=idr_plan, start=utc(2026, 1, 31), status="active", trial_days=0, gateway="xendit"
    )


def test_a_renewal_sends_a_new_xendit_pay_link_by_email(
    fake_xendit, renewing, mailoutbox, django_capture_on_commit_callbacks
):
    cycle(utc(2026, 2, 28, 2), django_capture_on_commit_callbacks)

    invoice = Invoice.objects.get(subscription=renewing, status="open")
    payment = Payment.objects.get(invoice=invoice)
    assert (payment.kind, payment.attempt, payment.gateway) == ("pay_link", 1, "xendit")
    assert fake_xendit.invoice(payment.reference)["external_id"] == str(invoice.pk)
    link_mails = [mail for mail in mailoutbox if payment.checkout_url in mail.body]
    assert len(link_mails) == 1 and link_mails[0].to == ["finance@contoh.co.id"]
    assert "Rp" in link_mails[0].body

    deliver_ok(fake_xendit, fake_xendit.pay(payment.reference, "BANK_TRANSFER", "MANDIRI"))

    invoice.refresh_from_db()
    renewing.refresh_from_db()
    assert (invoice.status, renewing.status) == ("paid", "active")
    cycle(utc(2026, 2, 28, 3), django_capture_on_commit_callbacks)  # a repeated run sends no second link
    assert Payment.objects.filter(invoice=invoice).count() == 1


def test_expired_links_walk_the_dunning_schedule_and_paying_the_last_one_reactivates(
    fake_xendit, renewing, mailoutbox, django_capture_on_commit_callbacks
):
    start = utc(2026, 2, 28, 2)
    cycle(start, django_capture_on_commit_callbacks)
    invoice = Invoice.objects.get(subscription=renewing, status="open")

    for attempt, days in enumerate((1, 3, 5), start=2):
        link = Payment.objects.get(invoice=invoice, attempt=attempt - 1)
        deliver_ok(fake_xendit, fake_xendit.expire(link.reference))
        assert state(link)["payment"] == "failed"
        cycle(start + timedelta(days=days, minutes=1), django_capture_on_commit_callbacks)
        fresh = Payment.objects.get(invoice=invoice, attempt=attempt)
        assert fresh.kind == "pay_link" and fresh.reference != link.reference
        assert any(fresh.checkout_url in mail.body for mail in mailoutbox)

    invoice.refresh_from_db()
    renewing.refresh_from_db()
    assert invoice.attempt_count == 4 and invoice.next_payment_attempt is None
    assert renewing.status == "past_due"

    last = Payment.objects.get(invoice=invoice, attempt=4)
    deliver_ok(fake_xendit, fake_xendit.pay(last.reference))
    renewing.refresh_from_db()
    invoice.refresh_from_db()
    assert (invoice.status, renewing.status) == ("paid", "active")


def test_unpaid_links_end_in_cancellation(fake_xendit, renewing, django_capture_on_commit_callbacks):
    start = utc(2026, 2, 28, 2)
    for days in (0, 1, 3, 5, 12.1):
        cycle(start + timedelta(days=days), django_capture_on_commit_callbacks)

    renewing.refresh_from_db()
    assert renewing.status == "canceled"
    invoice = Invoice.objects.get(subscription=renewing)
    assert (invoice.status, invoice.attempt_count) == ("uncollectible", 4)
    assert Payment.objects.filter(invoice=invoice, kind="pay_link").count() == 4


# --- refunds -----------------------------------------------------------------------------


def paid_payment(fake, owner, plan, method="EWALLET", channel=None) -> Payment:
    _, payment = xendit_checkout(owner, plan)
    deliver_ok(fake, fake.pay(payment.reference, method, channel))
    payment.refresh_from_db()
    return payment


def test_an_ewallet_payment_is_refunded_through_xendit_and_settled_by_its_webhook(fake_xendit, owner, id_org, idr_plan):
    payment = paid_payment(fake_xendit, owner, idr_plan)

    refund = payment_refund(payment=payment, amount_cents=100_000, reason="goodwill")

    sent = fake_xendit.calls("POST", "/refunds")[0]
    assert sent.body["invoice_id"] == payment.reference
    assert (sent.body["amount"], sent.body["reference_id"]) == (100_000, str(refund.pk))
    assert sent.headers["idempotency-key"] == f"refund-{refund.pk}"
    assert refund.status == "pending" and refund.reference == sent_refund_id(fake_xendit)
    assert state(payment)["refunded"] == 0

    webhook = fake_xendit.complete_refund(refund.reference)
    deliver_ok(fake_xendit, webhook)
    deliver_ok(fake_xendit, webhook)  # a replay

    refund.refresh_from_db()
    assert refund.status == "succeeded"
    assert state(payment)["payment"] == "partially_refunded"
    assert payment.amount_refunded_cents == 100_000
    assert Refund.objects.filter(payment=payment).count() == 1


def sent_refund_id(fake) -> str:
    return fake.refunds()[-1]["id"]


def test_a_refund_xendit_fails_is_recorded_as_failed(fake_xendit, owner, id_org, idr_plan):
    payment = paid_payment(fake_xendit, owner, idr_plan, "CREDIT_CARD")
    refund = payment_refund(payment=payment, reason="duplicate")

    deliver_ok(fake_xendit, fake_xendit.complete_refund(refund.reference, status="FAILED"))

    refund.refresh_from_db()
    assert (refund.status, refund.failure_reason) == ("failed", "REFUND_FAILED")
    assert state(payment)["payment"] == "succeeded" and payment.refundable_cents == PRICE


def test_a_refund_made_on_xendits_dashboard_is_recorded(fake_xendit, owner, id_org, idr_plan):
    import requests

    payment = paid_payment(fake_xendit, owner, idr_plan)
    made = requests.post(
        f"{fake_xendit.url}/refunds",
        json={"invoice_id": payment.reference, "amount": 50_000, "reason": "OTHERS"},
        auth=(fake_xendit.secret_key, ""),
        timeout=5,
    ).json()

    deliver_ok(fake_xendit, fake_xendit.complete_refund(made["id"]))

    refund = Refund.objects.get(payment=payment)
    assert (refund.amount_cents, refund.status, refund.reference) == (50_000, "succeeded", made["id"])
    assert state(payment)["refunded"] == 50_000


def test_a_bank_transfer_cannot_be_refunded_by_xendit_and_is_recorded_as_manual(
    fake_xendit, owner, id_org, idr_plan, staff_client
):
    payment = paid_payment(fake_xendit, owner, idr_plan, "BANK_TRANSFER", "BCA")

    response = staff_client.post(
        "/admin/payments/payment/",
        {"action": "refund", "_selected_action": [str(payment.pk)], "apply": "1", "reason": "customer left"},
        follow=True,
    )

    assert not fake_xendit.calls("POST", "/refunds")
    refund = Refund.objects.get(payment=payment)
    assert refund.status == "manual"
    assert state(payment)["payment"] == "refunded" and payment.amount_refunded_cents == PRICE
    shown = [str(message) for message in response.context["messages"]]
    assert any("Xendit cannot refund BANK_TRANSFER payments" in text and "Rp" in text for text in shown), shown


def test_xendit_refusing_a_refund_it_cannot_make_falls_back_to_manual(fake_xendit, owner, id_org, idr_plan):
    payment = paid_payment(fake_xendit, owner, idr_plan)
    fake_xendit.fail_next("/refunds", status=400, error_code="REFUND_NOT_SUPPORTED", message="not supported")

    refund = payment_refund(payment=payment, reason="goodwill")

    assert refund.status == "manual"
    assert "outside Xendit" in refund.failure_reason


def test_xendit_down_during_a_refund_is_a_502_and_nothing_is_recorded(fake_xendit, owner, id_org, idr_plan):
    from payments.gateways.base import GatewayError

    payment = paid_payment(fake_xendit, owner, idr_plan)
    fake_xendit.fail_next("/refunds", status=503)

    with pytest.raises(GatewayError):
        payment_refund(payment=payment, reason="goodwill")

    assert not Refund.objects.filter(payment=payment).exists()
    assert state(payment)["payment"] == "succeeded"


# --- the portal and other organizations ----------------------------------------------------


def test_the_portal_of_a_xendit_customer_offers_pay_links_not_cards(fake_xendit, owner, id_org, idr_plan):
    paid_payment(fake_xendit, owner, idr_plan)

    url = assert_ok(owner.post("/api/v1/billing/portal", {"return_url": SUCCESS_URL}, format="json"))["portal_url"]
    from .support import site_path

    page = Client().get(site_path(url))

    assert page.status_code == 200
    assert b"paid by link through Xendit" in page.content
    assert b"pm_sandbox_ok" not in page.content


def test_another_organization_cannot_see_a_xendit_checkout(fake_xendit, owner, id_org, idr_plan, other_team):
    data, _ = xendit_checkout(owner, idr_plan)

    response = other_team.owner.get(CHECKOUT_SUCCESS, {"session_id": data["session_id"]})

    assert_error(response, 404, "not_found")


# --- a prorated upgrade ----------------------------------------------------------------------


def upgrade_to_team(fake, owner, org, plan, capture):
    subscription_create(organization=org, plan=plan, status="active", trial_days=0, gateway="xendit")
    team_idr = PlanFactory(code="team-idr", name="Team", price_cents=3 * PRICE, currency="IDR")
    with capture(execute=True):
        response = owner.put(UPGRADE, {"new_plan_id": str(team_idr.pk), "prorate": True}, format="json")
    return assert_ok(response), team_idr


def test_a_prorated_upgrade_sends_a_pay_link_for_the_difference(
    fake_xendit, owner, id_org, idr_plan, mailoutbox, django_capture_on_commit_callbacks
):
    data, team_idr = upgrade_to_team(fake_xendit, owner, id_org, idr_plan, django_capture_on_commit_callbacks)

    assert data["subscription"]["plan"]["id"] == str(team_idr.pk)
    invoice = Invoice.objects.get(pk=data["invoice"]["id"])
    payment = Payment.objects.get(invoice=invoice)
    assert (payment.kind, payment.amount_cents) == ("pay_link", invoice.amount_due_cents)
    assert any(payment.checkout_url in mail.body for mail in mailoutbox)


def test_xendit_down_during_an_upgrade_keeps_the_change_and_retries_the_link_later(
    fake_xendit, owner, id_org, idr_plan, mailoutbox, django_capture_on_commit_callbacks
):
    fake_xendit.fail_next("/v2/invoices", status=503)

    data, team_idr = upgrade_to_team(fake_xendit, owner, id_org, idr_plan, django_capture_on_commit_callbacks)

    invoice = Invoice.objects.get(pk=data["invoice"]["id"])
    assert data["subscription"]["plan"]["id"] == str(team_idr.pk)
    assert (invoice.status, invoice.attempt_count) == ("open", 0)
    assert not Payment.objects.filter(invoice=invoice).exists()
    assert invoice.next_payment_attempt is not None  # COLLECTION_RETRY_MINUTES from now

    cycle(invoice.next_payment_attempt + timedelta(seconds=1), django_capture_on_commit_callbacks)

    payment = Payment.objects.get(invoice=invoice)
    assert (payment.kind, payment.attempt) == ("pay_link", 1)
    assert any(payment.checkout_url in mail.body for mail in mailoutbox)


def test_a_refund_retried_after_its_answer_was_lost_is_made_once_at_xendit(
    fake_xendit, settings, owner, id_org, idr_plan
):
    from payments.gateways.base import GatewayError

    payment = paid_payment(fake_xendit, owner, idr_plan)
    settings.GATEWAY_TIMEOUT_SECONDS = 0.3
    fake_xendit.delay_next("/refunds", 1.5)  # Xendit makes the refund; its answer is lost

    with pytest.raises(GatewayError):
        payment_refund(payment=payment, amount_cents=100_000, reason="goodwill")
    settings.GATEWAY_TIMEOUT_SECONDS = 5
    refund = payment_refund(payment=payment, amount_cents=100_000, reason="goodwill")

    keys = {call.headers["idempotency-key"] for call in fake_xendit.calls("POST", "/refunds")}
    assert keys == {f"refund-{refund.pk}"}
    assert len(fake_xendit.refunds()) == 1  # the retry replayed the first refund
    assert refund.reference == fake_xendit.refunds()[0]["id"]
    assert Refund.objects.filter(payment=payment).count() == 1


# --- superseded links are closed ------------------------------------------------------------


def test_a_new_dunning_link_closes_the_previous_one(fake_xendit, renewing, django_capture_on_commit_callbacks):
    start = utc(2026, 2, 28, 2)
    cycle(start, django_capture_on_commit_callbacks)
    invoice = Invoice.objects.get(subscription=renewing, status="open")
    first = Payment.objects.get(invoice=invoice, attempt=1)

    cycle(start + timedelta(days=1, minutes=1), django_capture_on_commit_callbacks)

    second = Payment.objects.get(invoice=invoice, attempt=2)
    assert state(first)["payment"] == "canceled"
    assert fake_xendit.invoice(first.reference)["status"] == "EXPIRED"
    assert fake_xendit.calls("POST", f"/invoices/{first.reference}/expire!")
    deliver_ok(fake_xendit, fake_xendit.callbacks[-1])  # Xendit's EXPIRED callback changes nothing
    assert state(first)["payment"] == "canceled"
    deliver_ok(fake_xendit, fake_xendit.pay(second.reference))
    invoice.refresh_from_db()
    assert invoice.status == "paid"


def test_paying_one_link_closes_the_invoices_other_links(
    fake_xendit, owner, id_org, idr_plan, django_capture_on_commit_callbacks
):
    _, checkout_payment = xendit_checkout(owner, idr_plan)
    link = assert_ok(owner.post(f"/api/v1/invoices/{checkout_payment.invoice_id}/pay", {}, format="json"))
    pay_link = Payment.objects.get(pk=link["session_id"])

    with django_capture_on_commit_callbacks(execute=True):
        deliver_ok(fake_xendit, fake_xendit.pay(pay_link.reference))

    assert state(pay_link)["invoice"] == "paid"
    assert state(checkout_payment)["payment"] == "canceled"
    assert fake_xendit.invoice(checkout_payment.reference)["status"] == "EXPIRED"


def test_a_rejected_secret_key_is_a_502_that_says_the_server_is_misconfigured(
    fake_xendit, settings, owner, id_org, idr_plan, caplog
):
    settings.XENDIT_SECRET_KEY = "xnd_development_revokedKey000000000000000000000000000"

    with caplog.at_level(logging.ERROR, logger="payments.gateways.http"):
        response = post_checkout(owner, idr_plan)

    assert "misconfigured" in assert_error(response, 502, "gateway_error")["message"]
    assert "rejected this server's API key" in caplog.text
