"""A fake Xendit API server for tests: real HTTP on loopback, Xendit's wire format.

`FakeXendit` is a small threaded HTTP server (stdlib `http.server`, bound to 127.0.0.1
on a free port) that answers the Xendit calls of payments.gateways.xendit: hosted
invoices (payment links) and refunds. Requests carry JSON bodies and HTTP Basic auth
with the secret API key as the username and an empty password; answers are Xendit's
JSON objects, and errors are Xendit's envelope `{"error_code": "...", "message": "..."}`
with Xendit's status codes. Production code talks to it with `requests` unchanged
(`settings.XENDIT_API_BASE = fake.url`). Nothing here reaches the network beyond loopback.

What it answers (anything else is a 404 `NOT_FOUND`, recorded in `fake.unhandled`, and
a body field it does not implement a 400 `"..." is not allowed`; `fake.assert_all_handled()`
fails a test on it):

    POST /v2/invoices            create an invoice (status PENDING)      create_checkout, pay_link
    POST /invoices/{id}/expire!  expire a PENDING invoice (its EXPIRED callback is sent)   expire_link
    POST /refunds                refund a paid invoice ({invoice_id, amount, reason, reference_id})   refund

Shapes follow Xendit's API reference and SDK docs: the invoice object and its create
parameters (xendit-php/xendit-node `Invoice`, `CreateInvoiceRequest`; Xendit's invoice
response examples), the invoice callback (Xendit's documented sample: id, external_id,
user_id, is_high, payment_method, status, merchant_name, amount, paid_amount, bank_code,
paid_at, payer_email, description, adjusted_received_amount, fees_paid_amount, updated,
created, currency, payment_channel, payment_destination), the refund object and its
errors (docs.xendit.co/apidocs/refund-payment-request; xendit-php `CreateRefund4xxResponse`;
the REFUND_NOT_SUPPORTED / MAXIMUM_REFUND_AMOUNT_REACHED / INELIGIBLE_TRANSACTION codes of
docs.xendit.co QR-code refund test scenarios) and the invoice error codes
(API_VALIDATION_ERROR, INVALID_JSON_FORMAT, MINIMAL_TRANSFER_AMOUNT_ERROR,
MAXIMUM_TRANSFER_AMOUNT_ERROR, INVALID_API_KEY, REQUEST_FORBIDDEN_ERROR,
INVOICE_NOT_FOUND_ERROR, UNSUPPORTED_CURRENCY).

Auth: only `fake.secret_key` (default FAKE_SECRET_KEY) is accepted; a missing or other
key is 401 INVALID_API_KEY, a public key (`xnd_public_...`) is 403 REQUEST_FORBIDDEN_ERROR.

Xendit's side is driven by helpers that change the invoice and return the callback
payload Xendit would POST to the invoice webhook (with the account's callback
verification token, `fake.callback_token`, in `x-callback-token`):

    pay(invoice_id, payment_method="EWALLET", channel="OVO")   -> status PAID
    settle(invoice_id)                                          -> status SETTLED
    expire(invoice_id)                                          -> status EXPIRED
    complete_refund(refund_id, status="SUCCEEDED")              -> refund.succeeded / refund.failed

Callback payloads always carry every key of Xendit's sample; keys that do not apply
(bank_code for an e-wallet payment, all payment fields of an EXPIRED invoice) are null.
Channel-specific keys of Xendit's InvoiceCallback are added where they apply
(ewallet_type, credit_card_charge_id), as are payment_id and the redirect URLs. Every
payload is also kept in `fake.callbacks`.

Refunds: only invoices paid by EWALLET or CREDIT_CARD can be refunded (others answer 400
REFUND_NOT_SUPPORTED). A new refund is PENDING (Xendit: "Refund is pending. Check the
final status of the refund via webhook"); `complete_refund` ends it. POSTs honour an
`idempotency-key` header: the same key and body replay the first answer, another body
is 409 DUPLICATE_ERROR.

Failure injection: `fake.fail_next(path_prefix, status=500)` answers the next matching
request with a Xendit error before it is processed; `fake.delay_next(path_prefix,
seconds)` processes the request and holds its answer back (drop=True: not processed, the
connection closes unanswered). Every request is in `fake.requests` (`calls()`).
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from payments.tests.fake_http import FakeHandler, FakeHTTPServer, Rule, basic_auth_user

__all__ = [
    "FAKE_CALLBACK_TOKEN",
    "FAKE_PUBLIC_KEY",
    "FAKE_SECRET_KEY",
    "FAKE_USER_ID",
    "REFUNDABLE_METHODS",
    "FakeRequest",
    "FakeXendit",
    "fake_xendit_fixture",
]

FAKE_SECRET_KEY = "xnd_development_fakeXenditSecretKey0123456789abcdefghijklmnopqrstuvwxyzAB"
FAKE_PUBLIC_KEY = "xnd_public_development_fakeXenditPublicKey0123456789abcdefghijklmnopqrst"
FAKE_CALLBACK_TOKEN = "fake-callback-token-0123456789abcdefghijklmnopqrstuvwxyzFakeXendit"
FAKE_USER_ID = "5f9a3fbd571a1c4068aa40ce"  # the Xendit business id ("user_id")
MERCHANT_NAME = "Fake Billing"

# Refunds of invoice payments: e-wallets and cards only.
REFUNDABLE_METHODS = ("EWALLET", "CREDIT_CARD")
REFUND_REASONS = ("FRAUDULENT", "DUPLICATE", "REQUESTED_BY_CUSTOMER", "CANCELLATION", "OTHERS")

# payment_method -> (default channel, known channels): the ways the tests' customers pay
# (a refundable e-wallet or card; a bank transfer, which Xendit does not refund).
PAYMENT_METHODS = {
    "EWALLET": ("OVO", {"OVO", "DANA", "LINKAJA", "SHOPEEPAY"}),
    "CREDIT_CARD": ("CREDIT_CARD", {"CREDIT_CARD"}),
    "BANK_TRANSFER": ("BCA", {"BCA", "BNI", "BRI", "MANDIRI"}),
}

# The fields of the create-invoice and refund requests the fake implements (those
# payments.gateways.xendit sends); others are rejected, as Xendit rejects unknown ones,
# so a new or misspelt field fails loudly instead of being dropped.
_INVOICE_FIELDS = {
    "external_id", "amount", "currency", "description", "invoice_duration", "metadata", "payer_email",
    "success_redirect_url", "failure_redirect_url",
}  # fmt: skip
_REFUND_FIELDS = {"invoice_id", "reference_id", "amount", "currency", "reason", "metadata"}
_CURRENCIES = {"IDR"}  # the fake account is an Indonesian one
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URI = re.compile(r"^https?://\S+$")


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    """Xendit's timestamps: ISO 8601 UTC with milliseconds, e.g. 2016-10-12T08:15:03.404Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _object_id() -> str:
    return secrets.token_hex(12)  # Xendit invoice ids are 24 hex characters


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fee(method: str, amount: float) -> int:
    """A plausible Xendit fee (the difference between paid_amount and adjusted_received_amount)."""
    rate, fixed = {"EWALLET": (0.015, 0), "CREDIT_CARD": (0.029, 2000), "BANK_TRANSFER": (0, 4000)}[method]
    return round(amount * rate) + fixed


class ApiError(Exception):
    """Answered as Xendit's error envelope with `status`."""

    def __init__(self, status: int, error_code: str, message: str, **extra):
        super().__init__(message)
        self.status = status
        self.body = {"error_code": error_code, "message": message, **extra}


def _validation(message: str, path: str | None = None) -> ApiError:
    errors = [{"path": [path] if path else [], "message": message}]
    return ApiError(400, "API_VALIDATION_ERROR", message, errors=errors)


@dataclass
class FakeRequest:
    """One request the fake received. `body` is the parsed JSON body, `api_key` the
    Basic-auth username, `headers` the lower-cased request headers."""

    method: str
    path: str
    body: Any
    headers: dict
    api_key: str | None
    status: int = 0


# --- the server ---------------------------------------------------------------------------


class _Handler(FakeHandler):
    server_version = "FakeXendit/1.0"
    content_type = "application/json; charset=utf-8"

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = FakeHandler._serve  # all answered and recorded


class FakeXendit(FakeHTTPServer):
    """In-memory Xendit, served over HTTP on 127.0.0.1: start()/stop(); `url` is the base
    to put in settings.XENDIT_API_BASE."""

    name = "FakeXendit"
    handler_class = _Handler
    requests: list[FakeRequest]
    user_id = FAKE_USER_ID
    merchant_name = MERCHANT_NAME
    min_amount = 10_000  # IDR; Xendit: "Could not create invoice because amount is below Rp10000."
    max_amount = 1_000_000_000

    def __init__(self, secret_key: str = FAKE_SECRET_KEY, callback_token: str = FAKE_CALLBACK_TOKEN):
        super().__init__()
        self.secret_key = secret_key
        self.callback_token = callback_token
        self._invoices: dict[str, dict] = {}
        self._payments: dict[str, dict] = {}  # invoice id -> payment details (private)
        self._refunds: dict[str, dict] = {}
        self._idempotency: dict[str, dict] = {}
        self.callbacks: list[dict] = []

    # --- test-facing API ----------------------------------------------------------------

    def invoice(self, invoice_id: str) -> dict:
        """A copy of a stored invoice, as Xendit answers it."""
        with self._lock:
            return copy.deepcopy(self._require_invoice(invoice_id))

    def refunds(self, invoice_id: str | None = None) -> list[dict]:
        """Copies of the refunds (of one invoice), oldest first."""
        with self._lock:
            return [
                copy.deepcopy(refund)
                for refund in self._refunds.values()
                if invoice_id is None or refund["invoice_id"] == invoice_id
            ]

    def fail_next(
        self,
        path_prefix: str,
        status: int = 500,
        *,
        method: str | None = None,
        times: int = 1,
        error_code: str | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next `times` requests under `path_prefix` with a Xendit error before
        they are processed. The error_code defaults by status: 429 RATE_LIMIT_EXCEEDED,
        503 SERVICE_UNAVAILABLE, other 5xx SERVER_ERROR, 4xx API_VALIDATION_ERROR."""
        if error_code is None:
            error_code = {429: "RATE_LIMIT_EXCEEDED", 503: "SERVICE_UNAVAILABLE"}.get(
                status, "SERVER_ERROR" if status >= 500 else "API_VALIDATION_ERROR"
            )
        body = {"error_code": error_code, "message": message or "Injected failure (FakeXendit.fail_next)."}
        with self._lock:
            self._rules.append(Rule(method, path_prefix, times, status=status, error=body))

    # --- helpers that play the customer's and Xendit's side ------------------------------

    def pay(self, invoice_id: str, payment_method: str = "EWALLET", channel: str | None = None) -> dict:
        """The customer pays a PENDING invoice in full; returns the PAID callback payload.

        payment_method is one of EWALLET (default channel OVO), CREDIT_CARD or BANK_TRANSFER
        (BCA); channel is the payment_channel (e.g. "DANA", "MANDIRI")."""
        if payment_method not in PAYMENT_METHODS:
            raise ValueError(f"Unknown payment_method {payment_method!r}; one of {sorted(PAYMENT_METHODS)}")
        default_channel, channels = PAYMENT_METHODS[payment_method]
        channel = channel or default_channel
        if channel not in channels:
            raise ValueError(f"{channel!r} is not a {payment_method} channel; one of {sorted(channels)}")
        with self._lock:
            invoice = self._require_invoice(invoice_id)
            if invoice["status"] != "PENDING":
                raise ValueError(f"Invoice {invoice_id} is {invoice['status']}, not PENDING")
            now = _now()
            amount = invoice["amount"]
            fee = _fee(payment_method, amount)
            payment = {
                "payment_method": payment_method,
                "payment_channel": channel,
                "paid_amount": amount,
                "paid_at": _iso(now),
                "bank_code": channel if payment_method == "BANK_TRANSFER" else None,
                "payment_destination": self._destination(payment_method),
                "adjusted_received_amount": amount - fee,
                "fees_paid_amount": 0,
                "is_high": False,
                "payment_id": self._payment_id(payment_method),
                "refunded": 0,
            }
            if payment_method == "EWALLET":
                payment["ewallet_type"] = channel
            elif payment_method == "CREDIT_CARD":
                payment["credit_card_charge_id"] = _object_id()
            self._payments[invoice_id] = payment
            invoice["status"] = "PAID"
            invoice["updated"] = _iso(now)
            invoice.update(self._payment_fields(payment))
            return self._callback(invoice)

    def settle(self, invoice_id: str) -> dict:
        """The funds of a PAID invoice settle into the balance; returns the SETTLED callback."""
        with self._lock:
            invoice = self._require_invoice(invoice_id)
            if invoice["status"] != "PAID":
                raise ValueError(f"Invoice {invoice_id} is {invoice['status']}, not PAID")
            invoice["status"] = "SETTLED"
            invoice["updated"] = _iso(_now())
            return self._callback(invoice)

    def expire(self, invoice_id: str) -> dict:
        """A PENDING invoice expires unpaid; returns the EXPIRED callback."""
        with self._lock:
            invoice = self._require_invoice(invoice_id)
            if invoice["status"] != "PENDING":
                raise ValueError(f"Invoice {invoice_id} is {invoice['status']}, not PENDING")
            now = _now()
            invoice["status"] = "EXPIRED"
            invoice["expiry_date"] = _iso(now)
            invoice["updated"] = _iso(now)
            return self._callback(invoice)

    def complete_refund(self, refund_id: str, status: str = "SUCCEEDED") -> dict:
        """A PENDING refund ends; returns Xendit's refund webhook (event refund.succeeded or
        refund.failed, with the refund in `data`). A failed refund (failure_code
        REFUND_FAILED) gives its amount back to the refundable balance."""
        if status not in ("SUCCEEDED", "FAILED"):
            raise ValueError("status must be 'SUCCEEDED' or 'FAILED'")
        with self._lock:
            if refund_id not in self._refunds:
                raise KeyError(refund_id)
            refund = self._refunds[refund_id]
            if refund["status"] != "PENDING":
                raise ValueError(f"Refund {refund_id} is {refund['status']}, not PENDING")
            now = _now()
            refund["status"] = status
            refund["updated"] = _iso(now)
            if status == "FAILED":
                refund["failure_code"] = "REFUND_FAILED"
                self._payments[refund["invoice_id"]]["refunded"] -= refund["amount"]
            payload = {
                "event": "refund.succeeded" if status == "SUCCEEDED" else "refund.failed",
                "business_id": self.user_id,
                "created": _iso(now),
                "data": copy.deepcopy(refund),
            }
            self.callbacks.append(copy.deepcopy(payload))
            return payload

    # --- HTTP plumbing ------------------------------------------------------------------

    def _respond(self, method: str, raw_path: str, headers: dict, raw_body: bytes):
        """(status, json, headers, hold_seconds), or None to drop the connection."""
        headers = {key.lower(): value for key, value in headers.items()}
        split = urlsplit(raw_path)
        path = split.path.rstrip("/") or "/"
        body, parse_error = self._parse_body(method, raw_body)
        api_key = basic_auth_user(headers.get("authorization", ""))
        record = FakeRequest(method, path, body, headers, api_key)
        rule = self._take_rule(record)

        def answer(status: int, payload: Any, hold: float = 0.0):
            record.status = status
            return status, payload, {}, hold

        hold = self._hold(rule, record)
        if hold is None:
            return None
        if rule is not None and rule.error:
            return answer(rule.status, dict(rule.error), hold)

        auth_error = self._check_auth(api_key, headers.get("authorization", ""))
        if auth_error is not None:
            return answer(auth_error.status, auth_error.body, hold)
        if parse_error:
            return answer(400, {"error_code": "INVALID_JSON_FORMAT", "message": parse_error}, hold)

        idempotency_key = headers.get("idempotency-key")
        use_key = method == "POST" and bool(idempotency_key)
        if use_key:
            with self._lock:
                entry = self._idempotency.get(idempotency_key)
                if entry is not None:
                    if entry["path"] != path or entry["body"] != body or entry.get("in_flight"):
                        return answer(
                            409,
                            {
                                "error_code": "DUPLICATE_ERROR",
                                "message": "duplicate value on idempotency_key, try again with a new key",
                            },
                            hold,
                        )
                    return answer(entry["status"], copy.deepcopy(entry["payload"]), hold)
                self._idempotency[idempotency_key] = {"path": path, "body": copy.deepcopy(body), "in_flight": True}

        status, payload = self._dispatch(method, path, body)
        if use_key:
            with self._lock:
                if 200 <= status < 300:
                    self._idempotency[idempotency_key].update(
                        {"in_flight": False, "status": status, "payload": copy.deepcopy(payload)}
                    )
                else:  # errors are not kept: the key may be used again
                    self._idempotency.pop(idempotency_key, None)
        return answer(status, payload, hold)

    @staticmethod
    def _parse_body(method: str, raw: bytes) -> tuple[Any, str | None]:
        if method not in ("POST", "PUT", "PATCH") or not raw:
            return None, None
        try:
            parsed = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None, "The request body is not a valid JSON format."
        if not isinstance(parsed, dict):
            return None, "The request body is not a valid JSON format."
        return parsed, None

    def _check_auth(self, api_key: str | None, authorization: str) -> ApiError | None:
        if not authorization or api_key is None or not api_key.startswith("xnd_"):
            return ApiError(401, "INVALID_API_KEY", "API key format is invalid")
        if api_key.startswith("xnd_public_"):
            return ApiError(403, "REQUEST_FORBIDDEN_ERROR", "The API key is forbidden to perform this request")
        if api_key != self.secret_key:
            return ApiError(401, "INVALID_API_KEY", "API key is invalid")
        return None

    def _dispatch(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        found = self._route(self._routes(), method, path)
        if found is not None:
            handler, groups = found
            try:
                with self._lock:
                    return handler(body or {}, *[unquote(group) for group in groups])
            except ApiError as exc:
                return exc.status, exc.body
            except Exception:
                trace = self._record_crash(method, path)
                return 500, {"error_code": "SERVER_ERROR", "message": "FakeXendit crashed: " + trace.splitlines()[-1]}
        with self._lock:
            self.unhandled.append((method, path))
        return 404, {"error_code": "NOT_FOUND", "message": f"{method} {path} is not implemented by FakeXendit"}

    def _routes(self):
        segment = r"([^/]+)"
        return (
            ("POST", re.compile(r"/v2/invoices"), self._h_invoice_create),
            ("POST", re.compile(rf"/invoices/{segment}/expire!"), self._h_invoice_expire),
            ("POST", re.compile(r"/refunds"), self._h_refund_create),
        )

    # --- invoices -----------------------------------------------------------------------

    def _allow(self, body: dict, fields: set, path: str) -> None:
        unknown = sorted(set(body) - fields)
        if unknown:
            self.unhandled.append(("POST", f"{path} {unknown[0]}="))
            raise _validation(f'"{unknown[0]}" is not allowed', unknown[0])

    def _require_invoice(self, invoice_id: str) -> dict:
        if invoice_id not in self._invoices:
            raise ApiError(404, "INVOICE_NOT_FOUND_ERROR", "Invoice not found")
        return self._invoices[invoice_id]

    def _h_invoice_create(self, body: dict) -> tuple[int, dict]:
        self._allow(body, _INVOICE_FIELDS, "/v2/invoices")
        external_id = body.get("external_id")
        if external_id is None:
            raise _validation('"external_id" is required', "external_id")
        if not isinstance(external_id, str) or not external_id.strip():
            raise _validation('"external_id" must be a non-empty string', "external_id")
        if len(external_id) > 1000:
            raise _validation('"external_id" length must be less than or equal to 1000 characters long', "external_id")
        amount = body.get("amount")
        if amount is None:
            raise _validation('"amount" is required', "amount")
        if not _is_number(amount):
            raise _validation('"amount" must be a number', "amount")
        currency = body.get("currency", "IDR")
        if not isinstance(currency, str):
            raise _validation('"currency" must be a string', "currency")
        if currency not in _CURRENCIES:
            raise ApiError(400, "UNSUPPORTED_CURRENCY", f"Currency {currency} is not supported for this business")
        if currency == "IDR":
            amount = int(amount)  # Xendit truncates IDR decimals (IDR 4550.50 -> 4550)
        if amount < self.min_amount:
            raise ApiError(
                400,
                "MINIMAL_TRANSFER_AMOUNT_ERROR",
                f"Could not create invoice because amount is below Rp{self.min_amount}.",
            )
        if amount > self.max_amount:
            raise ApiError(
                400,
                "MAXIMUM_TRANSFER_AMOUNT_ERROR",
                f"Could not create invoice because amount is above Rp{self.max_amount}.",
            )
        for name in ("payer_email", "description", "success_redirect_url", "failure_redirect_url"):
            if name in body and not isinstance(body[name], str):
                raise _validation(f'"{name}" must be a string', name)
        if "payer_email" in body and not _EMAIL.match(body["payer_email"]):
            raise _validation('"payer_email" must be a valid email', "payer_email")
        if len(body.get("description") or "") > 1000:
            raise _validation('"description" length must be less than or equal to 1000 characters long', "description")
        for name in ("success_redirect_url", "failure_redirect_url"):
            if name in body and not _URI.match(body[name]):
                raise _validation(f'"{name}" must be a valid uri', name)
        duration = body.get("invoice_duration", 86400)
        if isinstance(duration, str) and duration.isdigit():
            duration = int(duration)
        if not _is_number(duration) or not 1 <= duration <= 31536000:
            raise _validation('"invoice_duration" must be a number between 1 and 31536000', "invoice_duration")

        now = _now()
        invoice_id = _object_id()
        invoice: dict[str, Any] = {
            "id": invoice_id,
            "external_id": external_id,
            "user_id": self.user_id,
            "status": "PENDING",
            "merchant_name": self.merchant_name,
            "merchant_profile_picture_url": "https://du8nwjtfkinx.cloudfront.net/xendit.png",
            "amount": amount,
        }
        for name in ("payer_email", "description"):
            if name in body:
                invoice[name] = body[name]
        invoice.update(
            {
                "expiry_date": _iso(now + timedelta(seconds=duration)),
                "invoice_url": f"https://checkout.xendit.co/web/{invoice_id}",
                "available_banks": [
                    {
                        "bank_code": bank,
                        "collection_type": "POOL",
                        "transfer_amount": amount,
                        "bank_branch": "Virtual Account",
                        "account_holder_name": self.merchant_name.upper(),
                        "identity_amount": 0,
                    }
                    for bank in ("MANDIRI", "BRI", "BNI", "PERMATA", "BCA")
                ],
                "available_retail_outlets": [{"retail_outlet_name": "ALFAMART"}, {"retail_outlet_name": "INDOMARET"}],
                "available_ewallets": [
                    {"ewallet_type": kind} for kind in ("OVO", "DANA", "SHOPEEPAY", "LINKAJA", "ASTRAPAY")
                ],
                "available_qr_codes": [{"qr_code_type": "QRIS"}],
                "available_direct_debits": [{"direct_debit_type": "DD_BRI"}],
                "available_paylaters": [{"paylater_type": "KREDIVO"}],
                "should_exclude_credit_card": False,
                "should_send_email": False,
            }
        )
        for name in ("success_redirect_url", "failure_redirect_url"):
            if name in body:
                invoice[name] = body[name]
        invoice.update({"created": _iso(now), "updated": _iso(now), "currency": currency})
        if "metadata" in body:
            invoice["metadata"] = copy.deepcopy(body["metadata"])
        self._invoices[invoice_id] = invoice
        return 200, copy.deepcopy(invoice)

    def _h_invoice_expire(self, body: dict, invoice_id: str) -> tuple[int, dict]:
        """POST /invoices/{id}/expire! (xendit-php InvoiceApi expireInvoice): a PENDING
        invoice becomes EXPIRED (and its callback is sent); any other is not found."""
        invoice = self._invoices.get(invoice_id)
        if invoice is None or invoice["status"] != "PENDING":
            raise ApiError(404, "INVOICE_NOT_FOUND_ERROR", "Invoice not found")
        now = _now()
        invoice["status"] = "EXPIRED"
        invoice["expiry_date"] = _iso(now)
        invoice["updated"] = _iso(now)
        self._callback(invoice)
        return 200, copy.deepcopy(invoice)

    @staticmethod
    def _payment_fields(payment: dict) -> dict:
        fields = {
            name: payment[name]
            for name in (
                "paid_amount",
                "paid_at",
                "payment_method",
                "payment_channel",
                "payment_destination",
                "payment_id",
                "adjusted_received_amount",
                "fees_paid_amount",
            )
        }
        if payment["bank_code"]:
            fields["bank_code"] = payment["bank_code"]
        for name in ("ewallet_type", "credit_card_charge_id"):
            if name in payment:
                fields[name] = payment[name]
        return fields

    @staticmethod
    def _destination(payment_method: str) -> str | None:
        if payment_method == "BANK_TRANSFER":
            return "8808" + "".join(secrets.choice("0123456789") for _ in range(9))  # a virtual account number
        return None

    @staticmethod
    def _payment_id(payment_method: str) -> str:
        return f"ewc_{uuid.uuid4()}" if payment_method == "EWALLET" else _object_id()

    def _callback(self, invoice: dict) -> dict:
        """Xendit's invoice callback for the invoice's current state (also kept in fake.callbacks)."""
        payment = self._payments.get(invoice["id"])
        paid = payment is not None and invoice["status"] in ("PAID", "SETTLED")
        payload: dict[str, Any] = {
            "id": invoice["id"],
            "external_id": invoice["external_id"],
            "user_id": invoice["user_id"],
            "is_high": payment["is_high"] if paid else False,
            "payment_method": payment["payment_method"] if paid else None,
            "status": invoice["status"],
            "merchant_name": invoice["merchant_name"],
            "amount": invoice["amount"],
            "paid_amount": payment["paid_amount"] if paid else None,
            "bank_code": payment["bank_code"] if paid else None,
            "paid_at": payment["paid_at"] if paid else None,
            "payer_email": invoice.get("payer_email"),
            "description": invoice.get("description"),
            "adjusted_received_amount": payment["adjusted_received_amount"] if paid else None,
            "fees_paid_amount": payment["fees_paid_amount"] if paid else None,
            "updated": invoice["updated"],
            "created": invoice["created"],
            "currency": invoice["currency"],
            "payment_channel": payment["payment_channel"] if paid else None,
            "payment_destination": payment["payment_destination"] if paid else None,
        }
        if paid:
            payload["payment_id"] = payment["payment_id"]
            for name in ("ewallet_type", "credit_card_charge_id"):
                if name in payment:
                    payload[name] = payment[name]
        for name in ("success_redirect_url", "failure_redirect_url"):
            if name in invoice:
                payload[name] = invoice[name]
        self.callbacks.append(copy.deepcopy(payload))
        return payload

    # --- refunds ------------------------------------------------------------------------

    def _h_refund_create(self, body: dict) -> tuple[int, dict]:
        self._allow(body, _REFUND_FIELDS, "/refunds")
        invoice_id = body.get("invoice_id")
        if not isinstance(invoice_id, str) or not invoice_id:
            raise _validation('"invoice_id" is required', "invoice_id")
        reason = body.get("reason")
        if reason is None:
            raise _validation('"reason" is required', "reason")
        if reason not in REFUND_REASONS:
            raise _validation(f'"reason" must be one of [{", ".join(REFUND_REASONS)}]', "reason")
        reference_id = body.get("reference_id")
        if reference_id is not None and (not isinstance(reference_id, str) or not 1 <= len(reference_id) <= 255):
            raise _validation('"reference_id" must be a string of 1 to 255 characters', "reference_id")
        amount = body.get("amount")
        if amount is not None and (not _is_number(amount) or amount <= 0):
            raise _validation('"amount" must be a positive number', "amount")
        if invoice_id not in self._invoices:
            raise ApiError(404, "DATA_NOT_FOUND", "Data not found")
        invoice = self._invoices[invoice_id]
        currency = body.get("currency")
        if currency is not None and currency != invoice["currency"]:
            raise _validation(f'"currency" must be {invoice["currency"]}, the currency of the payment', "currency")
        payment = self._payments.get(invoice_id)
        if invoice["status"] not in ("PAID", "SETTLED") or payment is None:
            raise ApiError(
                403,
                "INELIGIBLE_TRANSACTION",
                f"Invoice {invoice_id} is {invoice['status']}; only a paid invoice can be refunded",
            )
        if payment["payment_method"] not in REFUNDABLE_METHODS:
            raise ApiError(
                400,
                "REFUND_NOT_SUPPORTED",
                f"Refund is not supported for payments made with {payment['payment_method']} "
                f"({payment['payment_channel']})",
            )
        remaining = payment["paid_amount"] - payment["refunded"]
        if amount is None:
            amount = remaining
        if invoice["currency"] == "IDR" and amount != int(amount):
            raise _validation('"amount" must be an integer for IDR', "amount")
        if amount > remaining:
            raise ApiError(
                400,
                "MAXIMUM_REFUND_AMOUNT_REACHED",
                "Error because the provided amount is greater than the allowed refund amount.",
            )
        now = _now()
        refund = {
            "id": f"rfd-{uuid.uuid4()}",
            "payment_request_id": None,
            "payment_id": payment["payment_id"],
            "invoice_id": invoice_id,
            "payment_method_type": payment["payment_method"],
            "channel_code": payment["payment_channel"],
            "amount": int(amount) if invoice["currency"] == "IDR" else amount,
            "currency": invoice["currency"],
            "country": "ID",
            "reference_id": reference_id,
            "reason": reason,
            "status": "PENDING",
            "failure_code": None,
            "refund_fee_amount": None,
            "created": _iso(now),
            "updated": _iso(now),
            "metadata": copy.deepcopy(body.get("metadata")),
        }
        payment["refunded"] += refund["amount"]
        self._refunds[refund["id"]] = refund
        return 200, copy.deepcopy(refund)


@pytest.fixture(name="fake_xendit")
def fake_xendit_fixture(settings):
    """A running FakeXendit; Django settings point at it.

    Sets XENDIT_API_BASE (the fake's URL), XENDIT_SECRET_KEY and XENDIT_CALLBACK_TOKEN
    through pytest-django's `settings` (restored after the test); the server stops at the
    end. Fails the test if the fake itself crashed.
    """
    fake = FakeXendit().start()
    try:
        settings.XENDIT_API_BASE = fake.url
        settings.XENDIT_SECRET_KEY = fake.secret_key
        settings.XENDIT_CALLBACK_TOKEN = fake.callback_token
        yield fake
    finally:
        fake.stop()
    assert not fake.errors, "FakeXendit crashed while serving:\n" + "\n".join(fake.errors)
