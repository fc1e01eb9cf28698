"""A fake Midtrans API server for tests: real HTTP on loopback, Midtrans' wire format.

`FakeMidtrans` is a small threaded HTTP server (stdlib `http.server`, bound to 127.0.0.1
on a free port) that plays both Midtrans hosts the billing backend talks to: Snap
(app.sandbox.midtrans.com, the hosted payment page) and the Core API
(api.sandbox.midtrans.com, status and refunds), as payments.gateways.midtrans calls
them. Requests carry JSON bodies and HTTP Basic auth with the server key as the username
and an empty password. Production code talks to it with `requests` unchanged
(settings.MIDTRANS_SNAP_BASE and MIDTRANS_API_BASE both = fake.url). Nothing here
reaches the network beyond loopback.

What it answers (anything else is a 404, recorded in `fake.unhandled`;
`fake.assert_all_handled()` fails a test on it):

    POST /snap/v1/transactions     Snap: 201 {token, redirect_url}            create_checkout, pay_link
    GET  /v2/{order_id}/status     Core: the transaction status               verify_event, refund
    POST /v2/{order_id}/refund     Core: refund a settled transaction ({refund_key, amount, reason})   refund
    POST /v2/{order_id}/cancel     Core: cancel a pending / captured (or challenged) one   refund (a card not settled)
    POST /v2/{order_id}/expire     Core: expire a pending one                  expire_link
    POST /v2/{order_id}/approve    Core: accept a card payment held with fraud_status challenge
                                   (tests: a challenge approved on Midtrans' dashboard)

Shapes follow Midtrans' docs: the Snap response and its errors (docs.midtrans.com Snap
"Response": 201 {token, redirect_url}; 401 and 400 `{"error_messages": [...]}` incl.
"transaction_details.gross_amount is not equal to the sum of item_details" and "...order_id
has been paid and utilized, please use another order ID"; a reused unpaid order_id is
"transaction_details.order_id has already been taken"), the GET status response and its
404 body (docs.midtrans.com/docs/get-status-api-requests), the refund request, response,
errors 412 / 414 / 406 and refund notifications with `refunds` (docs.midtrans.com/reference
refund-transaction and direct-refund-transaction), cancel / approve answers
(approve-transaction), the HTTP notification samples per payment channel and the
signature rule SHA512(order_id + status_code + gross_amount + server_key)
(docs.midtrans.com/docs/https-notification-webhooks), and the status codes (200 success,
201 pending or challenge, 202 denied, 407 expired, 4xx errors: docs.midtrans.com/reference
status-codes).

Core API errors are `{"status_code": "4xx", "status_message": ..., ...}` and by default the
HTTP status equals status_code (404 for an unknown order). Midtrans has also answered such
errors with HTTP 200 and the code only in the body; `fake.errors_as_http_200 = True` does
that, so code that must look at the body's status_code can be tested. Success bodies whose
status_code is not 200 (201 pending, 202 deny, 407 expire) are HTTP 200 either way.

As on Midtrans, a Snap transaction has no Core status until the customer picks a payment
method: GET status answers 404 until one of the helpers below has run.

The customer's and Midtrans' side is driven by helpers that change the transaction and
return the HTTP notification Midtrans would POST to the merchant, with a correct
`signature_key` for `fake.server_key`:

    pay(order_id, payment_type="credit_card")   card: capture + fraud_status accept ("200");
                                                gopay, shopeepay, qris, bank_transfer,
                                                cstore: settlement ("200"); after deny(), a
                                                new transaction of the same order
    settle(order_id)                            capture / pending -> settlement ("200")
    pending(order_id, payment_type="bank_transfer", bank="bca")   pending ("201", VA number)
    challenge(order_id)                         card capture held by the FDS: fraud_status challenge ("201")
    deny(order_id)                              deny ("202")
    cancel(order_id)                            cancel ("200")
    expire(order_id)                            expire ("407")
    refund(order_id, amount=None)               refund / partial_refund ("200", with `refunds`)

Every notification (also those caused by the Core API actions) is kept in
`fake.notifications` (`take_notifications()`).

Failure injection: `fake.fail_next(path_prefix, status=500)` answers the next matching
request with a Midtrans error before it is processed; `fake.delay_next(path_prefix,
seconds)` processes the request and holds its answer back (drop=True: not processed, the
connection closes unanswered). Every request is in `fake.requests` (`calls()`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from payments.tests.fake_http import FakeHandler, FakeHTTPServer, Rule, basic_auth_user

__all__ = [
    "FAKE_CLIENT_KEY",
    "FAKE_MERCHANT_ID",
    "FAKE_SERVER_KEY",
    "REFUNDABLE_PAYMENT_TYPES",
    "FakeMidtrans",
    "FakeRequest",
    "fake_midtrans_fixture",
    "signature_key",
]

FAKE_SERVER_KEY = "SB-Mid-server-fakeMidtransServerKey0123456789"
FAKE_CLIENT_KEY = "SB-Mid-client-fakeMidtransClientKey012345"
FAKE_MERCHANT_ID = "G123456789"

# The payment types the tests' customers pay with: refundable (a card, e-wallets, QRIS)
# and not (a bank transfer to a virtual account, a convenience store).
PAYMENT_TYPES = {"credit_card", "bank_transfer", "cstore", "gopay", "shopeepay", "qris"}
# "Refund transaction is supported only for credit_card, gopay, shopeepay, dana, ovo, QRIS, kredivo and akulaku."
REFUNDABLE_PAYMENT_TYPES = {"credit_card", "gopay", "shopeepay", "qris", "kredivo", "akulaku"}
BANKS = {"bca", "bni", "bri", "cimb"}

# An order_id whose transaction reached one of these is "paid and utilized" for Snap.
_PAID = {"capture", "settlement", "refund", "partial_refund"}
_JAKARTA = timezone(timedelta(hours=7))  # Midtrans' times are GMT+7
_ORDER_ID = re.compile(r"^[A-Za-z0-9\-_~.]+$")
_REFUND_KEY = re.compile(r"^[A-Za-z0-9\-_]+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

SNAP_UNAUTHORIZED = [
    "Access denied due to unauthorized transaction, please check client or server key",
    "Visit https://snap-docs.midtrans.com/#request-headers for more details",
]
INTERNAL_ERROR = "Sorry, we encountered internal server error. We will fix this soon."
CANNOT_MODIFY = "Merchant cannot modify the status of the transaction"


def signature_key(order_id: str, status_code: str, gross_amount: str, server_key: str = FAKE_SERVER_KEY) -> str:
    """Midtrans' notification signature: SHA512(order_id + status_code + gross_amount + ServerKey), hex."""
    return hashlib.sha512(f"{order_id}{status_code}{gross_amount}{server_key}".encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _mt_time(moment: datetime) -> str:
    """Midtrans' timestamps: "2020-01-09 18:27:19", GMT+7."""
    return moment.astimezone(_JAKARTA).strftime("%Y-%m-%d %H:%M:%S")


def _money(amount: int | float) -> str:
    return f"{amount:.2f}"  # "150000.00"


def _digits(count: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(count))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class SnapError(Exception):
    """Answered as Snap's `{"error_messages": [...]}` with `status`."""

    def __init__(self, status: int, *messages: str):
        super().__init__(messages[0])
        self.status = status
        self.body = {"error_messages": list(messages)}


class CoreError(Exception):
    """Answered as the Core API's `{"status_code": ..., "status_message": ...}`."""

    def __init__(self, status_code: int, message: str, **extra):
        super().__init__(message)
        self.status = status_code
        self.body = {"status_code": str(status_code), "status_message": message, **extra}


def _not_found() -> CoreError:
    return CoreError(404, "Transaction doesn't exist.", id=str(uuid.uuid4()))


def _invalid(*messages: str) -> CoreError:
    return CoreError(
        400,
        "One or more parameters in the payload is invalid.",
        validation_messages=list(messages),
        id=str(uuid.uuid4()),
    )


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
    server_version = "FakeMidtrans/1.0"

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = FakeHandler._serve  # all answered and recorded


class FakeMidtrans(FakeHTTPServer):
    """In-memory Midtrans (Snap + Core API), served over HTTP on 127.0.0.1: start()/stop();
    `url` is the base for both MIDTRANS_SNAP_BASE and MIDTRANS_API_BASE."""

    name = "FakeMidtrans"
    handler_class = _Handler
    requests: list[FakeRequest]
    merchant_id = FAKE_MERCHANT_ID
    snap_redirect_base = "https://app.sandbox.midtrans.com/snap/v4/redirection/"

    def __init__(self, server_key: str = FAKE_SERVER_KEY, client_key: str = FAKE_CLIENT_KEY):
        super().__init__()
        self.server_key = server_key
        self.client_key = client_key
        self.errors_as_http_200 = False
        self._transactions: dict[str, dict] = {}  # order_id -> record
        self._refund_seq = 0
        self._taken = 0
        self.notifications: list[dict] = []

    # --- test-facing API ----------------------------------------------------------------

    def snap_request(self, order_id: str) -> dict:
        """The body of the Snap request that created `order_id`, as received."""
        with self._lock:
            return copy.deepcopy(self._record(order_id)["request"])

    def snap_token(self, order_id: str) -> str:
        with self._lock:
            return self._record(order_id)["token"]

    def status(self, order_id: str) -> dict | None:
        """What GET /v2/{order_id}/status answers now, or None while no payment method is chosen."""
        with self._lock:
            record = self._record(order_id)
            if record["transaction_status"] is None:
                return None
            return self._body(record, "Success, transaction is found")

    def order_ids(self) -> list[str]:
        with self._lock:
            return list(self._transactions)

    def take_notifications(self) -> list[dict]:
        """Notifications made since the last take_notifications()."""
        with self._lock:
            fresh = self.notifications[self._taken :]
            self._taken = len(self.notifications)
            return copy.deepcopy(fresh)

    def fail_next(
        self, path_prefix: str, status: int = 500, *, method: str | None = None, times: int = 1, message: str = ""
    ) -> None:
        """Answer the next `times` requests under `path_prefix` with an error before they
        are processed: HTTP `status` with Snap's `{"error_messages": [...]}` under /snap,
        the Core API's `{"status_code": ..., "status_message": ...}` elsewhere."""
        with self._lock:
            self._rules.append(Rule(method, path_prefix, times, status=status, error=message or INTERNAL_ERROR))

    # --- helpers that play the customer's and Midtrans' side -----------------------------

    def pay(self, order_id: str, payment_type: str | None = None) -> dict:
        """The customer pays. With a card (the default when no method was chosen yet) the
        payment is captured with fraud_status accept; other types settle at once (a
        pending transfer keeps its payment_type). Returns the notification."""
        with self._lock:
            record = self._record(order_id)
            if record["transaction_status"] not in (None, "pending", "deny"):
                raise ValueError(
                    f"Order {order_id} is {record['transaction_status']}; pay() needs a new, pending or denied one"
                )
            if record["transaction_status"] == "deny":
                # Snap lets the customer try again: a new transaction of the same order.
                record["transaction_id"] = None
            payment_type = payment_type or record["payment_type"] or "credit_card"
            self._choose(record, payment_type)
            if payment_type == "credit_card":
                self._card_authorized(record)
                self._set(record, "capture", fraud_status="accept")
            else:
                self._set(record, "settlement", fraud_status=self._fraud_default(payment_type))
            return self._notify(record)

    def settle(self, order_id: str) -> dict:
        """A captured card payment (fraud accept) or a pending one settles; returns the notification."""
        with self._lock:
            record = self._record(order_id)
            status, fraud = record["transaction_status"], record["fraud_status"]
            if not (status == "pending" or (status == "capture" and fraud == "accept")):
                raise ValueError(f"Order {order_id} is {status} ({fraud}); only capture/accept or pending settle")
            if record["payment_type"] == "credit_card" and status == "pending":
                self._card_authorized(record)
            self._set(record, "settlement", fraud_status=record["fraud_status"])
            return self._notify(record)

    def pending(self, order_id: str, payment_type: str = "bank_transfer", *, bank: str = "bca") -> dict:
        """The customer picks a method that waits for them (a VA transfer, GoPay, a store,
        a card in 3DS); returns the pending notification ("201")."""
        with self._lock:
            record = self._record(order_id)
            if record["transaction_status"] not in (None, "pending"):
                raise ValueError(f"Order {order_id} is {record['transaction_status']}; pending() needs a new one")
            self._choose(record, payment_type, bank=bank)
            self._set(record, "pending", fraud_status=self._fraud_default(payment_type))
            return self._notify(record)

    def challenge(self, order_id: str) -> dict:
        """A card payment is captured but held by Midtrans' fraud detection (fraud_status
        challenge, "201"); approve it with POST /v2/{id}/approve or cancel it."""
        with self._lock:
            record = self._record(order_id)
            if record["transaction_status"] not in (None, "pending"):
                raise ValueError(f"Order {order_id} is {record['transaction_status']}; challenge() needs a new one")
            self._choose(record, "credit_card")
            self._card_authorized(record)
            self._set(record, "capture", fraud_status="challenge")
            return self._notify(record)

    def deny(self, order_id: str, payment_type: str | None = None) -> dict:
        """The payment is denied (a card by the bank / fraud detection): "202". (A
        challenged capture the merchant rejects becomes cancel: use cancel().)"""
        with self._lock:
            record = self._record(order_id)
            status = record["transaction_status"]
            if status not in (None, "pending"):
                raise ValueError(f"Order {order_id} is {status}; only a new or pending payment is denied")
            self._choose(record, payment_type or record["payment_type"] or "credit_card")
            card = record["payment_type"] == "credit_card"
            if card:
                record["extras"].pop("approval_code", None)  # "does not exist on ... Denied"
                record["extras"].update(
                    {
                        "masked_card": "49111111-1113",
                        "bank": "bni",
                        "card_type": "credit",
                        "channel_response_code": "05",
                        "channel_response_message": "Do not honor",
                    }
                )
            self._set(record, "deny", fraud_status="deny" if card else self._fraud_default(record["payment_type"]))
            return self._notify(record)

    def cancel(self, order_id: str) -> dict:
        """The transaction is canceled (pending, or a capture not yet settled): "200"."""
        with self._lock:
            record = self._record(order_id)
            self._cancel(record, strict=ValueError)
            return self._notify(record)

    def expire(self, order_id: str, payment_type: str | None = None) -> dict:
        """A pending payment expires unpaid: "407". With no method chosen yet the customer
        is taken to have picked `payment_type` (default bank_transfer) first."""
        with self._lock:
            record = self._record(order_id)
            if record["transaction_status"] is None:
                self._choose(record, payment_type or "bank_transfer")
                self._set(record, "pending", fraud_status=self._fraud_default(record["payment_type"]))
            if record["transaction_status"] != "pending":
                raise ValueError(f"Order {order_id} is {record['transaction_status']}, not pending")
            self._set(record, "expire")
            return self._notify(record)

    def refund(
        self, order_id: str, amount: int | None = None, *, reason: str = "", refund_key: str | None = None
    ) -> dict:
        """A refund made outside the API (e.g. on the dashboard); returns the refund
        notification (transaction_status refund, or partial_refund below the gross amount,
        with every refund in `refunds`, bank-confirmed). Refunds made through
        POST /v2/{id}/refund make the same notification (see fake.notifications)."""
        with self._lock:
            record = self._record(order_id)
            try:
                self._refund(record, amount, reason, refund_key)
            except CoreError as exc:
                raise ValueError(f"Midtrans would refuse this refund: {exc.body}") from exc
            return copy.deepcopy(self.notifications[-1])

    # --- HTTP plumbing ------------------------------------------------------------------

    def _respond(self, method: str, raw_path: str, headers: dict, raw_body: bytes):
        """(status, json, headers, hold_seconds), or None to drop the connection."""
        headers = {key.lower(): value for key, value in headers.items()}
        split = urlsplit(raw_path)
        path = split.path.rstrip("/") or "/"
        snap = path.startswith("/snap/")
        body, parse_error = self._parse_body(method, raw_body)
        api_key = basic_auth_user(headers.get("authorization", ""))
        record = FakeRequest(method, path, body, headers, api_key)
        rule = self._take_rule(record)

        def answer(status: int, payload: Any, hold: float = 0.0):
            record.status = status
            return status, payload, {}, hold

        def error(exc: SnapError | CoreError, hold: float = 0.0):
            status = 200 if isinstance(exc, CoreError) and self.errors_as_http_200 else exc.status
            return answer(status, exc.body, hold)

        hold = self._hold(rule, record)
        if hold is None:
            return None
        if rule is not None and rule.error:  # an injected failure: its message
            if snap:
                return answer(rule.status, {"error_messages": [rule.error]}, hold)
            return answer(rule.status, {"status_code": str(rule.status), "status_message": rule.error}, hold)

        if api_key != self.server_key:
            if snap:
                return error(SnapError(401, *SNAP_UNAUTHORIZED), hold)
            return error(CoreError(401, "Transaction cannot be authorized with the current client/server key."), hold)
        if parse_error:
            if snap:
                return error(SnapError(400, "Request body is not a valid JSON"), hold)
            return error(
                CoreError(413, "The request cannot be processed due to syntax error in the request body."), hold
            )
        status, payload = self._dispatch(method, path, body)
        if isinstance(payload, SnapError | CoreError):
            return error(payload, hold)
        return answer(status, payload, hold)

    @staticmethod
    def _parse_body(method: str, raw: bytes) -> tuple[Any, bool]:
        if method not in ("POST", "PUT", "PATCH") or not raw.strip():
            return None, False
        try:
            parsed = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None, True
        return parsed, not isinstance(parsed, dict)

    def _dispatch(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        found = self._route(self._routes(), method, path)
        if found is not None:
            handler, groups = found
            try:
                with self._lock:
                    return handler(body or {}, *[unquote(group) for group in groups])
            except (SnapError, CoreError) as exc:
                return exc.status, exc
            except Exception:
                trace = self._record_crash(method, path)
                crash = "FakeMidtrans crashed: " + trace.splitlines()[-1]
                if path.startswith("/snap/"):
                    return 500, SnapError(500, crash)
                return 500, CoreError(500, crash)
        with self._lock:
            self.unhandled.append((method, path))
        message = f"{method} {path} is not implemented by FakeMidtrans"
        if path.startswith("/snap/"):
            return 404, SnapError(404, message)
        return 404, CoreError(404, message)

    def _routes(self):
        order = r"([^/]+)"
        return (
            ("POST", re.compile(r"/snap/v1/transactions"), self._h_snap_create),
            ("GET", re.compile(rf"/v2/{order}/status"), self._h_status),
            ("POST", re.compile(rf"/v2/{order}/refund"), self._h_refund),
            ("POST", re.compile(rf"/v2/{order}/cancel"), self._h_cancel),
            ("POST", re.compile(rf"/v2/{order}/expire"), self._h_expire),
            ("POST", re.compile(rf"/v2/{order}/approve"), self._h_approve),
        )

    # --- records ------------------------------------------------------------------------

    def _record(self, order_id: str) -> dict:
        if order_id not in self._transactions:
            raise KeyError(order_id)
        return self._transactions[order_id]

    def _find(self, order_id: str) -> dict:
        """By order_id (what this project asks by); 404 while no payment method has been chosen."""
        record = self._transactions.get(order_id)
        if record is None or record["transaction_status"] is None:
            raise _not_found()
        return record

    def _choose(self, record: dict, payment_type: str, *, bank: str = "bca") -> None:
        """The customer picks a payment method: the Core transaction comes into being."""
        if payment_type not in PAYMENT_TYPES:
            raise ValueError(f"Unknown payment_type {payment_type!r}; one of {sorted(PAYMENT_TYPES)}")
        if record["payment_type"] == payment_type and record["transaction_id"]:
            return
        now = _now()
        record.update(
            {
                "payment_type": payment_type,
                "transaction_id": str(uuid.uuid4()),
                "transaction_time": _mt_time(now),
                "extras": {},
            }
        )
        extras = record["extras"]
        if payment_type == "bank_transfer":
            if bank not in BANKS:
                raise ValueError(f"Unknown bank {bank!r}; one of {sorted(BANKS)}")
            extras["va_numbers"] = [{"bank": bank, "va_number": _digits(11 if bank == "bca" else 16)}]
            extras["payment_amounts"] = []
        elif payment_type == "cstore":
            extras.update({"store": "indomaret", "payment_code": _digits(14)})
        elif payment_type == "qris":
            extras["acquirer"] = "gopay"

    @staticmethod
    def _card_authorized(record: dict) -> None:
        record["extras"].update(
            {
                "masked_card": "48111111-1114",
                "bank": "bni",
                "card_type": "credit",
                "approval_code": _digits(13),
                "eci": "05",
                "channel_response_code": "00",
                "channel_response_message": "Approved",
                "three_ds_version": "2",
                "challenge_completion": True,
            }
        )

    @staticmethod
    def _fraud_default(payment_type: str) -> str | None:
        return None if payment_type == "cstore" else "accept"  # low-risk channels carry no fraud_status

    def _set(self, record: dict, status: str, *, fraud_status: str | None = None) -> None:
        now = _now()
        record["transaction_status"] = status
        if fraud_status is not None or status in ("pending", "settlement", "capture"):
            record["fraud_status"] = fraud_status
        if status == "settlement":
            record["settlement_time"] = _mt_time(now)
            if "payment_amounts" in record["extras"]:
                record["extras"]["payment_amounts"] = [
                    {"paid_at": record["settlement_time"], "amount": _money(record["gross_amount"])}
                ]
        if status == "pending":
            hours = 24 if record["payment_type"] in ("bank_transfer", "cstore") else 0.25
            record["expiry_time"] = _mt_time(now + timedelta(hours=hours))

    @staticmethod
    def _status_code(record: dict) -> str:
        status, fraud = record["transaction_status"], record["fraud_status"]
        if status == "pending" or (status == "capture" and fraud == "challenge"):
            return "201"
        if status == "deny":
            return "202"
        if status == "expire":
            return "407"
        return "200"

    def _body(self, record: dict, status_message: str) -> dict:
        """A transaction as GET status answers it (status_message varies by context)."""
        gross = _money(record["gross_amount"])
        code = self._status_code(record)
        body: dict[str, Any] = {
            "status_code": code,
            "status_message": status_message,
            "transaction_id": record["transaction_id"],
            "order_id": record["order_id"],
            "merchant_id": self.merchant_id,
            "gross_amount": gross,
            "currency": "IDR",
            "payment_type": record["payment_type"],
            "transaction_time": record["transaction_time"],
            "transaction_status": record["transaction_status"],
        }
        if record["fraud_status"] is not None:
            body["fraud_status"] = record["fraud_status"]
        body.update(copy.deepcopy(record["extras"]))
        if record.get("settlement_time"):
            body["settlement_time"] = record["settlement_time"]
        if record.get("expiry_time"):
            body["expiry_time"] = record["expiry_time"]
        if record["refunds"]:
            body["refund_amount"] = _money(record["refunded"])
            body["refunds"] = copy.deepcopy(record["refunds"])
        body["signature_key"] = signature_key(record["order_id"], code, gross, self.server_key)
        return body

    def _notify(self, record: dict) -> dict:
        payload = self._body(record, "midtrans payment notification")
        self.notifications.append(copy.deepcopy(payload))
        return payload

    # --- Snap ---------------------------------------------------------------------------

    def _h_snap_create(self, body: dict) -> tuple[int, dict]:
        details = body.get("transaction_details")
        if not isinstance(details, dict):
            raise SnapError(400, "transaction_details is required")
        order_id = details.get("order_id")
        gross = details.get("gross_amount")
        messages = []
        if order_id is None or order_id == "":
            messages.append("transaction_details.order_id is required")
        elif not isinstance(order_id, str) or not _ORDER_ID.match(order_id):
            messages.append("transaction_details.order_id may only contain alphanumerics, -, _, ~ and .")
        elif len(order_id) > 50:
            messages.append("transaction_details.order_id is too long (maximum is 50 characters)")
        if gross is None:
            messages.append("transaction_details.gross_amount is required")
        elif not _is_number(gross) or gross != int(gross):
            messages.append("transaction_details.gross_amount must be an integer (IDR has no decimals)")
        elif gross < 1:
            messages.append("transaction_details.gross_amount must be greater than or equal to 1")
        items = body.get("item_details")
        if items is not None:
            if not isinstance(items, list):
                messages.append("item_details must be an array")
            else:
                for index, item in enumerate(items):
                    if not isinstance(item, dict):
                        messages.append(f"item_details[{index}] must be an object")
                        continue
                    price, quantity = item.get("price"), item.get("quantity")
                    if not _is_number(price) or price != int(price):
                        messages.append(f"item_details[{index}].price is required and must be an integer")
                    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
                        messages.append(f"item_details[{index}].quantity is required and must be at least 1")
                    if not isinstance(item.get("name"), str) or not item["name"]:
                        messages.append(f"item_details[{index}].name is required")
                    elif len(item["name"]) > 50:
                        messages.append(f"item_details[{index}].name is too long (maximum is 50 characters)")
                if not messages and sum(item["price"] * item["quantity"] for item in items) != gross:
                    messages.append("transaction_details.gross_amount is not equal to the sum of item_details")
        customer = body.get("customer_details")
        if customer is not None:
            if not isinstance(customer, dict):
                messages.append("customer_details must be an object")
            elif "email" in customer and not (isinstance(customer["email"], str) and _EMAIL.match(customer["email"])):
                messages.append("customer_details.email format is invalid")
        callbacks = body.get("callbacks")
        if callbacks is not None and not (isinstance(callbacks, dict) and isinstance(callbacks.get("finish", ""), str)):
            messages.append("callbacks.finish must be a string")
        if messages:
            raise SnapError(400, *messages)
        existing = self._transactions.get(order_id)
        if existing is not None:
            if existing["transaction_status"] in _PAID:
                raise SnapError(
                    400, "transaction_details.order_id has been paid and utilized, please use another order ID"
                )
            raise SnapError(400, "transaction_details.order_id has already been taken")
        token = str(uuid.uuid4())
        self._transactions[order_id] = {
            "order_id": order_id,
            "gross_amount": int(gross),
            "token": token,
            "redirect_url": self.snap_redirect_base + token,
            "request": copy.deepcopy(body),
            "transaction_id": None,
            "payment_type": None,
            "transaction_time": None,
            "transaction_status": None,
            "fraud_status": None,
            "extras": {},
            "refunds": [],
            "refunded": 0,
        }
        return 201, {"token": token, "redirect_url": self.snap_redirect_base + token}

    # --- Core API -----------------------------------------------------------------------

    def _h_status(self, body: dict, order_id: str) -> tuple[int, dict]:
        return 200, self._body(self._find(order_id), "Success, transaction is found")

    def _h_refund(self, body: dict, order_id: str) -> tuple[int, dict]:
        record = self._find(order_id)
        refund_key, amount, reason = body.get("refund_key"), body.get("amount"), body.get("reason", "")
        messages = []
        if refund_key is not None and (
            not isinstance(refund_key, str) or not _REFUND_KEY.match(refund_key) or len(refund_key) > 255
        ):
            messages.append("refund_key may only contain alphanumerics, - and _")
        if amount is not None and (not _is_number(amount) or amount != int(amount)):
            messages.append("amount must be an integer")
        if not isinstance(reason, str) or len(reason) > 255:
            messages.append("reason must be a string of at most 255 characters")
        if messages:
            raise _invalid(*messages)
        return 200, self._refund(record, amount, reason, refund_key)

    def _refund(self, record: dict, amount: int | float | None, reason: str, refund_key: str | None) -> dict:
        """Refund (part of) a settled transaction; the API answer. Raises CoreError."""
        for previous in record["refunds"]:
            if refund_key is not None and previous["refund_key"] == refund_key:
                if amount is None or int(amount) == int(float(previous["refund_amount"])):
                    return self._refund_answer(record, previous)  # a retry of the same refund
                raise CoreError(406, "Duplicate refund ID")
        if record["payment_type"] not in REFUNDABLE_PAYMENT_TYPES:
            raise CoreError(412, CANNOT_MODIFY)
        if record["transaction_status"] not in ("settlement", "partial_refund"):
            raise CoreError(412, CANNOT_MODIFY)  # capture / pending: use Cancel instead
        remaining = record["gross_amount"] - record["refunded"]
        amount = remaining if amount is None else int(amount)
        if amount <= 0 or amount > remaining:
            raise CoreError(414, "Refund request is rejected due to invalid amount")
        now = _mt_time(_now())
        self._refund_seq += 1
        refund = {
            "refund_chargeback_id": self._refund_seq,
            "refund_chargeback_uuid": str(uuid.uuid4()),
            "refund_amount": _money(amount),
            "created_at": now,
            "reason": reason,
            "refund_key": refund_key or str(uuid.uuid4()),
            "refund_method": "online",
            "bank_confirmed_at": now,
        }
        record["refunds"].append(refund)
        record["refunded"] += amount
        self._set(record, "refund" if record["refunded"] == record["gross_amount"] else "partial_refund")
        self._notify(record)
        return self._refund_answer(record, refund)

    def _refund_answer(self, record: dict, refund: dict) -> dict:
        return {
            "status_code": "200",
            "status_message": "Success, refund request is approved",
            "transaction_id": record["transaction_id"],
            "order_id": record["order_id"],
            "gross_amount": _money(record["gross_amount"]),
            "currency": "IDR",
            "payment_type": record["payment_type"],
            "transaction_time": record["transaction_time"],
            "transaction_status": record["transaction_status"],
            "refund_chargeback_id": refund["refund_chargeback_id"],
            "refund_amount": _money(record["refunded"]),  # "Cumulative amount refunded."
            "refund_key": refund["refund_key"],
        }

    def _cancel(self, record: dict, strict: type[Exception] = CoreError) -> None:
        status = record["transaction_status"]
        if status not in ("pending", "capture"):
            if strict is CoreError:
                raise CoreError(412, CANNOT_MODIFY)
            raise ValueError(f"Order {record['order_id']} is {status}; only pending or captured ones are canceled")
        self._set(record, "cancel")

    def _h_cancel(self, body: dict, order_id: str) -> tuple[int, dict]:
        record = self._find(order_id)
        self._cancel(record)
        self._notify(record)
        return 200, self._body(record, "Success, transaction is canceled")

    def _h_expire(self, body: dict, order_id: str) -> tuple[int, dict]:
        record = self._find(order_id)
        if record["transaction_status"] != "pending":
            raise CoreError(412, CANNOT_MODIFY)
        self._set(record, "expire")
        self._notify(record)
        return 200, self._body(record, "Success, transaction has expired")

    def _h_approve(self, body: dict, order_id: str) -> tuple[int, dict]:
        record = self._find(order_id)
        if record["transaction_status"] != "capture" or record["fraud_status"] != "challenge":
            raise CoreError(412, CANNOT_MODIFY)
        self._set(record, "capture", fraud_status="accept")
        self._notify(record)
        return 200, self._body(record, "Success, transaction is approved")


@pytest.fixture(name="fake_midtrans")
def fake_midtrans_fixture(settings):
    """A running FakeMidtrans; Django settings point at it.

    Sets MIDTRANS_API_BASE and MIDTRANS_SNAP_BASE (both the fake's URL),
    MIDTRANS_SERVER_KEY, MIDTRANS_CLIENT_KEY and MIDTRANS_IS_PRODUCTION=False through
    pytest-django's `settings` (restored after the test); the server stops at the end.
    Fails the test if the fake itself crashed.
    """
    fake = FakeMidtrans().start()
    try:
        settings.MIDTRANS_API_BASE = fake.url
        settings.MIDTRANS_SNAP_BASE = fake.url
        settings.MIDTRANS_SERVER_KEY = fake.server_key
        settings.MIDTRANS_CLIENT_KEY = fake.client_key
        settings.MIDTRANS_IS_PRODUCTION = False
        yield fake
    finally:
        fake.stop()
    assert not fake.errors, "FakeMidtrans crashed while serving:\n" + "\n".join(fake.errors)
