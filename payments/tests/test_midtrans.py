"""Midtrans as a gateway, end to end against the fake Midtrans (payments/tests/fake_midtrans.py):
checkout -> Snap page -> signed HTTP notifications -> subscription active; bank transfers,
fraud challenges and denials; refused and replayed notifications; refunds (API, dashboard,
manual); renewals and dunning by emailed pay links; failures of the network; the status
API check. Only the network boundary is faked."""

from __future__ import annotations

import hashlib
import html
import itertools
import json
import logging
import uuid
from datetime import timedelta

import pytest
import requests
from django.db import transaction
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from billing.services import payment_refund
from billing_project.tests.world import utc
from invoices.models import Invoice
from payments.gateways.base import GatewayError
from payments.models import Payment, Refund
from plans.tests.factories import PlanFactory
from subscriptions.models import Subscription
from subscriptions.services import subscription_create
from webhooks.models import InboundEvent

from .support import CHECKOUT, CHECKOUT_SUCCESS, SUCCESS_URL, assert_error, assert_ok, counts, cycle, start_checkout

pytestmark = pytest.mark.django_db

PRICE = 450_000  # IDR: whole rupiah
WEBHOOK = "/webhooks/midtrans"
CHANGELIST = "/admin/payments/payment/"
BILLING_EMAIL = "finance@toko-contoh.example.id"


# --- set-ups -----------------------------------------------------------------------------------


@pytest.fixture
def idr_plan(db):
    return PlanFactory(code="pro-idr", name="Pro", price_cents=PRICE, currency="IDR", trial_days=0)


@pytest.fixture
def usd_plan(db):
    return PlanFactory(code="pro-usd", name="Pro USD", price_cents=2999, currency="USD", trial_days=0)


def make_indonesian(organization):
    organization.country = "ID"
    organization.currency = "IDR"
    organization.billing_email = BILLING_EMAIL
    organization.save()
    return organization


@pytest.fixture
def id_org(org):
    """The team's organization, in Indonesia, billed in rupiah."""
    return make_indonesian(org)


@pytest.fixture
def midtrans(fake_midtrans, id_org):
    return fake_midtrans


def checkout(client, plan, **overrides) -> tuple[dict, Payment]:
    data = start_checkout(client, plan, **{"gateway": "midtrans", **overrides})
    return data, Payment.objects.get(pk=data["session_id"])


def checkout_body(plan, **overrides) -> dict:
    return {
        "plan_id": str(plan.pk),
        "success_url": SUCCESS_URL,
        "cancel_url": "http://localhost:3000/billing/cancel",
        "gateway": "midtrans",
        **overrides,
    }


def deliver(payload) -> object:
    """POST a notification as Midtrans does (a JSON body, no signature header)."""
    body = payload if isinstance(payload, bytes | str) else json.dumps(payload)
    return Client().post(WEBHOOK, data=body, content_type="application/json")


def deliver_ok(*payloads: dict) -> None:
    for payload in payloads:
        response = deliver(payload)
        assert response.status_code == 200, (payload.get("transaction_status"), response.content)
        assert response.json() == {"received": True}


def sha512_signature(order_id: str, status_code: str, gross_amount: str, server_key: str) -> str:
    """Midtrans' documented rule, computed here independently of the gateway and the fake."""
    return hashlib.sha512((order_id + status_code + gross_amount + server_key).encode()).hexdigest()


def resigned(payload: dict, server_key: str, **changes) -> dict:
    """`payload` with `changes`, signed with `server_key`."""
    notification = {**payload, **changes}
    notification["signature_key"] = sha512_signature(
        notification["order_id"], notification["status_code"], notification["gross_amount"], server_key
    )
    return notification


def state(payment: Payment) -> dict:
    """What a notification may change, for one payment."""
    payment.refresh_from_db()
    invoice = Invoice.objects.get(pk=payment.invoice_id)
    subscription = Subscription.objects.filter(pk=invoice.subscription_id).first()
    return {
        "payment": payment.status,
        "refunded": payment.amount_refunded_cents,
        "invoice": invoice.status,
        "paid": invoice.amount_paid_cents,
        "subscription": subscription.status if subscription else None,
        "refunds": sorted(Refund.objects.filter(payment=payment).values_list("amount_cents", "status")),
    }


PAID = {
    "payment": "succeeded",
    "refunded": 0,
    "invoice": "paid",
    "paid": PRICE,
    "subscription": "active",
    "refunds": [],
}
UNPAID = {
    "payment": "pending",
    "refunded": 0,
    "invoice": "open",
    "paid": 0,
    "subscription": "incomplete",
    "refunds": [],
}


def paid_checkout(owner, plan, fake, payment_type: str = "credit_card", *, settle: bool = True) -> Payment:
    """A checkout paid with `payment_type` (a card captured, then settled when `settle`)."""
    _, payment = checkout(owner, plan)
    deliver_ok(fake.pay(payment.reference, payment_type))
    if settle and payment_type == "credit_card":
        deliver_ok(fake.settle(payment.reference))
    assert state(payment) == PAID
    return payment


def refund_action(browser, payment, **form):
    data = {"action": "refund", "_selected_action": [str(payment.pk)], "apply": "Refund", **form}
    response = browser.post(CHANGELIST, data, follow=True)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


# --- checkout ----------------------------------------------------------------------------------


def test_checkout_opens_a_snap_page_for_the_first_invoice(midtrans, owner, id_org, idr_plan):
    data, payment = checkout(owner, idr_plan)

    invoice = Invoice.objects.get(pk=payment.invoice_id)
    assert (payment.gateway, payment.kind, payment.status, payment.amount_cents) == (
        "midtrans",
        "checkout",
        "pending",
        PRICE,
    )
    assert payment.reference.startswith(f"{invoice.pk}-")
    assert data["checkout_url"] == payment.checkout_url
    assert data["checkout_url"] == midtrans.snap_redirect_base + midtrans.snap_token(payment.reference)
    assert data["status"] == "incomplete"
    snap = midtrans.snap_request(payment.reference)
    assert snap["transaction_details"] == {"order_id": payment.reference, "gross_amount": PRICE}
    assert sum(item["price"] * item["quantity"] for item in snap["item_details"]) == PRICE
    assert snap["customer_details"]["email"] == BILLING_EMAIL
    assert snap["page_expiry"] == snap["expiry"] == {"duration": 72, "unit": "hours"}  # PAY_LINK_HOURS
    (call,) = midtrans.calls("POST", "/snap/v1/transactions")
    assert call.api_key == midtrans.server_key  # Basic auth with the server key


def test_snap_brings_the_customer_back_with_the_session_id_checkout_success_reads(midtrans, owner, idr_plan):
    """Like the sandbox page, the finish redirect carries `session_id` (Snap adds its own
    order_id/status_code/transaction_status to it)."""
    _, payment = checkout(owner, idr_plan, success_url=f"{SUCCESS_URL}?tab=plans")

    finish = midtrans.snap_request(payment.reference)["callbacks"]["finish"]

    assert finish == f"{SUCCESS_URL}?tab=plans&session_id={payment.pk}"


def test_paying_by_card_activates_the_subscription_and_the_settlement_changes_nothing(midtrans, owner, idr_plan):
    data, payment = checkout(owner, idr_plan)
    assert state(payment) == UNPAID

    capture = midtrans.pay(payment.reference)
    assert (capture["transaction_status"], capture["fraud_status"]) == ("capture", "accept")
    deliver_ok(capture)

    assert state(payment) == PAID
    assert payment.payment_method == "credit_card"
    subscription = Subscription.objects.get(pk=data["subscription_id"])
    assert (subscription.gateway, subscription.payment_method) == ("midtrans", "")  # no card kept
    succeeded_at = payment.succeeded_at

    deliver_ok(midtrans.settle(payment.reference))

    assert state(payment) == PAID
    assert payment.succeeded_at == succeeded_at
    assert InboundEvent.objects.filter(gateway="midtrans").count() == 2
    status = assert_ok(owner.get(CHECKOUT_SUCCESS, {"session_id": data["session_id"]}))
    assert (status["status"], status["subscription"]["status"]) == ("paid", "active")


def test_paying_an_abandoned_snap_page_after_a_new_checkout_gives_the_money_back(midtrans, owner, idr_plan):
    """A new checkout replaces an unpaid one, but its Snap page stays payable at Midtrans."""
    _, abandoned = checkout(owner, idr_plan)
    _, current = checkout(owner, idr_plan)
    assert state(abandoned)["payment"] == "canceled"

    deliver_ok(midtrans.pay(current.reference, "gopay"))
    deliver_ok(midtrans.pay(abandoned.reference, "gopay"))

    assert state(current) == PAID
    after = state(abandoned)
    assert (after["payment"], after["refunded"], after["invoice"]) == ("refunded", PRICE, "void")
    assert midtrans.status(abandoned.reference)["transaction_status"] == "refund"


def test_another_organization_cannot_see_the_midtrans_checkout(midtrans, owner, other_team, idr_plan):
    make_indonesian(other_team.org)
    theirs, _ = checkout(other_team.owner, idr_plan)

    assert_error(owner.get(CHECKOUT_SUCCESS, {"session_id": theirs["session_id"]}), 404, "not_found")
    assert (
        assert_ok(other_team.owner.get(CHECKOUT_SUCCESS, {"session_id": theirs["session_id"]}))["status"] == "pending"
    )


# --- choosing the gateway ------------------------------------------------------------------------


def test_an_indonesian_organization_naming_no_gateway_pays_through_midtrans(
    midtrans, owner, id_org, idr_plan, settings
):
    settings.INDONESIA_DEFAULT_GATEWAY = "midtrans"

    data = start_checkout(owner, idr_plan)

    payment = Payment.objects.get(pk=data["session_id"])
    assert payment.gateway == "midtrans"
    assert data["checkout_url"].startswith(midtrans.snap_redirect_base)


def test_without_midtrans_configured_an_indonesian_organization_falls_back_to_the_default(
    fake_midtrans, owner, id_org, idr_plan, settings
):
    settings.INDONESIA_DEFAULT_GATEWAY = "midtrans"
    settings.MIDTRANS_SERVER_KEY = ""

    data = start_checkout(owner, idr_plan)

    assert Payment.objects.get(pk=data["session_id"]).gateway == settings.DEFAULT_GATEWAY
    assert not fake_midtrans.requests


def test_a_usd_plan_through_midtrans_is_a_400_about_the_currency(midtrans, owner, id_org, usd_plan):
    before = counts(id_org)

    error = assert_error(owner.post(CHECKOUT, checkout_body(usd_plan), format="json"), 400, "validation_error")

    assert "does not take payments in USD" in str(error["details"]["gateway"])
    assert counts(id_org) == before
    assert not midtrans.requests


def test_midtrans_not_configured_is_a_400(fake_midtrans, owner, id_org, idr_plan, settings):
    settings.MIDTRANS_SERVER_KEY = ""
    before = counts(id_org)

    error = assert_error(owner.post(CHECKOUT, checkout_body(idr_plan), format="json"), 400, "validation_error")

    assert "not configured" in str(error["details"]["gateway"])
    assert counts(id_org) == before
    assert not fake_midtrans.requests


# --- bank transfers, fraud challenges, denials ----------------------------------------------------


def test_a_bank_transfer_is_pending_until_it_settles(midtrans, owner, idr_plan):
    _, payment = checkout(owner, idr_plan)

    pending = midtrans.pending(payment.reference, "bank_transfer", bank="bca")
    assert pending["status_code"] == "201"
    deliver_ok(pending)

    assert state(payment) == UNPAID

    deliver_ok(midtrans.settle(payment.reference))

    assert state(payment) == PAID
    assert payment.payment_method == "bank_transfer"


def test_a_challenged_card_is_not_paid_and_fails_when_the_merchant_rejects_it(midtrans, owner, idr_plan):
    _, payment = checkout(owner, idr_plan)

    challenge = midtrans.challenge(payment.reference)
    assert (challenge["transaction_status"], challenge["fraud_status"]) == ("capture", "challenge")
    deliver_ok(challenge)
    assert state(payment) == UNPAID

    deliver_ok(midtrans.cancel(payment.reference))

    assert state(payment) == {**UNPAID, "payment": "failed"}


def test_a_challenged_card_approved_on_midtrans_is_paid(midtrans, owner, idr_plan):
    _, payment = checkout(owner, idr_plan)
    deliver_ok(midtrans.challenge(payment.reference))

    approved = requests.post(
        f"{midtrans.url}/v2/{payment.reference}/approve", auth=(midtrans.server_key, ""), timeout=5
    )  # the merchant accepts it on the dashboard
    assert approved.status_code == 200, approved.text
    deliver_ok(midtrans.notifications[-1])

    assert state(payment) == PAID


def test_a_denied_card_fails_the_payment_and_another_card_on_the_same_page_pays(midtrans, owner, idr_plan):
    _, payment = checkout(owner, idr_plan)

    deny = midtrans.deny(payment.reference)
    assert deny["status_code"] == "202"
    deliver_ok(deny)

    assert state(payment) == {**UNPAID, "payment": "failed"}
    assert "Do not honor" in payment.failure_reason

    # Snap lets the customer try another card: a new transaction of the same order.
    retry = midtrans.pay(payment.reference)
    assert retry["transaction_id"] != deny["transaction_id"]
    deliver_ok(retry)

    assert state(payment) == PAID
    assert payment.failure_reason == ""


# --- refused notifications -----------------------------------------------------------------------


def _wrong_signature(note):
    return {**note, "signature_key": "0" * 128}


def _no_signature(note):
    return {name: value for name, value in note.items() if name != "signature_key"}


def _empty_signature(note):
    return {**note, "signature_key": ""}


def _tampered_amount(note):
    return {**note, "gross_amount": "1000.00"}


def _tampered_status(note):
    return {**note, "transaction_status": "settlement", "status_code": "200"}


def _other_server_key(note):
    return resigned(note, "SB-Mid-server-someone-elses-key")


def _not_json(note):
    return b"order_id=x&status_code=200"


def _a_json_list(note):
    return json.dumps([note])


@pytest.mark.parametrize(
    "tamper",
    [
        _wrong_signature,
        _no_signature,
        _empty_signature,
        _tampered_amount,
        _tampered_status,
        _other_server_key,
        _not_json,
        _a_json_list,
    ],
)
def test_a_notification_that_fails_verification_is_refused_and_changes_nothing(midtrans, owner, idr_plan, tamper):
    _, payment = checkout(owner, idr_plan)
    note = midtrans.pay(payment.reference) if tamper is not _tampered_status else midtrans.pending(payment.reference)

    response = deliver(tamper(note))

    assert_error(response, 400, "invalid_signature")
    assert InboundEvent.objects.count() == 0
    assert state(payment) == UNPAID


@pytest.mark.parametrize(
    "changes",
    [{"gross_amount": "1000.00"}, {"gross_amount": "450001.00"}, {"currency": "USD"}],
    ids=["less", "more", "currency"],
)
def test_a_correctly_signed_success_for_another_amount_is_refused(midtrans, owner, idr_plan, changes):
    _, payment = checkout(owner, idr_plan)
    note = resigned(midtrans.pay(payment.reference), midtrans.server_key, **changes)

    assert_error(deliver(note), 400, "amount_mismatch")

    assert InboundEvent.objects.count() == 0
    assert state(payment) == UNPAID


def test_a_notification_for_an_unknown_order_is_acknowledged_logged_and_ignored(midtrans, owner, idr_plan, caplog):
    _, payment = checkout(owner, idr_plan)
    stranger = resigned(midtrans.pay(payment.reference), midtrans.server_key, order_id=f"{uuid.uuid4()}-deadbeef")

    with caplog.at_level(logging.WARNING):
        response = deliver(stranger)

    assert response.status_code == 200
    assert response.json() == {"received": True}
    assert any(
        record.levelno == logging.WARNING and stranger["order_id"] in record.getMessage() for record in caplog.records
    )
    assert InboundEvent.objects.get().outcome == "ignored"
    assert state(payment) == UNPAID


# --- replays and orders -------------------------------------------------------------------------


def test_the_same_notification_twice_is_acknowledged_twice_and_applied_once(midtrans, owner, idr_plan):
    _, payment = checkout(owner, idr_plan)
    note = midtrans.pay(payment.reference, "gopay")

    deliver_ok(note)
    first = (state(payment), payment.succeeded_at, InboundEvent.objects.count())
    deliver_ok(note)

    assert (state(payment), payment.succeeded_at, InboundEvent.objects.count()) == first
    assert first[0] == PAID


def test_a_replayed_settlement_after_a_refund_changes_nothing(midtrans, owner, idr_plan):
    payment = paid_checkout(owner, idr_plan, midtrans, "gopay")
    settlement = midtrans.notifications[0]
    payment_refund(payment=payment, reason="requested")
    deliver_ok(*midtrans.take_notifications())
    refunded = state(payment)
    assert refunded["payment"] == "refunded"

    deliver_ok(settlement)
    deliver_ok(resigned(settlement, midtrans.server_key, transaction_id=str(uuid.uuid4())))  # even as a new event

    assert state(payment) == refunded


def _final_after(payment: Payment, notes: list[dict]) -> dict:
    with transaction.atomic():
        savepoint = transaction.savepoint()
        try:
            deliver_ok(*notes)
            result = {
                **state(payment),
                "succeeded_payments": Payment.objects.filter(status="succeeded").count(),
                "events": InboundEvent.objects.count(),
            }
        finally:
            transaction.savepoint_rollback(savepoint)
    return result


@pytest.fixture
def transfer_notes(midtrans, owner, idr_plan) -> tuple[Payment, list[dict]]:
    """A bank transfer's notifications: pending, settlement, and the settlement again."""
    _, payment = checkout(owner, idr_plan)
    pending = midtrans.pending(payment.reference)
    settlement = midtrans.settle(payment.reference)
    return payment, [pending, settlement, settlement]


@hypothesis_settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(order=st.permutations(range(3)))
def test_any_order_of_a_transfers_notifications_ends_paid_once(transfer_notes, order):
    payment, notes = transfer_notes

    final = _final_after(payment, [notes[index] for index in order])

    assert final == {**PAID, "succeeded_payments": 1, "events": 2}, order


def test_any_order_of_a_cards_capture_and_settlement_ends_paid_once(midtrans, owner, idr_plan):
    _, payment = checkout(owner, idr_plan)
    notes = [midtrans.pay(payment.reference)]
    notes.append(midtrans.settle(payment.reference))
    notes.append(notes[0])  # Midtrans retries a notification it thinks was not received

    for order in itertools.permutations(notes):
        final = _final_after(payment, list(order))
        # Each notification is applied as the status API reports it now (settled): one event.
        assert final == {**PAID, "succeeded_payments": 1, "events": 1}, [n["transaction_status"] for n in order]
    assert state(payment) == UNPAID  # every order was rolled back


# --- refunds ------------------------------------------------------------------------------------


def test_a_card_refund_goes_through_the_refund_api_and_its_notification_changes_nothing(midtrans, owner, idr_plan):
    payment = paid_checkout(owner, idr_plan, midtrans)
    midtrans.take_notifications()

    refund = payment_refund(payment=payment, reason="customer asked")

    (call,) = midtrans.calls("POST", f"/v2/{payment.reference}/refund")
    assert call.body == {"refund_key": str(refund.pk), "amount": PRICE, "reason": "customer asked"}
    assert (refund.status, refund.reference, refund.amount_cents) == ("succeeded", str(refund.pk), PRICE)
    refunded = state(payment)
    assert refunded == {**PAID, "payment": "refunded", "refunded": PRICE, "refunds": [(PRICE, "succeeded")]}

    (note,) = midtrans.take_notifications()
    assert note["transaction_status"] == "refund"
    deliver_ok(note)
    deliver_ok(note)

    assert state(payment) == refunded


def test_two_partial_refunds_partially_refund_then_refund(midtrans, owner, idr_plan):
    payment = paid_checkout(owner, idr_plan, midtrans, "shopeepay")
    midtrans.take_notifications()

    payment_refund(payment=payment, amount_cents=150_000, reason="first part")
    assert state(payment)["payment"] == "partially_refunded"
    assert payment.refundable_cents == 300_000
    payment_refund(payment=payment, amount_cents=300_000, reason="the rest")

    final = {
        **PAID,
        "payment": "refunded",
        "refunded": PRICE,
        "refunds": [(150_000, "succeeded"), (300_000, "succeeded")],
    }
    assert state(payment) == final
    assert [call.body["amount"] for call in midtrans.calls("POST", "/v2/")] == [150_000, 300_000]
    notes = midtrans.take_notifications()
    assert [(n["transaction_status"], n["refund_amount"]) for n in notes] == [
        ("partial_refund", "150000.00"),
        ("refund", "450000.00"),
    ]
    deliver_ok(*reversed(notes))  # late, and out of order

    assert state(payment) == final
    with pytest.raises(Exception, match="nothing left to refund"):
        payment_refund(payment=payment, amount_cents=1, reason="more")


def test_the_admin_refund_action_refunds_through_midtrans(midtrans, owner, idr_plan, staff, staff_client):
    payment = paid_checkout(owner, idr_plan, midtrans)

    page = refund_action(staff_client, payment, amount_cents=100_000, reason="goodwill")

    assert "Refunded 1 payment(s)." in page
    refund = Refund.objects.get(payment=payment)
    assert (refund.amount_cents, refund.status, refund.created_by) == (100_000, "succeeded", staff)
    (call,) = midtrans.calls("POST", f"/v2/{payment.reference}/refund")
    assert (call.body["refund_key"], call.body["amount"], call.body["reason"]) == (str(refund.pk), 100_000, "goodwill")
    assert state(payment)["payment"] == "partially_refunded"


def test_a_refund_made_on_the_midtrans_dashboard_is_recorded(midtrans, owner, idr_plan):
    payment = paid_checkout(owner, idr_plan, midtrans)

    note = midtrans.refund(payment.reference, 100_000, reason="dashboard")
    deliver_ok(note)

    after = state(payment)
    assert after == {**PAID, "payment": "partially_refunded", "refunded": 100_000, "refunds": [(100_000, "succeeded")]}
    refund = Refund.objects.get(payment=payment)
    assert refund.reference == note["refunds"][0]["refund_key"]
    assert not midtrans.calls("POST", f"/v2/{payment.reference}/refund")

    deliver_ok(note)  # a replay
    deliver_ok(midtrans.refund(payment.reference))  # the rest, on the dashboard again

    assert state(payment) == {
        **PAID,
        "payment": "refunded",
        "refunded": PRICE,
        "refunds": [(100_000, "succeeded"), (350_000, "succeeded")],
    }


def test_a_refund_notification_before_the_payments_own_notifications_pays_then_refunds(midtrans, owner, idr_plan):
    """Status only moves forward: the refund means the money was paid; the success
    notifications arriving late change nothing."""
    _, payment = checkout(owner, idr_plan)
    capture = midtrans.pay(payment.reference)
    settlement = midtrans.settle(payment.reference)

    deliver_ok(midtrans.refund(payment.reference, 100_000))

    expected = {**PAID, "payment": "partially_refunded", "refunded": 100_000, "refunds": [(100_000, "succeeded")]}
    assert state(payment) == expected
    deliver_ok(settlement, capture)
    assert state(payment) == expected


def test_a_bank_transfer_is_refunded_by_hand_and_the_admin_says_how(midtrans, owner, idr_plan, staff_client):
    payment = paid_checkout(owner, idr_plan, midtrans, "bank_transfer")

    page = refund_action(staff_client, payment, amount_cents="", reason="cancelled order")

    assert not midtrans.calls("POST", "/v2/")
    refund = Refund.objects.get(payment=payment)
    assert refund.status == "manual"
    assert "Midtrans cannot refund bank_transfer payments" in refund.failure_reason
    assert "Rp\xa0450.000" in refund.failure_reason or "Rp 450.000" in refund.failure_reason
    assert refund.failure_reason in page  # shown to staff as a warning
    assert 'class="warning"' in page
    assert state(payment) == {**PAID, "payment": "refunded", "refunded": PRICE, "refunds": [(PRICE, "manual")]}


def test_a_partial_manual_refund_asks_staff_to_return_that_part(midtrans, owner, idr_plan):
    payment = paid_checkout(owner, idr_plan, midtrans, "cstore")

    refund = payment_refund(payment=payment, amount_cents=100_000, reason="one month of two")

    assert refund.status == "manual"
    assert "100.000" in refund.failure_reason
    assert "450.000" not in refund.failure_reason
    assert state(payment)["payment"] == "partially_refunded"


def test_a_card_refund_before_settlement_voids_the_capture(midtrans, owner, idr_plan):
    """Midtrans refunds only settled transactions; a capture (settled the next day) is
    voided with Cancel instead: the customer's card is not charged at all."""
    payment = paid_checkout(owner, idr_plan, midtrans, settle=False)
    midtrans.take_notifications()

    refund = payment_refund(payment=payment, reason="changed my mind")

    assert refund.status == "succeeded"
    assert midtrans.calls("POST", f"/v2/{payment.reference}/cancel")
    assert midtrans.status(payment.reference)["transaction_status"] == "cancel"
    refunded = state(payment)
    assert refunded == {**PAID, "payment": "refunded", "refunded": PRICE, "refunds": [(PRICE, "succeeded")]}
    deliver_ok(*midtrans.take_notifications())  # the cancel notification
    assert state(payment) == refunded


def test_part_of_a_card_payment_cannot_be_refunded_before_it_settles(midtrans, owner, idr_plan, staff_client):
    payment = paid_checkout(owner, idr_plan, midtrans, settle=False)

    page = refund_action(staff_client, payment, amount_cents=100_000, reason="half")

    assert "settle" in page
    assert not Refund.objects.exists()
    assert state(payment) == PAID
    assert midtrans.status(payment.reference)["transaction_status"] == "capture"


def test_a_refund_error_midtrans_answers_under_http_200_is_an_error_and_not_counted(
    midtrans, owner, idr_plan, staff_client
):
    payment = paid_checkout(owner, idr_plan, midtrans)
    midtrans.refund(payment.reference, 200_000)  # on the dashboard; its notification not here yet
    midtrans.errors_as_http_200 = True

    with pytest.raises(GatewayError, match="414"):
        payment_refund(payment=payment, reason="all of it")
    page = refund_action(staff_client, payment, amount_cents="", reason="all of it")

    assert "Midtrans refused the refund (414" in page
    assert "Refunded 1 payment(s)." not in page
    assert not Refund.objects.exists()
    assert state(payment) == PAID


def test_a_refund_already_made_in_full_on_the_dashboard_is_not_made_again_by_hand(midtrans, owner, idr_plan):
    """Midtrans answers 412 for a refunded transaction: that is no reason for a manual refund."""
    payment = paid_checkout(owner, idr_plan, midtrans, "gopay")
    note = midtrans.refund(payment.reference)  # its notification is still on its way

    with pytest.raises(GatewayError, match="as refund"):
        payment_refund(payment=payment, reason="all of it")

    assert not Refund.objects.exists()
    deliver_ok(note)
    assert state(payment) == {**PAID, "payment": "refunded", "refunded": PRICE, "refunds": [(PRICE, "succeeded")]}


def test_a_settled_payment_midtrans_no_longer_refunds_is_refunded_by_hand(midtrans, owner, idr_plan):
    payment = paid_checkout(owner, idr_plan, midtrans)
    midtrans.fail_next(f"/v2/{payment.reference}/refund", status=412, message="Merchant cannot modify the status")

    refund = payment_refund(payment=payment, amount_cents=50_000, reason="late")

    assert refund.status == "manual"
    assert "Midtrans no longer refunds this credit_card payment" in refund.failure_reason
    assert "50.000" in refund.failure_reason
    assert state(payment)["payment"] == "partially_refunded"


def test_a_refund_when_midtrans_is_down_is_a_gateway_error_and_not_counted(midtrans, owner, idr_plan):
    payment = paid_checkout(owner, idr_plan, midtrans)
    midtrans.fail_next("/v2/", status=503)

    with pytest.raises(GatewayError):
        payment_refund(payment=payment, reason="x")

    assert not Refund.objects.exists()
    assert state(payment) == PAID


def test_a_refund_whose_answer_is_lost_is_recorded_from_its_notification(midtrans, owner, idr_plan, settings):
    """Midtrans refunded, the answer timed out: nothing is counted here until the refund
    notification arrives, which records it once (so a retry finds nothing left)."""
    payment = paid_checkout(owner, idr_plan, midtrans)
    midtrans.take_notifications()
    settings.GATEWAY_TIMEOUT_SECONDS = 0.3
    midtrans.delay_next(f"/v2/{payment.reference}/refund", 3)

    with pytest.raises(GatewayError):
        payment_refund(payment=payment, reason="lost answer")
    assert not Refund.objects.exists()
    assert state(payment) == PAID

    deliver_ok(*midtrans.take_notifications())

    assert state(payment) == {**PAID, "payment": "refunded", "refunded": PRICE, "refunds": [(PRICE, "succeeded")]}
    with pytest.raises(Exception, match="nothing left to refund"):
        payment_refund(payment=payment, reason="again")


# --- renewals and dunning by pay link ------------------------------------------------------------


@pytest.fixture
def renewing(midtrans, id_org, idr_plan):
    """An active Midtrans subscription whose period ends 2026-02-28."""
    return subscription_create(
        organization=id_org, plan=idr_plan, start=utc(2026, 1, 31), status="active", trial_days=0, gateway="midtrans"
    )


def links(mailoutbox) -> list:
    return [mail for mail in mailoutbox if mail.subject.startswith("Pay invoice")]


def test_a_renewal_emails_a_snap_pay_link_and_paying_it_pays_the_invoice(
    midtrans, renewing, mailoutbox, django_capture_on_commit_callbacks
):
    cycle(utc(2026, 2, 28, 2), django_capture_on_commit_callbacks)

    invoice = Invoice.objects.get(subscription=renewing)
    payment = Payment.objects.get(invoice=invoice)
    assert (invoice.status, invoice.total_cents, invoice.currency) == ("open", PRICE, "IDR")
    assert (payment.kind, payment.attempt, payment.gateway, payment.amount_cents) == ("pay_link", 1, "midtrans", PRICE)
    assert payment.checkout_url == midtrans.snap_redirect_base + midtrans.snap_token(payment.reference)
    assert midtrans.snap_request(payment.reference)["transaction_details"]["gross_amount"] == PRICE
    (mail,) = links(mailoutbox)
    assert mail.to == [BILLING_EMAIL]
    assert payment.checkout_url in mail.body
    assert invoice.number in mail.subject

    deliver_ok(midtrans.pay(payment.reference, "qris"))

    invoice.refresh_from_db()
    renewing.refresh_from_db()
    assert (invoice.status, invoice.amount_paid_cents) == ("paid", PRICE)
    assert renewing.status == "active"
    cycle(utc(2026, 3, 1, 2), django_capture_on_commit_callbacks)  # nothing more to collect
    assert Payment.objects.filter(invoice=invoice).count() == 1
    assert len(links(mailoutbox)) == 1


def test_expired_links_walk_the_dunning_schedule_and_paying_the_last_one_reactivates(
    midtrans, renewing, mailoutbox, django_capture_on_commit_callbacks, settings
):
    start = utc(2026, 2, 28, 2)
    cycle(start, django_capture_on_commit_callbacks)
    invoice = Invoice.objects.get(subscription=renewing)

    for attempt, days in enumerate([*settings.DUNNING_RETRY_DAYS, None], start=1):
        payment = Payment.objects.get(invoice=invoice, attempt=attempt)
        assert (payment.kind, payment.status) == ("pay_link", "pending")
        mail = links(mailoutbox)[-1]
        assert payment.checkout_url in mail.body
        assert len(links(mailoutbox)) == attempt
        if days is None:
            break
        assert "we will send a new link" in mail.body
        deliver_ok(midtrans.expire(payment.reference))
        payment.refresh_from_db()
        assert payment.status == "failed"
        renewing.refresh_from_db()
        assert renewing.status == "active"  # retries are left
        cycle(start + timedelta(days=days, minutes=1), django_capture_on_commit_callbacks)

    assert "This is the last link we send" in mail.body
    renewing.refresh_from_db()
    assert renewing.status == "past_due"
    assert Payment.objects.filter(invoice=invoice).count() == len(settings.DUNNING_RETRY_DAYS) + 1
    assert len({p.reference for p in Payment.objects.filter(invoice=invoice)}) == len(settings.DUNNING_RETRY_DAYS) + 1

    deliver_ok(midtrans.pay(payment.reference))

    invoice.refresh_from_db()
    renewing.refresh_from_db()
    assert (invoice.status, renewing.status) == ("paid", "active")


def test_a_link_paid_after_the_unpaid_subscription_was_canceled_is_given_back(
    midtrans, renewing, mailoutbox, django_capture_on_commit_callbacks, settings
):
    start = utc(2026, 2, 28, 2)
    cycle(start, django_capture_on_commit_callbacks)
    for days in settings.DUNNING_RETRY_DAYS:
        cycle(start + timedelta(days=days, minutes=1), django_capture_on_commit_callbacks)
    last_day = settings.DUNNING_RETRY_DAYS[-1] + settings.DUNNING_CANCEL_AFTER_DAYS
    cycle(start + timedelta(days=last_day, minutes=2), django_capture_on_commit_callbacks)
    renewing.refresh_from_db()
    invoice = Invoice.objects.get(subscription=renewing)
    assert (renewing.status, invoice.status) == ("canceled", "uncollectible")
    last = Payment.objects.get(invoice=invoice, attempt=len(settings.DUNNING_RETRY_DAYS) + 1)

    deliver_ok(midtrans.pay(last.reference, "shopeepay"))

    after = state(last)
    assert (after["payment"], after["refunded"], after["invoice"], after["subscription"]) == (
        "refunded",
        PRICE,
        "uncollectible",
        "canceled",
    )


@pytest.mark.parametrize("payment_type", ["gopay", "credit_card"])
def test_an_older_link_paid_after_a_newer_one_is_given_back(
    midtrans, renewing, mailoutbox, django_capture_on_commit_callbacks, payment_type
):
    """Each attempt's link stays payable; money for an invoice already paid is returned."""
    start = utc(2026, 2, 28, 2)
    cycle(start, django_capture_on_commit_callbacks)
    cycle(start + timedelta(days=1, minutes=1), django_capture_on_commit_callbacks)
    invoice = Invoice.objects.get(subscription=renewing)
    first, second = Payment.objects.get(invoice=invoice, attempt=1), Payment.objects.get(invoice=invoice, attempt=2)

    deliver_ok(midtrans.pay(second.reference, payment_type))
    deliver_ok(midtrans.pay(first.reference, payment_type))

    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid_cents) == ("paid", PRICE)
    assert state(second)["payment"] == "succeeded"
    assert state(first) == {**PAID, "payment": "refunded", "refunded": PRICE, "refunds": [(PRICE, "succeeded")]}
    assert midtrans.calls("POST", f"/v2/{first.reference}/refund")
    # a card captured moments ago is voided; a settled e-wallet payment refunded
    expected = {"gopay": "refund", "credit_card": "cancel"}[payment_type]
    assert midtrans.status(first.reference)["transaction_status"] == expected
    assert midtrans.status(second.reference)["transaction_status"] in ("settlement", "capture")


def test_a_renewal_whose_pay_link_could_not_be_made_is_sent_at_the_next_cycle_run(
    midtrans, renewing, mailoutbox, django_capture_on_commit_callbacks
):
    start = utc(2026, 2, 28, 2)
    midtrans.fail_next("/snap/v1/transactions", status=500)
    cycle(start, django_capture_on_commit_callbacks)  # Snap is down: logged, the others go on
    invoice = Invoice.objects.get(subscription=renewing)
    assert invoice.status == "open"
    assert not Payment.objects.filter(invoice=invoice).exists()
    assert invoice.attempt_count == 0  # the attempt is not used up
    assert invoice.next_payment_attempt == start + timedelta(minutes=15)

    cycle(start + timedelta(hours=1), django_capture_on_commit_callbacks)

    payment = Payment.objects.get(invoice=invoice)
    assert (payment.kind, payment.attempt) == ("pay_link", 1)
    assert payment.checkout_url in links(mailoutbox)[-1].body


# --- failures of the network ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503, 401])
def test_snap_failing_at_checkout_is_a_502_and_leaves_nothing_half_made(midtrans, owner, id_org, idr_plan, status):
    before = counts(id_org)
    midtrans.fail_next("/snap/v1/transactions", status=status)

    response = owner.post(CHECKOUT, checkout_body(idr_plan), format="json")

    assert_error(response, 502, "gateway_error")
    assert counts(id_org) == before
    assert len(midtrans.calls("POST", "/snap/")) == 1


def test_snap_dropping_the_connection_is_a_502_and_leaves_nothing_half_made(midtrans, owner, id_org, idr_plan):
    before = counts(id_org)
    midtrans.delay_next("/snap/v1/transactions", 0.05, drop=True)

    response = owner.post(CHECKOUT, checkout_body(idr_plan), format="json")

    assert_error(response, 502, "gateway_error")
    assert counts(id_org) == before


def test_snap_timing_out_is_a_502_and_leaves_nothing_half_made(midtrans, owner, id_org, idr_plan, settings):
    settings.GATEWAY_TIMEOUT_SECONDS = 0.3
    before = counts(id_org)
    midtrans.delay_next("/snap/v1/transactions", 3)

    response = owner.post(CHECKOUT, checkout_body(idr_plan), format="json")

    assert_error(response, 502, "gateway_error")
    assert counts(id_org) == before
    # the next checkout works (its order id is new, whatever Midtrans made of the lost one)
    data, _ = checkout(owner, idr_plan)
    assert data["checkout_url"].startswith(midtrans.snap_redirect_base)
    assert len(midtrans.order_ids()) == 2


# --- status API confirmation ------------------------------------------------------------------------


def test_with_status_checks_a_settlement_the_status_api_does_not_confirm_is_not_counted(
    midtrans, owner, idr_plan, settings
):
    _, payment = checkout(owner, idr_plan)
    pending = midtrans.pending(payment.reference)
    forged = resigned(pending, midtrans.server_key, transaction_status="settlement", status_code="200")

    deliver_ok(forged)

    assert midtrans.calls("GET", f"/v2/{payment.reference}/status")
    assert state(payment) == UNPAID

    deliver_ok(midtrans.settle(payment.reference))  # the genuine one

    assert len(midtrans.calls("GET", f"/v2/{payment.reference}/status")) == 2
    assert state(payment) == PAID


def test_with_status_checks_a_success_for_an_order_midtrans_never_charged_is_not_counted(
    midtrans, owner, idr_plan, settings
):
    _, payment = checkout(owner, idr_plan)
    forged = {
        "order_id": payment.reference,
        "status_code": "200",
        "gross_amount": f"{PRICE}.00",
        "currency": "IDR",
        "transaction_id": str(uuid.uuid4()),
        "transaction_status": "settlement",
        "payment_type": "bank_transfer",
        "fraud_status": "accept",
    }

    deliver_ok(resigned(forged, midtrans.server_key))

    assert state(payment) == UNPAID


def test_with_status_checks_a_genuine_card_payment_is_confirmed_and_counted(midtrans, owner, idr_plan, settings):
    _, payment = checkout(owner, idr_plan)

    deliver_ok(midtrans.pay(payment.reference))

    (call,) = midtrans.calls("GET", f"/v2/{payment.reference}/status")
    assert call.api_key == midtrans.server_key
    assert state(payment) == PAID


def test_with_status_checks_midtrans_unreachable_is_a_502_for_redelivery(midtrans, owner, idr_plan, settings):
    _, payment = checkout(owner, idr_plan)
    note = midtrans.pay(payment.reference)
    midtrans.fail_next("/v2/", status=500)

    assert_error(deliver(note), 502, "gateway_error")
    assert InboundEvent.objects.count() == 0
    assert state(payment) == UNPAID

    deliver_ok(note)  # Midtrans retries
    assert state(payment) == PAID


def test_a_new_dunning_link_expires_the_previous_pending_transfer(
    midtrans, renewing, django_capture_on_commit_callbacks
):
    start = utc(2026, 2, 28, 2)
    cycle(start, django_capture_on_commit_callbacks)
    invoice = Invoice.objects.get(subscription=renewing, status="open")
    first = Payment.objects.get(invoice=invoice, attempt=1)
    deliver_ok(midtrans.pending(first.reference))  # a VA number was issued, not paid yet

    cycle(start + timedelta(days=1, minutes=1), django_capture_on_commit_callbacks)

    first.refresh_from_db()
    assert first.status == "canceled"
    assert midtrans.status(first.reference)["transaction_status"] == "expire"
    deliver_ok(midtrans.notifications[-1])  # Midtrans' expire notification changes nothing
    first.refresh_from_db()
    assert first.status == "canceled"
    second = Payment.objects.get(invoice=invoice, attempt=2)
    deliver_ok(midtrans.pay(second.reference, "gopay"))
    invoice.refresh_from_db()
    assert invoice.status == "paid"
