"""A fake Xendit API server for tests: real HTTP on loopback, Xendit's wire format.

`FakeXendit` is a small threaded HTTP server (stdlib `http.server`, bound to 127.0.0.1
on a free port) that speaks the part of Xendit's API the billing backend uses for
Indonesian customers: hosted invoices (payment links) and refunds. Requests carry JSON
bodies and HTTP Basic auth with the secret API key as the username and an empty
password; answers are Xendit's JSON objects, and errors are Xendit's envelope
`{"error_code": "...", "message": "..."}` with Xendit's status codes. Production code
talks to it with `requests` unchanged (`settings.XENDIT_API_BASE = fake.url`). Nothing
here reaches the network beyond loopback.

What it answers (anything else is a 404 `NOT_FOUND`, recorded in `fake.unhandled`;
`fake.assert_all_handled()` fails a test on it):

    POST /v2/invoices          create an invoice (status PENDING)
    GET  /v2/invoices          list, newest first (?external_id=, ?statuses[]=, ?limit=)
    GET  /v2/invoices/{id}     one invoice
    POST /invoices/{id}/expire!  expire a PENDING invoice (its EXPIRED callback is sent)
    POST /refunds              refund a paid invoice ({invoice_id, amount, reason, reference_id})
    GET  /refunds/{id}         one refund

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
payload Xendit would POST to the invoice webhook (with `callback_headers()`: Xendit sends
the account's callback verification token in `x-callback-token`):

    pay(invoice_id, payment_method="EWALLET", channel="OVO")   -> status PAID
    settle(invoice_id)                                          -> status SETTLED
    expire(invoice_id)                                          -> status EXPIRED
    complete_refund(refund_id, status="SUCCEEDED")              -> refund.succeeded / refund.failed

Callback payloads always carry every key of Xendit's sample; keys that do not apply
(bank_code for an e-wallet payment, all payment fields of an EXPIRED invoice) are null.
Channel-specific keys of Xendit's InvoiceCallback are added where they apply
(ewallet_type, credit_card_charge_id, retail_outlet_name), as are payment_id and the
redirect URLs. Every payload is also kept in `fake.callbacks` (`take_callbacks()`).

Refunds: only invoices paid by EWALLET or CREDIT_CARD can be refunded (others answer 400
REFUND_NOT_SUPPORTED). A new refund has status `fake.refund_status`, "PENDING" by default
(Xendit: "Refund is pending. Check the final status of the refund via webhook"); set it
to "SUCCEEDED" for refunds that complete at once. POSTs honour an `idempotency-key`
header: the same key and body replay the first answer, another body is 409
DUPLICATE_ERROR.

Failure injection: `fake.fail_next(path_prefix, status=500)` answers the next matching
request with a Xendit error before it is processed; `fake.delay_next(path_prefix,
seconds)` processes the request and holds its answer back (drop=True: not processed, the
connection closes unanswered). Every request is in `fake.requests` (`calls()`).
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from payments.tests.fake_http import FakeHandler, FakeHTTPServer, Rule, basic_auth_user

__all__ = [
    "DEFAULT_API_BASE",
    "FAKE_CALLBACK_TOKEN",
    "FAKE_PUBLIC_KEY",
    "FAKE_SECRET_KEY",
    "FAKE_USER_ID",
    "REFUNDABLE_METHODS",
    "FakeRequest",
    "FakeXendit",
    "fake_xendit",
    "fake_xendit_fixture",
]

DEFAULT_API_BASE = "https://api.xendit.co"
FAKE_SECRET_KEY = "xnd_development_fakeXenditSecretKey0123456789abcdefghijklmnopqrstuvwxyzAB"
FAKE_PUBLIC_KEY = "xnd_public_development_fakeXenditPublicKey0123456789abcdefghijklmnopqrst"
FAKE_CALLBACK_TOKEN = "fake-callback-token-0123456789abcdefghijklmnopqrstuvwxyzFakeXendit"
FAKE_USER_ID = "5f9a3fbd571a1c4068aa40ce"  # the Xendit business id ("user_id")
MERCHANT_NAME = "Fake Billing"

# Refunds of invoice payments: e-wallets and cards only.
REFUNDABLE_METHODS = ("EWALLET", "CREDIT_CARD")
REFUND_REASONS = ("FRAUDULENT", "DUPLICATE", "REQUESTED_BY_CUSTOMER", "CANCELLATION", "OTHERS")

# payment_method -> (default channel, known channels)
PAYMENT_METHODS = {
    "EWALLET": ("OVO", {"OVO", "DANA", "LINKAJA", "SHOPEEPAY", "ASTRAPAY", "JENIUSPAY", "NEXCASH"}),
    "CREDIT_CARD": ("CREDIT_CARD", {"CREDIT_CARD"}),
    "BANK_TRANSFER": ("BCA", {"BCA", "BNI", "BRI", "MANDIRI", "PERMATA", "BSI", "BJB", "CIMB", "SAHABAT_SAMPOERNA"}),
    "RETAIL_OUTLET": ("ALFAMART", {"ALFAMART", "INDOMARET"}),
    "QR_CODE": ("QRIS", {"QRIS"}),
    "DIRECT_DEBIT": ("DD_BRI", {"DD_BRI", "DD_MANDIRI", "DD_BCA_KLIKPAY"}),
    "PAYLATER": ("KREDIVO", {"KREDIVO", "AKULAKU", "ATOME", "INDODANA"}),
}

# The create-invoice parameters Xendit knows (CreateInvoiceRequest); others are rejected
# so a misspelt field fails loudly instead of being dropped.
_INVOICE_FIELDS = {
    "external_id", "amount", "payer_email", "description", "invoice_duration", "callback_virtual_account_id",
    "should_send_email", "customer", "customer_notification_preference", "success_redirect_url",
    "failure_redirect_url", "payment_methods", "mid_label", "should_authenticate_credit_card", "currency",
    "reminder_time", "local", "locale", "reminder_time_unit", "items", "fees", "channel_properties", "metadata",
    "fixed_va", "should_exclude_credit_card",
}  # fmt: skip
_REFUND_FIELDS = {"invoice_id", "payment_request_id", "reference_id", "amount", "currency", "reason", "metadata"}
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
    rates = {"EWALLET": (0.015, 0), "CREDIT_CARD": (0.029, 2000), "QR_CODE": (0.007, 0), "PAYLATER": (0.023, 0)}
    flat = {"BANK_TRANSFER": 4000, "RETAIL_OUTLET": 5000, "DIRECT_DEBIT": 1900}
    if method in rates:
        rate, fixed = rates[method]
        return round(amount * rate) + fixed
    return flat.get(method, 0)


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
    """One request the fake received. `body` is the parsed JSON (or form) body, `api_key`
    the Basic-auth username, `headers` the lower-cased request headers."""

    method: str
    path: str
    query: dict
    body: Any
    headers: dict
    api_key: str | None
    status: int = 0


# --- the server ---------------------------------------------------------------------------


class _Handler(FakeHandler):
    server_version = "FakeXendit/1.0"
    content_type = "application/json; charset=utf-8"

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = FakeHandler._serve


class FakeXendit(FakeHTTPServer):
    """In-memory Xendit, served over HTTP on 127.0.0.1. Use as a context manager or
    start()/stop(); `url` is the base to put in settings.XENDIT_API_BASE."""

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
        self.refund_status = "PENDING"
        self._invoices: dict[str, dict] = {}
        self._payments: dict[str, dict] = {}  # invoice id -> payment details (private)
        self._refunds: dict[str, dict] = {}
        self._idempotency: dict[str, dict] = {}
        self._taken = 0
        self.callbacks: list[dict] = []

    # --- test-facing API ----------------------------------------------------------------

    def invoice(self, invoice_id: str) -> dict:
        """A copy of a stored invoice, as GET /v2/invoices/{id} answers it."""
        with self._lock:
            return self._public(self._require_invoice(invoice_id))

    def invoices(self) -> list[dict]:
        """Copies of every invoice, oldest first."""
        with self._lock:
            return [self._public(invoice) for invoice in self._invoices.values()]

    def refund(self, refund_id: str) -> dict:
        with self._lock:
            if refund_id not in self._refunds:
                raise KeyError(refund_id)
            return copy.deepcopy(self._refunds[refund_id])

    def refunds(self, invoice_id: str | None = None) -> list[dict]:
        """Copies of the refunds (of one invoice), oldest first."""
        with self._lock:
            return [
                copy.deepcopy(refund)
                for refund in self._refunds.values()
                if invoice_id is None or refund["invoice_id"] == invoice_id
            ]

    def take_callbacks(self) -> list[dict]:
        """Callback payloads made since the last take_callbacks()."""
        with self._lock:
            fresh = self.callbacks[self._taken :]
            self._taken = len(self.callbacks)
            return copy.deepcopy(fresh)

    def callback_headers(self, token: str | None = None) -> dict:
        """The headers of Xendit's callback request: the verification token in x-callback-token."""
        return {"x-callback-token": self.callback_token if token is None else token}

    def callback_meta(self, token: str | None = None) -> dict:
        """The same header as Django test-client META (`client.post(..., **fake.callback_meta())`)."""
        return {"HTTP_X_CALLBACK_TOKEN": self.callback_token if token is None else token}

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

    def pay(
        self,
        invoice_id: str,
        payment_method: str = "EWALLET",
        channel: str | None = None,
        *,
        paid_amount: float | None = None,
        is_high: bool = False,
    ) -> dict:
        """The customer pays a PENDING invoice; returns the PAID callback payload.

        payment_method is one of EWALLET (default channel OVO), CREDIT_CARD, BANK_TRANSFER
        (BCA), RETAIL_OUTLET (ALFAMART), QR_CODE (QRIS), DIRECT_DEBIT (DD_BRI) or PAYLATER
        (KREDIVO); channel is the payment_channel (e.g. "DANA", "MANDIRI")."""
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
            allowed = invoice.get("_payment_methods")
            if allowed and channel not in allowed and payment_method not in allowed:
                raise ValueError(f"Invoice {invoice_id} only accepts {allowed}")
            now = _now()
            amount = invoice["amount"] if paid_amount is None else paid_amount
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
                "is_high": is_high,
                "payment_id": self._payment_id(payment_method),
                "refunded": 0,
            }
            if payment_method == "EWALLET":
                payment["ewallet_type"] = channel
            elif payment_method == "CREDIT_CARD":
                payment["credit_card_charge_id"] = _object_id()
            elif payment_method == "RETAIL_OUTLET":
                payment["retail_outlet_name"] = channel
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

    def complete_refund(self, refund_id: str, status: str = "SUCCEEDED", failure_code: str | None = None) -> dict:
        """A PENDING refund ends; returns Xendit's refund webhook (event refund.succeeded or
        refund.failed, with the refund in `data`). A failed refund gives its amount back to
        the refundable balance; failure_code defaults to REFUND_FAILED."""
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
                refund["failure_code"] = failure_code or "REFUND_FAILED"
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
        query: dict[str, Any] = {}
        for key, value in parse_qsl(split.query, keep_blank_values=True):
            name = key.removesuffix("[]")
            if key != name or name in query:  # a repeated or `name[]` parameter is a list
                existing = query.get(name, [])
                query[name] = [*(existing if isinstance(existing, list) else [existing]), value]
            else:
                query[name] = value
        body, parse_error = self._parse_body(method, headers, raw_body)
        api_key = basic_auth_user(headers.get("authorization", ""))
        record = FakeRequest(method, path, query, body, headers, api_key)
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

        idempotency_key = headers.get("idempotency-key") or headers.get("x-idempotency-key")
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

        status, payload = self._dispatch(method, path, query, body)
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
    def _parse_body(method: str, headers: dict, raw: bytes) -> tuple[Any, str | None]:
        if method not in ("POST", "PUT", "PATCH") or not raw:
            return None, None
        content_type = headers.get("content-type", "")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None, "The request body is not a valid JSON format."
        if content_type.startswith("application/x-www-form-urlencoded"):
            form: dict[str, Any] = {}
            for key, value in parse_qsl(text, keep_blank_values=True):
                form[key] = value
            for key in ("amount", "invoice_duration"):
                if isinstance(form.get(key), str):
                    with contextlib.suppress(ValueError):
                        number = float(form[key])
                        form[key] = int(number) if number.is_integer() else number
            return form, None
        try:
            parsed = json.loads(text)
        except ValueError:
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

    def _dispatch(self, method: str, path: str, query: dict, body: Any) -> tuple[int, Any]:
        found = self._route(self._routes(), method, path)
        if found is not None:
            handler, groups = found
            try:
                with self._lock:
                    return handler(query, body or {}, *[unquote(group) for group in groups])
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
            ("GET", re.compile(r"/v2/invoices"), self._h_invoice_list),
            ("GET", re.compile(rf"/v2/invoices/{segment}"), self._h_invoice_get),
            ("POST", re.compile(rf"/invoices/{segment}/expire!"), self._h_invoice_expire),
            ("POST", re.compile(r"/refunds"), self._h_refund_create),
            ("GET", re.compile(rf"/refunds/{segment}"), self._h_refund_get),
        )

    # --- invoices -----------------------------------------------------------------------

    def _require_invoice(self, invoice_id: str) -> dict:
        if invoice_id not in self._invoices:
            raise ApiError(404, "INVOICE_NOT_FOUND_ERROR", "Invoice not found")
        return self._invoices[invoice_id]

    def _h_invoice_create(self, query: dict, body: dict) -> tuple[int, dict]:
        unknown = sorted(set(body) - _INVOICE_FIELDS)
        if unknown:
            raise _validation(f'"{unknown[0]}" is not allowed', unknown[0])
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
        methods = body.get("payment_methods")
        if methods is not None and (not isinstance(methods, list) or not all(isinstance(m, str) for m in methods)):
            raise _validation('"payment_methods" must be an array of strings', "payment_methods")

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
                "should_exclude_credit_card": bool(body.get("should_exclude_credit_card", False)),
                "should_send_email": bool(body.get("should_send_email", False)),
            }
        )
        for name in ("success_redirect_url", "failure_redirect_url"):
            if name in body:
                invoice[name] = body[name]
        invoice.update({"created": _iso(now), "updated": _iso(now), "currency": currency})
        for name in ("items", "fees", "customer", "metadata"):
            if name in body:
                invoice[name] = copy.deepcopy(body[name])
        self._invoices[invoice_id] = invoice
        if methods:
            self._invoices[invoice_id]["_payment_methods"] = list(methods)
        return 200, self._public(invoice)

    def _h_invoice_get(self, query: dict, body: dict, invoice_id: str) -> tuple[int, dict]:
        return 200, self._public(self._require_invoice(invoice_id))

    def _h_invoice_expire(self, query: dict, body: dict, invoice_id: str) -> tuple[int, dict]:
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
        return 200, self._public(invoice)

    def _h_invoice_list(self, query: dict, body: dict) -> tuple[int, list]:
        invoices = list(reversed(self._invoices.values()))
        if "external_id" in query:
            invoices = [invoice for invoice in invoices if invoice["external_id"] == query["external_id"]]
        statuses = query.get("statuses")
        if statuses:
            if isinstance(statuses, str):  # statuses=["PAID","SETTLED"] or statuses=PAID
                statuses = json.loads(statuses) if statuses.startswith("[") else [statuses]
            wanted = set(statuses)
            invoices = [invoice for invoice in invoices if invoice["status"] in wanted]
        limit = int(query.get("limit") or 10)
        return 200, [self._public(invoice) for invoice in invoices[:limit]]

    @staticmethod
    def _public(invoice: dict) -> dict:
        return {key: copy.deepcopy(value) for key, value in invoice.items() if not key.startswith("_")}

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
        for name in ("ewallet_type", "credit_card_charge_id", "retail_outlet_name"):
            if name in payment:
                fields[name] = payment[name]
        return fields

    @staticmethod
    def _destination(payment_method: str) -> str | None:
        if payment_method == "BANK_TRANSFER":
            return "8808" + "".join(secrets.choice("0123456789") for _ in range(9))  # a virtual account number
        if payment_method == "RETAIL_OUTLET":
            return "TEST" + "".join(secrets.choice("0123456789") for _ in range(10))  # a payment code
        return None

    @staticmethod
    def _payment_id(payment_method: str) -> str:
        if payment_method == "EWALLET":
            return f"ewc_{uuid.uuid4()}"
        if payment_method == "QR_CODE":
            return f"qrpy_{uuid.uuid4()}"
        if payment_method == "DIRECT_DEBIT":
            return f"ddpy-{uuid.uuid4()}"
        return _object_id()

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
            for name in ("ewallet_type", "credit_card_charge_id", "retail_outlet_name"):
                if name in payment:
                    payload[name] = payment[name]
        for name in ("success_redirect_url", "failure_redirect_url"):
            if name in invoice:
                payload[name] = invoice[name]
        self.callbacks.append(copy.deepcopy(payload))
        return payload

    # --- refunds ------------------------------------------------------------------------

    def _h_refund_create(self, query: dict, body: dict) -> tuple[int, dict]:
        unknown = sorted(set(body) - _REFUND_FIELDS)
        if unknown:
            raise _validation(f'"{unknown[0]}" is not allowed', unknown[0])
        invoice_id = body.get("invoice_id")
        if invoice_id is None and body.get("payment_request_id") is not None:
            raise ApiError(404, "DATA_NOT_FOUND", "Data not found")  # no payment requests in this fake
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
        status = self.refund_status
        if status not in ("PENDING", "SUCCEEDED", "FAILED"):
            raise ValueError(f"FakeXendit.refund_status must be PENDING, SUCCEEDED or FAILED, not {status!r}")
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
            "status": status,
            "failure_code": "REFUND_FAILED" if status == "FAILED" else None,
            "refund_fee_amount": None,
            "created": _iso(now),
            "updated": _iso(now),
            "metadata": copy.deepcopy(body.get("metadata")),
        }
        if status != "FAILED":
            payment["refunded"] += refund["amount"]
        self._refunds[refund["id"]] = refund
        return 200, copy.deepcopy(refund)

    def _h_refund_get(self, query: dict, body: dict, refund_id: str) -> tuple[int, dict]:
        if refund_id not in self._refunds:
            raise ApiError(404, "DATA_NOT_FOUND", "Data not found")
        return 200, copy.deepcopy(self._refunds[refund_id])


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


# Importable under the fixture's own name (`from payments.tests.fake_xendit import fake_xendit`
# in a conftest); modules whose tests take a `fake_xendit` argument import `fake_xendit_fixture`.
fake_xendit = fake_xendit_fixture
