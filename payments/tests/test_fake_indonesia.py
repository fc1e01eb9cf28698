"""Self-test of the fake Xendit and Midtrans servers (payments.tests.fake_xendit / fake_midtrans):
the calls this project's gateways make, and the controls its tests script outcomes with.

Everything goes through `requests` over HTTP to the fakes on 127.0.0.1, as the production
gateways do: Basic auth with the secret / server key as the username and an empty password.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime, timedelta

import pytest
import requests
from django.conf import settings as django_settings
from pytest_django.fixtures import Settings

from payments.tests.fake_midtrans import (
    FAKE_CLIENT_KEY,
    FAKE_SERVER_KEY,
    FakeMidtrans,
    fake_midtrans_fixture,
    signature_key,
)
from payments.tests.fake_xendit import (
    FAKE_CALLBACK_TOKEN,
    FAKE_PUBLIC_KEY,
    FAKE_SECRET_KEY,
    FAKE_USER_ID,
    FakeXendit,
    fake_xendit_fixture,
)

# The keys of Xendit's documented invoice callback sample.
CALLBACK_KEYS = {
    "id", "external_id", "user_id", "is_high", "payment_method", "status", "merchant_name", "amount", "paid_amount",
    "bank_code", "paid_at", "payer_email", "description", "adjusted_received_amount", "fees_paid_amount", "updated",
    "created", "currency", "payment_channel", "payment_destination",
}  # fmt: skip
XENDIT_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
MIDTRANS_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
SUCCESS_URL = "https://app.example.com/billing/xendit/success"
FAILURE_URL = "https://app.example.com/billing/xendit/failure"


def xendit(fake: FakeXendit, method: str, path: str, *, key: str | None = FAKE_SECRET_KEY, **kwargs):
    auth = (key, "") if key is not None else None
    kwargs.setdefault("timeout", 5)
    return requests.request(method, fake.url + path, auth=auth, **kwargs)


def midtrans(fake: FakeMidtrans, method: str, path: str, *, key: str | None = FAKE_SERVER_KEY, **kwargs):
    auth = (key, "") if key is not None else None
    kwargs.setdefault("timeout", 5)
    return requests.request(method, fake.url + path, auth=auth, **kwargs)


def invoice_params(**overrides) -> dict:
    params = {
        "external_id": "inv_17-pay_3",
        "amount": 150000,
        "currency": "IDR",
        "description": "Dial Tone Pro, 1 month",
        "payer_email": "billing@dialtone.example",
        "success_redirect_url": SUCCESS_URL,
        "failure_redirect_url": FAILURE_URL,
        "invoice_duration": 86400,
    }
    params.update(overrides)
    return params


def new_invoice(fake: FakeXendit, **overrides) -> dict:
    response = xendit(fake, "POST", "/v2/invoices", json=invoice_params(**overrides))
    assert response.status_code == 200, response.text
    return response.json()


def snap_params(order_id: str = "inv-17-pay-3", gross_amount: int = 150000, **overrides) -> dict:
    params = {
        "transaction_details": {"order_id": order_id, "gross_amount": gross_amount},
        "customer_details": {"email": "billing@dialtone.example", "first_name": "Dial Tone"},
        "item_details": [{"id": "plan-pro", "price": gross_amount, "quantity": 1, "name": "Pro plan"}],
        "callbacks": {"finish": "https://app.example.com/billing/midtrans/finish"},
    }
    params.update(overrides)
    return params


def new_snap(fake: FakeMidtrans, order_id: str = "inv-17-pay-3", gross_amount: int = 150000, **overrides) -> dict:
    response = midtrans(fake, "POST", "/snap/v1/transactions", json=snap_params(order_id, gross_amount, **overrides))
    assert response.status_code == 201, response.text
    return response.json()


def sha512_signature(order_id: str, status_code: str, gross_amount: str, server_key: str = FAKE_SERVER_KEY) -> str:
    """Midtrans' documented rule, computed here independently of the fake."""
    return hashlib.sha512((order_id + status_code + gross_amount + server_key).encode()).hexdigest()


def assert_signed(notification: dict) -> None:
    expected = sha512_signature(
        notification["order_id"], notification["status_code"], notification["gross_amount"], FAKE_SERVER_KEY
    )
    assert notification["signature_key"] == expected


# --- fixtures and lifecycle ------------------------------------------------------------------------


def test_fixtures_point_settings_at_the_fakes(fake_xendit, fake_midtrans):
    assert fake_xendit.url.startswith("http://127.0.0.1:")
    assert fake_xendit.url == django_settings.XENDIT_API_BASE
    assert django_settings.XENDIT_SECRET_KEY == FAKE_SECRET_KEY
    assert django_settings.XENDIT_SECRET_KEY.startswith("xnd_development_fake")
    assert django_settings.XENDIT_CALLBACK_TOKEN == FAKE_CALLBACK_TOKEN
    assert django_settings.XENDIT_CALLBACK_TOKEN.startswith("fake-callback-token")

    assert fake_midtrans.url.startswith("http://127.0.0.1:")
    assert fake_midtrans.url == django_settings.MIDTRANS_API_BASE
    assert fake_midtrans.url == django_settings.MIDTRANS_SNAP_BASE
    assert django_settings.MIDTRANS_SERVER_KEY == FAKE_SERVER_KEY
    assert django_settings.MIDTRANS_SERVER_KEY.startswith("SB-Mid-server-fake")
    assert django_settings.MIDTRANS_CLIENT_KEY == FAKE_CLIENT_KEY
    assert django_settings.MIDTRANS_CLIENT_KEY.startswith("SB-Mid-client-fake")
    assert django_settings.MIDTRANS_IS_PRODUCTION is False


@pytest.mark.parametrize(
    ("fixture", "names"),
    [
        (fake_xendit_fixture, ["XENDIT_API_BASE", "XENDIT_SECRET_KEY", "XENDIT_CALLBACK_TOKEN"]),
        (
            fake_midtrans_fixture,
            [
                "MIDTRANS_API_BASE",
                "MIDTRANS_SNAP_BASE",
                "MIDTRANS_SERVER_KEY",
                "MIDTRANS_CLIENT_KEY",
                "MIDTRANS_IS_PRODUCTION",
            ],
        ),
    ],
)
def test_fixtures_restore_settings_and_stop_the_server(fixture, names):
    missing = object()
    before = {name: getattr(django_settings, name, missing) for name in names}
    wrapper = Settings(_is_pytest_django=True)  # what pytest-django's `settings` fixture yields
    try:
        steps = fixture.__wrapped__(wrapper)
        fake = next(steps)
        assert getattr(django_settings, names[0]) == fake.url
        assert requests.get(fake.url + "/anything", timeout=5).status_code == 401
        with pytest.raises(StopIteration):
            next(steps)
        with pytest.raises(requests.ConnectionError):
            requests.get(fake.url + "/anything", timeout=2)
    finally:
        wrapper._finalize()  # pytest-django's teardown
    assert {name: getattr(django_settings, name, missing) for name in names} == before


# --- Xendit: invoices ------------------------------------------------------------------------------


def test_xendit_create_invoice(fake_xendit):
    before = datetime.now().astimezone()
    created = new_invoice(fake_xendit)
    assert re.fullmatch(r"[0-9a-f]{24}", created["id"])
    assert created["external_id"] == "inv_17-pay_3"
    assert created["user_id"] == FAKE_USER_ID
    assert created["status"] == "PENDING"
    assert created["merchant_name"] == fake_xendit.merchant_name
    assert created["amount"] == 150000
    assert created["currency"] == "IDR"
    assert created["description"] == "Dial Tone Pro, 1 month"
    assert created["payer_email"] == "billing@dialtone.example"
    assert created["invoice_url"] == f"https://checkout.xendit.co/web/{created['id']}"
    assert created["success_redirect_url"] == SUCCESS_URL
    assert created["failure_redirect_url"] == FAILURE_URL
    for name in ("expiry_date", "created", "updated"):
        assert XENDIT_TIME.match(created[name]), created[name]
    expiry = datetime.fromisoformat(created["expiry_date"].replace("Z", "+00:00"))
    assert timedelta(hours=23, minutes=59) < expiry - before < timedelta(hours=24, minutes=1)
    assert {bank["bank_code"] for bank in created["available_banks"]} >= {"BCA", "BNI", "BRI", "MANDIRI"}
    assert created["available_banks"][0]["transfer_amount"] == 150000
    assert {"ewallet_type": "OVO"} in created["available_ewallets"]
    assert "paid_amount" not in created and "payment_method" not in created
    assert fake_xendit.invoice(created["id"]) == created

    (request,) = fake_xendit.calls("POST", "/v2/invoices")
    assert request.body == invoice_params()
    assert request.api_key == FAKE_SECRET_KEY
    assert request.status == 200
    fake_xendit.assert_all_handled()


def test_xendit_truncates_idr_decimals(fake_xendit):
    assert new_invoice(fake_xendit, amount=45500.75)["amount"] == 45500


@pytest.mark.parametrize(
    ("change", "status", "error_code", "message"),
    [
        ({"external_id": None}, 400, "API_VALIDATION_ERROR", '"external_id" is required'),
        ({"amount": None}, 400, "API_VALIDATION_ERROR", '"amount" is required'),
        ({"amount": "150000"}, 400, "API_VALIDATION_ERROR", '"amount" must be a number'),
        ({"payer_email": "not-an-email"}, 400, "API_VALIDATION_ERROR", '"payer_email" must be a valid email'),
        ({"success_redirect_url": "/relative"}, 400, "API_VALIDATION_ERROR", "must be a valid uri"),
        ({"invoice_duration": 0}, 400, "API_VALIDATION_ERROR", '"invoice_duration"'),
        ({"payer_emial": "typo@example.com"}, 400, "API_VALIDATION_ERROR", '"payer_emial" is not allowed'),
        ({"amount": 9999}, 400, "MINIMAL_TRANSFER_AMOUNT_ERROR", "below Rp10000"),
        ({"amount": 1_000_000_001}, 400, "MAXIMUM_TRANSFER_AMOUNT_ERROR", "above Rp1000000000"),
        ({"currency": "USD"}, 400, "UNSUPPORTED_CURRENCY", "USD"),
    ],
)
def test_xendit_invoice_validation_errors(fake_xendit, change, status, error_code, message):
    params = {key: value for key, value in invoice_params(**change).items() if value is not None}
    response = xendit(fake_xendit, "POST", "/v2/invoices", json=params)
    assert response.status_code == status
    body = response.json()
    assert body["error_code"] == error_code
    assert message in body["message"]
    if error_code == "API_VALIDATION_ERROR":
        assert body["errors"][0]["message"] == body["message"]
    assert fake_xendit._invoices == {}


def test_xendit_invalid_json_is_invalid_json_format(fake_xendit):
    response = xendit(
        fake_xendit, "POST", "/v2/invoices", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_JSON_FORMAT"


@pytest.mark.parametrize(
    ("key", "status", "error_code"),
    [
        (None, 401, "INVALID_API_KEY"),
        ("not-a-xendit-key", 401, "INVALID_API_KEY"),
        ("xnd_development_someoneElsesKey000000000000000000000000", 401, "INVALID_API_KEY"),
        (FAKE_PUBLIC_KEY, 403, "REQUEST_FORBIDDEN_ERROR"),
    ],
)
def test_xendit_auth_failures(fake_xendit, key, status, error_code):
    response = xendit(fake_xendit, "POST", "/v2/invoices", key=key, json=invoice_params())
    assert response.status_code == status
    assert response.json()["error_code"] == error_code
    assert set(response.json()) == {"error_code", "message"}
    assert fake_xendit._invoices == {}
    assert xendit(fake_xendit, "POST", "/refunds", key=key, json={}).status_code == status


def test_xendit_bearer_auth_is_not_basic_auth(fake_xendit):
    response = requests.post(
        fake_xendit.url + "/v2/invoices",
        json=invoice_params(),
        headers={"Authorization": f"Bearer {FAKE_SECRET_KEY}"},
        timeout=5,
    )
    assert response.status_code == 401
    assert response.json()["error_code"] == "INVALID_API_KEY"


def test_xendit_unknown_invoice_and_unknown_path(fake_xendit):
    response = xendit(fake_xendit, "POST", "/invoices/0123456789abcdef01234567/expire!")
    assert response.status_code == 404
    assert response.json() == {"error_code": "INVOICE_NOT_FOUND_ERROR", "message": "Invoice not found"}
    assert fake_xendit.unhandled == []

    response = xendit(fake_xendit, "POST", "/v2/payment_requests", json={})
    assert response.status_code == 404
    assert response.json()["error_code"] == "NOT_FOUND"
    assert fake_xendit.unhandled == [("POST", "/v2/payment_requests")]
    with pytest.raises(AssertionError):
        fake_xendit.assert_all_handled()

    # A field Xendit knows but the fake does not implement: refused and recorded.
    response = xendit(fake_xendit, "POST", "/v2/invoices", json=invoice_params(items=[]))
    assert response.status_code == 400
    assert response.json()["message"] == '"items" is not allowed'
    assert fake_xendit.unhandled[-1] == ("POST", "/v2/invoices items=")


# --- Xendit: callbacks -------------------------------------------------------------------------------


def test_xendit_pay_returns_the_paid_callback(fake_xendit):
    invoice = new_invoice(fake_xendit)
    callback = fake_xendit.pay(invoice["id"])
    assert set(callback) >= CALLBACK_KEYS
    assert callback["id"] == invoice["id"]
    assert callback["external_id"] == "inv_17-pay_3"
    assert callback["user_id"] == FAKE_USER_ID
    assert callback["is_high"] is False
    assert callback["status"] == "PAID"
    assert callback["payment_method"] == "EWALLET"
    assert callback["payment_channel"] == "OVO"
    assert callback["ewallet_type"] == "OVO"
    assert callback["merchant_name"] == invoice["merchant_name"]
    assert callback["amount"] == callback["paid_amount"] == 150000
    assert callback["fees_paid_amount"] == 0
    assert 0 < callback["adjusted_received_amount"] < 150000
    assert callback["bank_code"] is None
    assert callback["payment_destination"] is None
    assert callback["payer_email"] == "billing@dialtone.example"
    assert callback["description"] == "Dial Tone Pro, 1 month"
    assert callback["currency"] == "IDR"
    assert callback["created"] == invoice["created"]
    for name in ("paid_at", "updated", "created"):
        assert XENDIT_TIME.match(callback[name])
    assert callback["payment_id"].startswith("ewc_")
    assert callback["success_redirect_url"] == SUCCESS_URL

    stored = fake_xendit.invoice(invoice["id"])
    assert stored["status"] == "PAID"
    assert stored["paid_amount"] == 150000
    assert stored["paid_at"] == callback["paid_at"]
    assert stored["payment_method"] == "EWALLET"
    assert stored["payment_channel"] == "OVO"

    assert fake_xendit.callback_token == FAKE_CALLBACK_TOKEN
    assert fake_xendit.callbacks == [callback]

    with pytest.raises(ValueError, match="not PENDING"):
        fake_xendit.pay(invoice["id"])


def test_xendit_bank_transfer_settle_and_expire_callbacks(fake_xendit):
    invoice = new_invoice(fake_xendit)
    paid = fake_xendit.pay(invoice["id"], payment_method="BANK_TRANSFER", channel="MANDIRI")
    assert paid["payment_method"] == "BANK_TRANSFER"
    assert paid["bank_code"] == paid["payment_channel"] == "MANDIRI"
    assert re.fullmatch(r"\d{13}", paid["payment_destination"])
    assert paid["adjusted_received_amount"] == 150000 - 4000

    settled = fake_xendit.settle(invoice["id"])
    assert set(settled) >= CALLBACK_KEYS
    assert settled["status"] == "SETTLED"
    assert settled["paid_at"] == paid["paid_at"]
    assert settled["payment_destination"] == paid["payment_destination"]
    assert fake_xendit.invoice(invoice["id"])["status"] == "SETTLED"
    with pytest.raises(ValueError, match="not PAID"):
        fake_xendit.settle(invoice["id"])

    unpaid = new_invoice(fake_xendit, external_id="inv_19-pay_1")
    expired = fake_xendit.expire(unpaid["id"])
    assert set(expired) >= CALLBACK_KEYS
    assert expired["status"] == "EXPIRED"
    assert expired["external_id"] == "inv_19-pay_1"
    for name in ("payment_method", "paid_amount", "paid_at", "bank_code", "payment_channel", "payment_destination"):
        assert expired[name] is None
    assert fake_xendit.invoice(unpaid["id"])["status"] == "EXPIRED"
    with pytest.raises(ValueError, match="not PENDING"):
        fake_xendit.pay(unpaid["id"])
    assert [callback["status"] for callback in fake_xendit.callbacks] == ["PAID", "SETTLED", "EXPIRED"]


def test_xendit_pay_rejects_unknown_methods_and_channels(fake_xendit):
    invoice = new_invoice(fake_xendit)
    with pytest.raises(ValueError, match="Unknown payment_method"):
        fake_xendit.pay(invoice["id"], payment_method="CASH")
    with pytest.raises(ValueError, match="not a EWALLET channel"):
        fake_xendit.pay(invoice["id"], payment_method="EWALLET", channel="BCA")


# --- Xendit: refunds ---------------------------------------------------------------------------------


def refund_params(invoice_id: str, /, **overrides) -> dict:
    params = {"invoice_id": invoice_id, "amount": 50000, "reason": "REQUESTED_BY_CUSTOMER", "reference_id": "rf_1"}
    params.update(overrides)
    return params


@pytest.mark.parametrize(("method", "channel"), [("EWALLET", "DANA"), ("CREDIT_CARD", None)])
def test_xendit_refunds_of_ewallet_and_card_payments(fake_xendit, method, channel):
    invoice = new_invoice(fake_xendit)
    paid = fake_xendit.pay(invoice["id"], payment_method=method, channel=channel)

    response = xendit(fake_xendit, "POST", "/refunds", json=refund_params(invoice["id"]))
    assert response.status_code == 200
    refund = response.json()
    assert re.fullmatch(r"rfd-[0-9a-f-]{36}", refund["id"])
    assert refund["invoice_id"] == invoice["id"]
    assert refund["status"] == "PENDING"
    assert refund["amount"] == 50000
    assert refund["currency"] == "IDR"
    assert refund["reason"] == "REQUESTED_BY_CUSTOMER"
    assert refund["reference_id"] == "rf_1"
    assert refund["payment_method_type"] == method
    assert refund["channel_code"] == paid["payment_channel"]
    assert refund["payment_id"] == paid["payment_id"]
    assert refund["failure_code"] is None
    assert XENDIT_TIME.match(refund["created"])
    assert fake_xendit.refunds() == [refund]

    event = fake_xendit.complete_refund(refund["id"])
    assert event["event"] == "refund.succeeded"
    assert event["business_id"] == FAKE_USER_ID
    assert event["data"]["id"] == refund["id"]
    assert event["data"]["status"] == "SUCCEEDED"
    assert fake_xendit.refunds()[0]["status"] == "SUCCEEDED"

    too_much = xendit(fake_xendit, "POST", "/refunds", json=refund_params(invoice["id"], amount=100001))
    assert too_much.status_code == 400
    assert too_much.json()["error_code"] == "MAXIMUM_REFUND_AMOUNT_REACHED"

    rest = xendit(
        fake_xendit, "POST", "/refunds", json=refund_params(invoice["id"], amount=100000, reference_id="rf_2")
    )
    assert rest.status_code == 200
    assert rest.json()["amount"] == 100000
    assert rest.json()["status"] == "PENDING"
    nothing_left = xendit(fake_xendit, "POST", "/refunds", json=refund_params(invoice["id"], amount=1))
    assert nothing_left.json()["error_code"] == "MAXIMUM_REFUND_AMOUNT_REACHED"
    assert [r["amount"] for r in fake_xendit.refunds(invoice["id"])] == [50000, 100000]


def test_xendit_refunds_are_not_supported_for_other_payment_methods(fake_xendit):
    method = "BANK_TRANSFER"
    invoice = new_invoice(fake_xendit)
    fake_xendit.pay(invoice["id"], payment_method=method, channel="BCA")
    response = xendit(fake_xendit, "POST", "/refunds", json=refund_params(invoice["id"]))
    assert response.status_code == 400
    assert response.json()["error_code"] == "REFUND_NOT_SUPPORTED"
    assert method in response.json()["message"]
    assert fake_xendit.refunds() == []


def test_xendit_refund_errors(fake_xendit):
    invoice = new_invoice(fake_xendit)
    unpaid = xendit(fake_xendit, "POST", "/refunds", json=refund_params(invoice["id"]))
    assert unpaid.status_code == 403
    assert unpaid.json()["error_code"] == "INELIGIBLE_TRANSACTION"

    missing = xendit(fake_xendit, "POST", "/refunds", json=refund_params("0123456789abcdef01234567"))
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "DATA_NOT_FOUND"

    fake_xendit.pay(invoice["id"])
    for change, fragment in [
        ({"reason": "BECAUSE"}, '"reason" must be one of'),
        ({"reason": None}, '"reason" is required'),
        ({"amount": -5}, '"amount" must be a positive number'),
        ({"amount": 100.5}, "integer"),
        ({"currency": "USD"}, '"currency"'),
        ({"invoice_id": None}, '"invoice_id" is required'),
    ]:
        params = {key: value for key, value in refund_params(invoice["id"], **change).items() if value is not None}
        response = xendit(fake_xendit, "POST", "/refunds", json=params)
        assert response.status_code == 400, change
        assert response.json()["error_code"] == "API_VALIDATION_ERROR"
        assert fragment in response.json()["message"]

    refund = xendit(fake_xendit, "POST", "/refunds", json=refund_params(invoice["id"], amount=150000)).json()
    failed = fake_xendit.complete_refund(refund["id"], status="FAILED")
    assert failed["event"] == "refund.failed"
    assert failed["data"]["failure_code"] == "REFUND_FAILED"
    again = xendit(fake_xendit, "POST", "/refunds", json=refund_params(invoice["id"], amount=150000))
    assert again.status_code == 200  # the failed refund's amount is refundable again
    with pytest.raises(ValueError, match="not PENDING"):
        fake_xendit.complete_refund(refund["id"])


def test_xendit_idempotency_key_replays_and_rejects_other_bodies(fake_xendit):
    invoice = new_invoice(fake_xendit)
    fake_xendit.pay(invoice["id"])
    headers = {"idempotency-key": "refund-inv_17-1"}
    first = xendit(fake_xendit, "POST", "/refunds", json=refund_params(invoice["id"]), headers=headers)
    again = xendit(fake_xendit, "POST", "/refunds", json=refund_params(invoice["id"]), headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert len(fake_xendit.refunds()) == 1
    other = xendit(fake_xendit, "POST", "/refunds", json=refund_params(invoice["id"], amount=1000), headers=headers)
    assert other.status_code == 409
    assert other.json()["error_code"] == "DUPLICATE_ERROR"


def test_xendit_fail_next_and_delay_next(fake_xendit):
    def external_ids() -> list[str]:
        return [invoice["external_id"] for invoice in fake_xendit._invoices.values()]

    fake_xendit.fail_next("/v2/invoices")
    response = xendit(fake_xendit, "POST", "/v2/invoices", json=invoice_params())
    assert response.status_code == 500
    assert response.json()["error_code"] == "SERVER_ERROR"
    assert external_ids() == []
    assert new_invoice(fake_xendit)["status"] == "PENDING"

    fake_xendit.fail_next("/refunds", status=429, method="POST", times=2)
    for _ in range(2):
        limited = xendit(fake_xendit, "POST", "/refunds", json={})
        assert limited.status_code == 429
        assert limited.json()["error_code"] == "RATE_LIMIT_EXCEEDED"
    assert xendit(fake_xendit, "POST", "/refunds", json={}).status_code == 400  # answered again
    assert [request.status for request in fake_xendit.calls("POST", "/refunds")] == [429, 429, 400]

    fake_xendit.delay_next("/v2/invoices", 1.0, method="POST")
    with pytest.raises(requests.exceptions.ReadTimeout):
        xendit(fake_xendit, "POST", "/v2/invoices", json=invoice_params(external_id="late"), timeout=0.3)
    assert external_ids()[-1] == "late"  # Xendit acted

    fake_xendit.delay_next("/v2/invoices", 0.3, method="POST", drop=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        xendit(fake_xendit, "POST", "/v2/invoices", json=invoice_params(external_id="lost"))
    assert "lost" not in external_ids()


# --- Midtrans: Snap ------------------------------------------------------------------------------------


def test_midtrans_snap_create_and_status_before_payment(fake_midtrans):
    created = new_snap(fake_midtrans)
    assert set(created) == {"token", "redirect_url"}
    assert str(uuid.UUID(created["token"])) == created["token"]
    assert created["redirect_url"] == f"https://app.sandbox.midtrans.com/snap/v4/redirection/{created['token']}"
    assert fake_midtrans.snap_token("inv-17-pay-3") == created["token"]
    assert fake_midtrans.snap_request("inv-17-pay-3") == snap_params()
    (request,) = fake_midtrans.calls("POST", "/snap/v1/transactions")
    assert request.api_key == FAKE_SERVER_KEY
    assert request.status == 201

    # No Core transaction until the customer picks a payment method.
    response = midtrans(fake_midtrans, "GET", "/v2/inv-17-pay-3/status")
    assert response.status_code == 404
    body = response.json()
    assert body["status_code"] == "404"
    assert body["status_message"] == "Transaction doesn't exist."
    assert fake_midtrans.status("inv-17-pay-3") is None
    assert midtrans(fake_midtrans, "GET", "/v2/never-created/status").json()["status_code"] == "404"

    fake_midtrans.errors_as_http_200 = True
    response = midtrans(fake_midtrans, "GET", "/v2/inv-17-pay-3/status")
    assert response.status_code == 200
    assert response.json()["status_code"] == "404"
    fake_midtrans.assert_all_handled()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (snap_params(gross_amount=150000, item_details=[{"id": "a", "price": 100000, "quantity": 1, "name": "A"}]),
         "transaction_details.gross_amount is not equal to the sum of item_details"),
        ({"transaction_details": {"gross_amount": 150000}}, "transaction_details.order_id is required"),
        ({"transaction_details": {"order_id": "x-1"}}, "transaction_details.gross_amount is required"),
        ({"transaction_details": {"order_id": "x-1", "gross_amount": 1500.5}}, "must be an integer"),
        ({"transaction_details": {"order_id": "x 1", "gross_amount": 1500}}, "order_id may only contain"),
        ({"transaction_details": {"order_id": "x" * 51, "gross_amount": 1500}}, "order_id is too long"),
        (snap_params(customer_details={"email": "nope", "first_name": "N"}), "customer_details.email format is"),
        (snap_params(item_details=[{"id": "a", "price": 150000, "quantity": 0, "name": "A"}]), "quantity"),
        ({"customer_details": {"email": "a@b.co"}}, "transaction_details is required"),
    ],
)  # fmt: skip
def test_midtrans_snap_validation_errors(fake_midtrans, params, message):
    response = midtrans(fake_midtrans, "POST", "/snap/v1/transactions", json=params)
    assert response.status_code == 400
    assert set(response.json()) == {"error_messages"}
    assert any(message in text for text in response.json()["error_messages"]), response.json()
    assert fake_midtrans.order_ids() == []


def test_midtrans_snap_duplicate_order_ids(fake_midtrans):
    new_snap(fake_midtrans, "order-1")
    response = midtrans(fake_midtrans, "POST", "/snap/v1/transactions", json=snap_params("order-1"))
    assert response.status_code == 400
    assert response.json() == {"error_messages": ["transaction_details.order_id has already been taken"]}

    fake_midtrans.pay("order-1")
    response = midtrans(fake_midtrans, "POST", "/snap/v1/transactions", json=snap_params("order-1"))
    assert response.status_code == 400
    assert response.json() == {
        "error_messages": ["transaction_details.order_id has been paid and utilized, please use another order ID"]
    }


@pytest.mark.parametrize("key", [None, FAKE_CLIENT_KEY, "SB-Mid-server-someoneElse"])
def test_midtrans_auth_failures(fake_midtrans, key):
    snap = midtrans(fake_midtrans, "POST", "/snap/v1/transactions", key=key, json=snap_params())
    assert snap.status_code == 401
    assert snap.json() == {
        "error_messages": [
            "Access denied due to unauthorized transaction, please check client or server key",
            "Visit https://snap-docs.midtrans.com/#request-headers for more details",
        ]
    }
    assert fake_midtrans.order_ids() == []

    new_snap(fake_midtrans)
    fake_midtrans.pay("inv-17-pay-3")
    core = midtrans(fake_midtrans, "GET", "/v2/inv-17-pay-3/status", key=key)
    assert core.status_code == 401
    assert core.json()["status_code"] == "401"
    assert "cannot be authorized" in core.json()["status_message"]
    refund = midtrans(fake_midtrans, "POST", "/v2/inv-17-pay-3/refund", key=key, json={"amount": 1000})
    assert refund.status_code == 401


def test_midtrans_malformed_json(fake_midtrans):
    headers = {"Content-Type": "application/json"}
    snap = midtrans(fake_midtrans, "POST", "/snap/v1/transactions", data=b"{oops", headers=headers)
    assert snap.status_code == 400
    assert "error_messages" in snap.json()
    core = midtrans(fake_midtrans, "POST", "/v2/x/refund", data=b"{oops", headers=headers)
    assert core.json()["status_code"] == "413"


# --- Midtrans: notifications and status ----------------------------------------------------------------


def test_midtrans_pay_by_card_captures_and_signs_the_notification(fake_midtrans):
    new_snap(fake_midtrans)
    notification = fake_midtrans.pay("inv-17-pay-3")
    assert notification["status_code"] == "200"
    assert notification["status_message"] == "midtrans payment notification"
    assert notification["transaction_status"] == "capture"
    assert notification["fraud_status"] == "accept"
    assert notification["payment_type"] == "credit_card"
    assert notification["order_id"] == "inv-17-pay-3"
    assert notification["gross_amount"] == "150000.00"
    assert notification["currency"] == "IDR"
    assert notification["merchant_id"] == fake_midtrans.merchant_id
    assert MIDTRANS_TIME.match(notification["transaction_time"])
    assert str(uuid.UUID(notification["transaction_id"])) == notification["transaction_id"]
    assert notification["masked_card"] == "48111111-1114"
    assert notification["channel_response_message"] == "Approved"
    assert notification["card_type"] == "credit"
    assert notification["approval_code"]
    assert_signed(notification)
    assert notification["signature_key"] == signature_key("inv-17-pay-3", "200", "150000.00")
    assert notification["signature_key"] != sha512_signature("inv-17-pay-3", "200", "150000.00", "other-key")
    assert fake_midtrans.take_notifications() == [notification]

    response = midtrans(fake_midtrans, "GET", "/v2/inv-17-pay-3/status")
    assert response.status_code == 200
    status = response.json()
    assert status["status_message"] == "Success, transaction is found"
    for name in ("status_code", "transaction_id", "transaction_status", "fraud_status", "gross_amount", "currency"):
        assert status[name] == notification[name]
    assert status["signature_key"] == notification["signature_key"]

    settled = fake_midtrans.settle("inv-17-pay-3")
    assert settled["transaction_status"] == "settlement"
    assert settled["status_code"] == "200"
    assert settled["transaction_id"] == notification["transaction_id"]
    assert MIDTRANS_TIME.match(settled["settlement_time"])
    assert_signed(settled)
    assert midtrans(fake_midtrans, "GET", "/v2/inv-17-pay-3/status").json()["transaction_status"] == "settlement"


def test_midtrans_bank_transfer_pending_then_settlement(fake_midtrans):
    new_snap(fake_midtrans, "order-va")
    pending = fake_midtrans.pending("order-va")
    assert pending["status_code"] == "201"
    assert pending["transaction_status"] == "pending"
    assert pending["payment_type"] == "bank_transfer"
    assert pending["fraud_status"] == "accept"
    assert pending["va_numbers"][0]["bank"] == "bca"
    assert re.fullmatch(r"\d{11}", pending["va_numbers"][0]["va_number"])
    assert MIDTRANS_TIME.match(pending["expiry_time"])
    assert_signed(pending)
    status = midtrans(fake_midtrans, "GET", "/v2/order-va/status")
    assert status.status_code == 200
    assert status.json()["status_code"] == "201"

    settled = fake_midtrans.pay("order-va")  # the transfer arrives
    assert settled["transaction_status"] == "settlement"
    assert settled["status_code"] == "200"
    assert settled["payment_type"] == "bank_transfer"
    assert settled["va_numbers"] == pending["va_numbers"]
    assert settled["payment_amounts"] == [{"paid_at": settled["settlement_time"], "amount": "150000.00"}]
    assert_signed(settled)


@pytest.mark.parametrize(
    ("steps", "status_code", "transaction_status", "fraud_status", "payment_type"),
    [
        (["pay:gopay"], "200", "settlement", "accept", "gopay"),
        (["pay:qris"], "200", "settlement", "accept", "qris"),
        (["pending:cstore"], "201", "pending", None, "cstore"),
        (["challenge"], "201", "capture", "challenge", "credit_card"),
        (["deny"], "202", "deny", "deny", "credit_card"),
        (["pending:gopay", "cancel"], "200", "cancel", "accept", "gopay"),
        (["pay", "cancel"], "200", "cancel", "accept", "credit_card"),
        (["pending", "expire"], "407", "expire", "accept", "bank_transfer"),
        (["expire"], "407", "expire", "accept", "bank_transfer"),
    ],
)
def test_midtrans_notification_helpers(
    fake_midtrans, steps, status_code, transaction_status, fraud_status, payment_type
):
    new_snap(fake_midtrans, "order-x", 99000, item_details=None)
    for step in steps:
        name, _, argument = step.partition(":")
        notification = getattr(fake_midtrans, name)("order-x", *([argument] if argument else []))
    assert notification["status_code"] == status_code
    assert notification["transaction_status"] == transaction_status
    assert notification.get("fraud_status") == fraud_status
    assert notification["payment_type"] == payment_type
    assert notification["gross_amount"] == "99000.00"
    assert_signed(notification)
    status = midtrans(fake_midtrans, "GET", "/v2/order-x/status")
    assert status.status_code == 200  # 201 / 202 / 407 are answers, not errors
    assert status.json()["status_code"] == status_code
    assert status.json()["transaction_status"] == transaction_status
    assert [n["transaction_status"] for n in fake_midtrans.notifications][-1] == transaction_status


def test_midtrans_challenge_approve_and_core_actions(fake_midtrans):
    new_snap(fake_midtrans, "order-c")
    fake_midtrans.challenge("order-c")
    approved = midtrans(fake_midtrans, "POST", "/v2/order-c/approve")
    assert approved.status_code == 200
    assert approved.json()["status_message"] == "Success, transaction is approved"
    assert approved.json()["transaction_status"] == "capture"
    assert approved.json()["fraud_status"] == "accept"
    assert fake_midtrans.notifications[-1]["fraud_status"] == "accept"
    again = midtrans(fake_midtrans, "POST", "/v2/order-c/approve")
    assert again.status_code == 412
    assert again.json() == {
        "status_code": "412",
        "status_message": "Merchant cannot modify the status of the transaction",
    }

    canceled = midtrans(fake_midtrans, "POST", "/v2/order-c/cancel")
    assert canceled.json()["transaction_status"] == "cancel"
    assert canceled.json()["status_message"] == "Success, transaction is canceled"
    assert midtrans(fake_midtrans, "POST", "/v2/order-c/cancel").status_code == 412

    new_snap(fake_midtrans, "order-e")
    fake_midtrans.pending("order-e", "gopay")
    expired = midtrans(fake_midtrans, "POST", "/v2/order-e/expire")
    assert expired.status_code == 200
    assert expired.json()["status_code"] == "407"
    assert expired.json()["transaction_status"] == "expire"
    assert_signed(fake_midtrans.notifications[-1])
    assert midtrans(fake_midtrans, "POST", "/v2/order-e/expire").status_code == 412
    assert midtrans(fake_midtrans, "POST", "/v2/missing/cancel").status_code == 404


def test_midtrans_helpers_refuse_impossible_transitions(fake_midtrans):
    new_snap(fake_midtrans, "order-z")
    with pytest.raises(ValueError, match="only capture/accept or pending settle"):
        fake_midtrans.settle("order-z")
    with pytest.raises(ValueError, match="Unknown payment_type"):
        fake_midtrans.pay("order-z", "cash")
    fake_midtrans.pay("order-z")
    with pytest.raises(ValueError):
        fake_midtrans.pay("order-z")
    with pytest.raises(ValueError):
        fake_midtrans.expire("order-z")
    with pytest.raises(KeyError):
        fake_midtrans.pay("no-such-order")

    new_snap(fake_midtrans, "order-va")
    assert fake_midtrans.pending("order-va", bank="bni")["va_numbers"][0]["bank"] == "bni"


# --- Midtrans: refunds ----------------------------------------------------------------------------------


def settled_order(fake: FakeMidtrans, order_id: str = "order-r", payment_type: str = "credit_card") -> dict:
    new_snap(fake, order_id)
    fake.pay(order_id, payment_type)
    if payment_type == "credit_card":
        fake.settle(order_id)
    return fake.status(order_id)


def test_midtrans_partial_then_full_refund(fake_midtrans):
    paid = settled_order(fake_midtrans)
    fake_midtrans.take_notifications()
    body = {"refund_key": "inv-17-rf-1", "amount": 50000, "reason": "customer asked"}
    response = midtrans(fake_midtrans, "POST", "/v2/order-r/refund", json=body)
    assert response.status_code == 200
    first = response.json()
    assert first["status_code"] == "200"
    assert first["status_message"] == "Success, refund request is approved"
    assert first["transaction_id"] == paid["transaction_id"]
    assert first["order_id"] == "order-r"
    assert first["gross_amount"] == "150000.00"
    assert first["refund_amount"] == "50000.00"
    assert first["refund_key"] == "inv-17-rf-1"
    assert first["transaction_status"] == "partial_refund"
    assert isinstance(first["refund_chargeback_id"], int)

    (notification,) = fake_midtrans.take_notifications()
    assert notification["transaction_status"] == "partial_refund"
    assert notification["status_code"] == "200"
    assert notification["refunds"][0]["refund_key"] == "inv-17-rf-1"
    assert notification["refunds"][0]["refund_amount"] == "50000.00"
    assert notification["refunds"][0]["reason"] == "customer asked"
    assert MIDTRANS_TIME.match(notification["refunds"][0]["bank_confirmed_at"])
    assert_signed(notification)

    retry = midtrans(fake_midtrans, "POST", "/v2/order-r/refund", json=body)  # same refund_key: a retry
    assert retry.json() == first
    assert fake_midtrans.take_notifications() == []

    rest = midtrans(fake_midtrans, "POST", "/v2/order-r/refund", json={"refund_key": "inv-17-rf-2"}).json()
    assert rest["transaction_status"] == "refund"
    assert rest["refund_amount"] == "150000.00"  # cumulative
    status = midtrans(fake_midtrans, "GET", "/v2/order-r/status").json()
    assert status["transaction_status"] == "refund"
    assert [r["refund_amount"] for r in status["refunds"]] == ["50000.00", "100000.00"]

    over = midtrans(fake_midtrans, "POST", "/v2/order-r/refund", json={"amount": 1})
    assert over.status_code == 412  # nothing left: the transaction is refunded


def test_midtrans_refund_errors(fake_midtrans):
    settled_order(fake_midtrans)
    too_much = midtrans(fake_midtrans, "POST", "/v2/order-r/refund", json={"refund_key": "k1", "amount": 150001})
    assert too_much.status_code == 414
    assert too_much.json() == {
        "status_code": "414",
        "status_message": "Refund request is rejected due to invalid amount",
    }
    zero = midtrans(fake_midtrans, "POST", "/v2/order-r/refund", json={"amount": 0})
    assert zero.json()["status_code"] == "414"

    midtrans(fake_midtrans, "POST", "/v2/order-r/refund", json={"refund_key": "k1", "amount": 1000})
    other_amount = midtrans(fake_midtrans, "POST", "/v2/order-r/refund", json={"refund_key": "k1", "amount": 2000})
    assert other_amount.status_code == 406
    assert other_amount.json()["status_message"] == "Duplicate refund ID"

    invalid = midtrans(fake_midtrans, "POST", "/v2/order-r/refund", json={"refund_key": "bad key!", "amount": 10.5})
    assert invalid.status_code == 400
    assert len(invalid.json()["validation_messages"]) == 2

    new_snap(fake_midtrans, "order-captured")
    fake_midtrans.pay("order-captured")  # capture, not yet settled: Cancel, not Refund
    captured = midtrans(fake_midtrans, "POST", "/v2/order-captured/refund", json={"amount": 1000})
    assert captured.status_code == 412

    settled_order(fake_midtrans, "order-va", "bank_transfer")
    transfer = midtrans(fake_midtrans, "POST", "/v2/order-va/refund", json={"amount": 1000})
    assert transfer.status_code == 412
    assert transfer.json()["status_message"] == "Merchant cannot modify the status of the transaction"

    missing = midtrans(fake_midtrans, "POST", "/v2/missing/refund", json={"amount": 1000})
    assert missing.status_code == 404
    assert missing.json()["status_code"] == "404"

    fake_midtrans.errors_as_http_200 = True
    in_body = midtrans(fake_midtrans, "POST", "/v2/order-va/refund", json={"amount": 1000})
    assert in_body.status_code == 200
    assert in_body.json()["status_code"] == "412"


def test_midtrans_refund_helper_returns_refund_notifications(fake_midtrans):
    settled_order(fake_midtrans, "order-g", "gopay")
    partial = fake_midtrans.refund("order-g", 40000, reason="downgrade")
    assert partial["transaction_status"] == "partial_refund"
    assert partial["status_code"] == "200"
    assert partial["refund_amount"] == "40000.00"
    assert partial["refunds"][0]["refund_amount"] == "40000.00"
    assert partial["refunds"][0]["reason"] == "downgrade"
    assert_signed(partial)

    full = fake_midtrans.refund("order-g")
    assert full["transaction_status"] == "refund"
    assert [r["refund_amount"] for r in full["refunds"]] == ["40000.00", "110000.00"]
    assert_signed(full)
    with pytest.raises(ValueError, match="refuse"):
        fake_midtrans.refund("order-g", 1)


# --- Midtrans: failure injection -------------------------------------------------------------------------


def test_midtrans_fail_next_and_delay_next(fake_midtrans):
    fake_midtrans.fail_next("/snap/v1/transactions")
    failed = midtrans(fake_midtrans, "POST", "/snap/v1/transactions", json=snap_params())
    assert failed.status_code == 500
    assert failed.json() == {"error_messages": ["Sorry, we encountered internal server error. We will fix this soon."]}
    assert fake_midtrans.order_ids() == []
    new_snap(fake_midtrans)
    fake_midtrans.pay("inv-17-pay-3")

    fake_midtrans.fail_next("/v2/inv-17-pay-3", status=503, method="GET", message="Service unavailable")
    unavailable = midtrans(fake_midtrans, "GET", "/v2/inv-17-pay-3/status")
    assert unavailable.status_code == 503
    assert unavailable.json() == {"status_code": "503", "status_message": "Service unavailable"}
    assert midtrans(fake_midtrans, "GET", "/v2/inv-17-pay-3/status").status_code == 200
    assert [request.status for request in fake_midtrans.calls("GET", "/v2/")] == [503, 200]

    fake_midtrans.delay_next("/snap/v1/transactions", 1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        midtrans(fake_midtrans, "POST", "/snap/v1/transactions", json=snap_params("order-late"), timeout=0.3)
    assert "order-late" in fake_midtrans.order_ids()  # Midtrans made the token; the answer was lost

    fake_midtrans.delay_next("/snap/v1/transactions", 0.3, drop=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        midtrans(fake_midtrans, "POST", "/snap/v1/transactions", json=snap_params("order-lost"))
    assert "order-lost" not in fake_midtrans.order_ids()


def test_midtrans_unknown_path_is_recorded(fake_midtrans):
    response = midtrans(fake_midtrans, "POST", "/v2/charge", json={})
    assert response.status_code == 404
    assert fake_midtrans.unhandled == [("POST", "/v2/charge")]
    with pytest.raises(AssertionError):
        fake_midtrans.assert_all_handled()
