"""A fake Stripe API server for tests: real HTTP on loopback, Stripe's wire format.

`FakeStripe` is a small threaded HTTP server (stdlib `http.server`, bound to
127.0.0.1 on a free port) that answers the Stripe v1 calls this project makes, through
the `stripe` library (payments.gateways.stripe_gateway) and dj-stripe (its syncs while
processing webhooks and creating the customer): form-encoded bodies with Stripe's
bracket syntax, Bearer auth, JSON objects shaped like Stripe's, Stripe's error envelope
and status codes, idempotency keys and `expand`. The real `stripe` library talks to it
unchanged (`stripe.api_base = fake.url`), so the code under test runs its real request
and error handling paths. Nothing here reaches the network beyond loopback.

What it answers, and who calls it (anything else is a 404 `resource_missing`, and a
parameter it does not implement a 400 `parameter_unknown`, both recorded in
`fake.unhandled`; `fake.assert_all_handled()` fails a test on it):

    POST /v1/customers                      stripe_customer_id (Customer.create)
    GET  /v1/account                        dj-stripe, syncing that customer
    POST /v1/customers/{id}                 set_default_payment_method (Customer.modify)
    POST /v1/checkout/sessions              create_checkout, pay_link
    POST /v1/payment_intents                charge (confirm=true, off_session=true)
    POST /v1/refunds                        refund (payment_intent=, amount=)
    POST /v1/billing_portal/sessions        portal_url
    POST /v1/payment_methods/{id}/attach    set_default_payment_method
    POST /v1/payment_methods/{id}/detach    tests: a card detached at Stripe
    GET  /v1/checkout/sessions/{id}, /v1/payment_intents/{id}, /v1/payment_methods/{id},
         /v1/charges/{id}, /v1/balance_transactions/{id}, /v1/disputes/{id}
                                            dj-stripe, syncing the objects of a webhook

Test cards, as in Stripe's test mode. The `pm_card_*` tokens are aliases: using one
(attach, a PaymentIntent, a Checkout payment) creates a new `pm_...` PaymentMethod
carrying that card, as Stripe does:

    pm_card_visa (4242), pm_card_mastercard (4444)   succeed
    pm_card_chargeDeclined (0002)   declined (card_declined / generic_decline), also
                                    when attached to a customer

Stripe's "something happened" side is driven by helpers that return the event
payloads Stripe would send: `complete_checkout`, `open_dispute`, `close_dispute`. API
calls record their events too (`fake.events`, `fake.take_events()`): customer.created /
updated, payment_intent.created / succeeded / payment_failed, charge.succeeded / failed /
refunded, refund.created, payment_method.attached / detached. `sign_event` turns a
payload into the body and `Stripe-Signature` header of a webhook delivery.

Failure injection: `fake.fail_next(path_prefix, status=500)` answers the next matching
request with an error; `fake.delay_next(path_prefix, seconds)` holds its response back
(the request has been processed, as when Stripe acts but the answer is late).
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import stripe

from payments.tests.fake_http import FakeHandler, FakeHTTPServer, Rule

__all__ = [
    "API_VERSION",
    "FAKE_ACCOUNT_ID",
    "FAKE_PUBLISHABLE_KEY",
    "FAKE_SECRET_KEY",
    "FAKE_WEBHOOK_SECRET",
    "FakeRequest",
    "FakeStripe",
    "fake_stripe_fixture",
    "parse_stripe_form",
    "sign_event",
]

FAKE_ACCOUNT_ID = "acct_fake"
# dj-stripe only accepts keys matching ^(pk|sk|rk)_(test|live)_[a-zA-Z0-9]{24,}$.
FAKE_SECRET_KEY = "sk_test_fake51FakeStripeSecretKey000000000"
FAKE_PUBLISHABLE_KEY = "pk_test_fake51FakeStripePublishableKey000"
FAKE_WEBHOOK_SECRET = "whsec_test51FakeStripeWebhookSecret000000"
API_VERSION = getattr(stripe, "api_version", None) or "2026-08-26.dahlia"

_ALNUM = string.ascii_letters + string.digits
_DOC = "https://stripe.com/docs/error-codes/"
_MIN_AMOUNT = {"usd": 50, "eur": 50, "gbp": 30, "cad": 50, "aud": 50, "chf": 50, "nzd": 50, "sgd": 50}

# token -> (brand, last4)
_TEST_CARDS = {
    "pm_card_visa": ("visa", "4242"),
    "pm_card_mastercard": ("mastercard", "4444"),
    "pm_card_chargeDeclined": ("visa", "0002"),
}
# last4 -> (decline_code, message): declined when charged and when attached
_DECLINES = {"0002": ("generic_decline", "Your card was declined.")}

# The parameters each endpoint implements (those this project sends); any other is
# refused as unknown, so a new parameter in production code fails loudly, not silently.
_COMMON = {"expand"}
_ALLOWED = {
    "customer_create": {"email", "metadata", "name"},
    "customer_update": {"email", "invoice_settings", "metadata", "name"},
    "checkout_create": {
        "cancel_url", "client_reference_id", "customer", "line_items", "metadata", "mode",
        "payment_intent_data", "success_url",
    },
    "pi_create": {"amount", "confirm", "currency", "customer", "metadata", "off_session", "payment_method"},
    "pm_attach": {"customer"},
    "pm_detach": set(),
    "refund_create": {"amount", "metadata", "payment_intent"},
    "portal_create": {"customer", "return_url"},
}  # fmt: skip


# --- small helpers ----------------------------------------------------------------------


def _rand(length: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def _new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}_{_rand(length)}"


def _now() -> int:
    return int(time.time())


def _address(**values) -> dict:
    base = dict.fromkeys(("city", "country", "line1", "line2", "postal_code", "state"))
    base.update(values)
    return base


def _fingerprint(last4: str) -> str:
    return ("Fk" + last4 * 4)[:16]


def parse_stripe_form(pairs: list[tuple[str, str]]) -> dict:
    """Turn form pairs in Stripe's bracket syntax into nested dicts and lists.

    `a[b][0][c]=x` -> {"a": {"b": [{"c": "x"}]}}; `expand[]=x&expand[]=y` and
    `expand[0]=x&expand[1]=y` both -> {"expand": ["x", "y"]}. Values stay strings
    (as on the wire); `metadata` keys are never turned into list indexes.
    """
    root: dict = {}
    for key, value in pairs:
        base, bracket, rest = key.partition("[")
        parts = [base]
        if bracket:
            segments = re.findall(r"\[([^\[\]]*)\]", "[" + rest)
            if "[" + "][".join(segments) + "]" != "[" + rest:
                raise ValueError(f"Invalid parameter name: {key}")
            parts += segments
        if not base:
            raise ValueError(f"Invalid parameter name: {key}")
        node = root
        for index, part in enumerate(parts):
            if part == "":
                part = str(len(node))
            if index == len(parts) - 1:
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise ValueError(f"Invalid parameter name: {key} conflicts with another parameter")
                node = child
    return _listify(root)


def _listify(node: Any, parent: str = "") -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _listify(value, key) for key, value in node.items()}
    if parent != "metadata" and converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def sign_event(payload: dict, secret: str = FAKE_WEBHOOK_SECRET, timestamp: int | None = None) -> tuple[bytes, str]:
    """The body and `Stripe-Signature` header Stripe would send for `payload`.

    Uses Stripe's scheme (v1 = HMAC-SHA256 of f"{t}.{body}"), via the stripe library's
    own helper, so `stripe.Webhook.construct_event` and dj-stripe accept it.
    """
    body = json.dumps(payload, indent=2)
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp)
    return body.encode("utf-8"), header


class ApiError(Exception):
    """Answered as Stripe's error envelope with `status`."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error", **fields):
        super().__init__(message)
        self.status = status
        self.error = {"message": message, "type": type}
        for key, value in fields.items():
            if value is not None:
                self.error[key] = value
        if "code" in self.error and "doc_url" not in self.error:
            self.error["doc_url"] = _DOC + self.error["code"].replace("_", "-")


def _missing(kind: str, object_id: str, *, param: str | None = "id", status: int = 404) -> ApiError:
    return ApiError(status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


@dataclass
class FakeRequest:
    """One request the fake received."""

    method: str
    path: str
    params: dict
    headers: dict
    request_id: str
    status: int = 0


@dataclass
class _Rule(Rule):
    """A fail_next rule: `error` is Stripe's error object; `should_retry` the
    Stripe-Should-Retry header (None: no header)."""

    should_retry: bool | None = False


@dataclass
class _Ctx:
    """What a handler knows about the request it serves."""

    method: str
    path: str
    params: dict
    livemode: bool = False
    request_id: str | None = None
    idempotency_key: str | None = None
    events: list = field(default_factory=list)


# --- the server ---------------------------------------------------------------------------


class _Handler(FakeHandler):
    server_version = "FakeStripe/1.0"
    json_indent = 2

    do_GET = do_POST = do_DELETE = FakeHandler._serve  # DELETE: answered (404) and recorded


class FakeStripe(FakeHTTPServer):
    """In-memory Stripe, served over HTTP on 127.0.0.1: start()/stop(); `url` is the
    base to give `stripe.api_base`."""

    name = "FakeStripe"
    handler_class = _Handler
    requests: list[FakeRequest]

    def __init__(self):
        super().__init__()
        self._objects: dict[str, dict] = {}
        self._private: dict[str, dict] = {}
        self._idempotency: dict[str, dict] = {}
        self._taken = 0
        self.events: list[dict] = []
        self._routes = self._build_routes()
        self._seed()

    # --- test-facing API ----------------------------------------------------------------

    def client(self, api_key: str = FAKE_SECRET_KEY, **kwargs) -> stripe.StripeClient:
        """A `stripe.StripeClient` pointed at the fake. StripeClient ignores
        `stripe.api_base`: code using it must pass base_addresses={"api": ...} itself."""
        return stripe.StripeClient(api_key, base_addresses={"api": self.url}, **kwargs)

    def get(self, object_id: str) -> dict:
        """A copy of a stored object (as the API would return it, without expansions)."""
        with self._lock:
            if object_id not in self._objects:
                raise KeyError(object_id)
            return copy.deepcopy(self._objects[object_id])

    def objects(self, object_type: str) -> list[dict]:
        """Copies of every stored object of `object_type` ("customer", "charge", ...), oldest first."""
        with self._lock:
            return [copy.deepcopy(obj) for obj in self._of_type(object_type)]

    def take_events(self, type: str | None = None) -> list[dict]:
        """Events generated since the last take_events() (optionally of one type)."""
        with self._lock:
            fresh = self.events[self._taken :]
            self._taken = len(self.events)
            return [copy.deepcopy(event) for event in fresh if type is None or event["type"] == type]

    def fail_next(
        self,
        path_prefix: str,
        status: int = 500,
        *,
        method: str | None = None,
        times: int = 1,
        type: str | None = None,
        code: str | None = None,
        message: str | None = None,
        should_retry: bool | None = False,
    ) -> None:
        """Answer the next `times` requests under `path_prefix` with an error, before
        they are processed. The default is a 500 api_error with `Stripe-Should-Retry:
        false`, so the stripe library raises at once instead of retrying; pass
        should_retry=True (the library retries it) or None (no header: the library
        retries 409 and 5xx by its own rules)."""
        if type is None:
            type = {402: "card_error", 429: "invalid_request_error"}.get(
                status, "api_error" if status >= 500 else "invalid_request_error"
            )
        if code is None and status == 429:
            code = "rate_limit"
        error = {"message": message or "An unknown error occurred (injected by FakeStripe.fail_next).", "type": type}
        if code:
            error["code"] = code
        with self._lock:
            self._rules.append(_Rule(method, path_prefix, times, status=status, error=error, should_retry=should_retry))

    # --- helpers that play Stripe's side --------------------------------------------------

    def complete_checkout(self, session_id: str, payment_method: str = "pm_card_visa") -> list[dict]:
        """The customer pays the Checkout Session with `payment_method`.

        On success: a succeeded PaymentIntent (amount_total, the session's
        payment_intent_data metadata / description / setup_future_usage), its Charge and
        balance transaction; the card is attached to the customer when the session saves
        it (payment_intent_data[setup_future_usage]); the session becomes complete/paid.
        Returns the events in Stripe's order: checkout.session.completed,
        payment_intent.succeeded, charge.succeeded, payment_method.attached (the last
        only when the card was saved).

        With a declined card the session stays open and the events are
        payment_intent.payment_failed and charge.failed (the customer may try again).
        """
        with self._lock:
            session = self._require(session_id, "checkout.session")
            if session["status"] != "open":
                raise ValueError(f"Checkout Session {session_id} is {session['status']}, not open")
            private = self._private[session_id]
            ctx = _Ctx("POST", "/checkout/pay", {}, livemode=session["livemode"])
            pm = self._materialize_pm(payment_method, ctx)
            pm["billing_details"].update(
                {
                    "address": _address(country="US", postal_code="42424"),
                    "email": self._customer_email(session["customer"]),
                    "name": "Jenny Rosen",
                }
            )
            pid = private["payment_intent_data"]
            setup_future_usage = pid.get("setup_future_usage") or None
            customer_id = session["customer"]
            if session["payment_intent"]:  # paying again after a decline
                pi = self._objects[session["payment_intent"]]
                pi["payment_method"] = pm["id"]
            else:
                pi = self._pi_new(
                    ctx,
                    amount=session["amount_total"],
                    currency=session["currency"],
                    customer=customer_id,
                    payment_method=pm["id"],
                    metadata=copy.deepcopy(pid.get("metadata") or {}),
                    description=pid.get("description"),
                    setup_future_usage=setup_future_usage,
                    emit_created=False,
                )
                session["payment_intent"] = pi["id"]
            outcome = self._pi_attempt(ctx, pi, emit=False)
            if outcome is not None:  # declined: the session stays open
                charge = self._objects.get(pi["latest_charge"] or "")
                self._emit(ctx, "payment_intent.payment_failed", pi)
                if charge is not None:
                    self._emit(ctx, "charge.failed", charge)
                return [copy.deepcopy(event) for event in ctx.events]
            session.update(
                {
                    "status": "complete",
                    "payment_status": "paid",
                    "customer_details": {
                        "address": _address(country="US", postal_code="42424"),
                        "business_name": None,
                        "email": pm["billing_details"]["email"],
                        "individual_name": None,
                        "name": "Jenny Rosen",
                        "phone": None,
                        "tax_exempt": "none",
                        "tax_ids": [],
                    },
                }
            )
            charge = self._objects[pi["latest_charge"]]
            self._emit(ctx, "checkout.session.completed", session)
            self._emit(ctx, "payment_intent.succeeded", pi)
            self._emit(ctx, "charge.succeeded", charge)
            if setup_future_usage:
                self._attach(ctx, pm, customer_id)
            return [copy.deepcopy(event) for event in ctx.events]

    def open_dispute(self, charge_id: str, reason: str = "fraudulent", amount: int | None = None) -> list[dict]:
        """The cardholder disputes a succeeded charge. Returns charge.dispute.created and
        charge.dispute.funds_withdrawn (the dispute's amount plus a 15.00 fee leave the balance)."""
        with self._lock:
            charge = self._require(charge_id, "charge")
            if charge["status"] != "succeeded":
                raise ValueError(f"Charge {charge_id} is {charge['status']}; only succeeded charges are disputed")
            ctx = _Ctx("POST", "/disputes/open", {}, livemode=charge["livemode"])
            amount = charge["amount"] if amount is None else amount
            dispute_id = _new_id("du")
            withdrawal = self._balance_transaction(
                ctx, -amount, charge["currency"], dispute_id, "adjustment", "dispute", fee=1500,
                description=f"Chargeback withdrawal for {charge_id}",
            )  # fmt: skip
            created = _now()
            dispute = self._store(
                {
                    "id": dispute_id,
                    "object": "dispute",
                    "amount": amount,
                    "balance_transactions": [copy.deepcopy(withdrawal)],
                    "charge": charge_id,
                    "created": created,
                    "currency": charge["currency"],
                    "enhanced_eligibility_types": [],
                    "evidence": dict.fromkeys(
                        (
                            "access_activity_log",
                            "billing_address",
                            "cancellation_policy",
                            "cancellation_policy_disclosure",
                            "cancellation_rebuttal",
                            "customer_communication",
                            "customer_email_address",
                            "customer_name",
                            "customer_purchase_ip",
                            "customer_signature",
                            "duplicate_charge_documentation",
                            "duplicate_charge_explanation",
                            "duplicate_charge_id",
                            "product_description",
                            "receipt",
                            "refund_policy",
                            "refund_policy_disclosure",
                            "refund_refusal_explanation",
                            "service_date",
                            "service_documentation",
                            "shipping_address",
                            "shipping_carrier",
                            "shipping_date",
                            "shipping_documentation",
                            "shipping_tracking_number",
                            "uncategorized_file",
                            "uncategorized_text",
                        )
                    ),
                    "evidence_details": {
                        "due_by": created + 7 * 86400,
                        "enhanced_eligibility": {},
                        "has_evidence": False,
                        "past_due": False,
                        "submission_count": 0,
                    },
                    "is_charge_refundable": False,
                    "livemode": charge["livemode"],
                    "metadata": {},
                    "network_reason_code": "10.4" if reason == "fraudulent" else "13.1",
                    "payment_intent": charge["payment_intent"],
                    "payment_method_details": {
                        "card": {
                            "brand": (charge["payment_method_details"] or {}).get("card", {}).get("brand", "visa"),
                            "case_type": "chargeback",
                            "network_reason_code": "10.4" if reason == "fraudulent" else "13.1",
                        },
                        "type": "card",
                    },
                    "reason": reason,
                    "status": "needs_response",
                }
            )
            charge["disputed"] = True
            self._emit(ctx, "charge.dispute.created", dispute)
            self._emit(ctx, "charge.dispute.funds_withdrawn", dispute)
            return [copy.deepcopy(event) for event in ctx.events]

    def close_dispute(self, dispute_id: str, status: str = "won") -> list[dict]:
        """The dispute is decided ("won" or "lost"). Returns charge.dispute.closed, and
        charge.dispute.funds_reinstated when it was won (the amount comes back)."""
        if status not in ("won", "lost"):
            raise ValueError("status must be 'won' or 'lost'")
        with self._lock:
            dispute = self._require(dispute_id, "dispute")
            if dispute["status"] in ("won", "lost"):
                raise ValueError(f"Dispute {dispute_id} is already {dispute['status']}")
            ctx = _Ctx("POST", "/disputes/close", {}, livemode=dispute["livemode"])
            previous = {"status": dispute["status"]}
            dispute["status"] = status
            if status == "won":
                reinstated = self._balance_transaction(
                    ctx, dispute["amount"], dispute["currency"], dispute_id, "adjustment", "dispute_reversal",
                    fee=-1500, description=f"Chargeback reversal for {dispute['charge']}",
                )  # fmt: skip
                dispute["balance_transactions"].append(copy.deepcopy(reinstated))
            self._emit(ctx, "charge.dispute.closed", dispute, previous)
            if status == "won":
                self._emit(ctx, "charge.dispute.funds_reinstated", dispute)
            return [copy.deepcopy(event) for event in ctx.events]

    # --- HTTP plumbing ------------------------------------------------------------------

    def _respond(self, method: str, raw_path: str, headers: dict, body: bytes):
        """(status, json, headers, hold_seconds), or None to drop the connection."""
        headers = {key.lower(): value for key, value in headers.items()}
        request_id = "req_" + _rand(14)
        split = urlsplit(raw_path)
        path = split.path.rstrip("/") or "/"
        out_headers = {"Request-Id": request_id, "Stripe-Version": headers.get("stripe-version") or API_VERSION}
        idempotency_key = headers.get("idempotency-key")
        if idempotency_key:
            out_headers["Idempotency-Key"] = idempotency_key
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True) if method == "POST" else []
            pairs += parse_qsl(split.query, keep_blank_values=True)
            params = parse_stripe_form(pairs)
            parse_error = None
        except (ValueError, UnicodeDecodeError) as exc:
            params, parse_error = {}, str(exc)
        record = FakeRequest(
            method,
            path,
            params,
            {key: headers[key] for key in ("idempotency-key", "stripe-version") if key in headers},
            request_id,
        )
        rule = self._take_rule(record)

        def answer(status: int, payload: dict, hold: float = 0.0, extra: dict | None = None):
            record.status = status
            return status, payload, {**out_headers, **(extra or {})}, hold

        hold = self._hold(rule, record)
        if hold is None:
            return None
        if rule is not None and rule.error:
            extra = {} if rule.should_retry is None else {"Stripe-Should-Retry": str(rule.should_retry).lower()}
            return answer(rule.status, {"error": dict(rule.error)}, hold, extra)

        auth_error = self._check_auth(headers.get("authorization", ""))
        if auth_error is not None:
            return answer(auth_error.status, {"error": auth_error.error}, hold)
        livemode = self._key_of(headers.get("authorization", "")).startswith("sk_live_")
        if parse_error:
            return answer(400, {"error": ApiError(400, parse_error).error}, hold)

        # Idempotency: POSTs with a key are answered once; the same key and parameters
        # replay that answer, other parameters are an idempotency_error.
        use_key = method == "POST" and bool(idempotency_key)
        if use_key:
            with self._lock:
                entry = self._idempotency.get(idempotency_key)
                if entry is not None:
                    if entry["method"] != method or entry["path"] != path or entry["params"] != params:
                        error = ApiError(
                            400,
                            "Keys for idempotent requests can only be used with the same parameters they were "
                            f"first used with. Try using a key other than '{idempotency_key}' if you meant to "
                            "execute a different request.",
                            type="idempotency_error",
                        )
                        return answer(400, {"error": error.error}, hold)
                    if entry.get("in_flight"):
                        error = ApiError(
                            409,
                            "There is currently another in-progress request using this Stripe-Idempotency-Key. "
                            "Please try again later.",
                            code="idempotency_key_in_use",
                        )
                        return answer(409, {"error": error.error}, hold)
                    return answer(
                        entry["status"],
                        copy.deepcopy(entry["payload"]),
                        hold,
                        {"Idempotent-Replayed": "true", "Original-Request": entry["request_id"]},
                    )
                self._idempotency[idempotency_key] = {
                    "method": method, "path": path, "params": params, "in_flight": True, "request_id": request_id,
                }  # fmt: skip

        ctx = _Ctx(method, path, params, livemode, request_id, idempotency_key)
        status, payload = self._dispatch(ctx)
        if use_key:
            with self._lock:
                if 200 <= status < 300 or status == 402:  # the endpoint ran: its result is kept
                    self._idempotency[idempotency_key].update(
                        {"in_flight": False, "status": status, "payload": copy.deepcopy(payload)}
                    )
                else:  # validation errors are not saved; the key may be used again
                    self._idempotency.pop(idempotency_key, None)
        return answer(status, payload, hold)

    @staticmethod
    def _key_of(authorization: str) -> str:
        return authorization[7:].strip() if authorization.startswith("Bearer ") else ""

    def _check_auth(self, authorization: str) -> ApiError | None:
        key = self._key_of(authorization)
        if not key:
            return ApiError(
                401,
                "You did not provide an API key. You need to provide your API key in the Authorization header, "
                "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
                "https://stripe.com/docs/api#authentication for details, or we can help at "
                "https://support.stripe.com/.",
            )
        if not key.startswith(("sk_test_", "sk_live_")):
            return ApiError(401, f"Invalid API Key provided: {key[:8]}{'*' * 12}{key[-4:]}")
        return None

    def _dispatch(self, ctx: _Ctx) -> tuple[int, dict]:
        found = self._route(self._routes, ctx.method, ctx.path)
        if found is not None:
            handler, groups = found
            try:
                with self._lock:
                    result = handler(ctx, *groups)
                    return 200, result
            except ApiError as exc:
                return exc.status, {"error": exc.error}
            except Exception:
                trace = self._record_crash(ctx.method, ctx.path)
                return 500, {
                    "error": {"message": "FakeStripe crashed: " + trace.strip().splitlines()[-1], "type": "api_error"}
                }
        with self._lock:
            self.unhandled.append((ctx.method, ctx.path))
        error = ApiError(
            404,
            f"Unrecognized request URL ({ctx.method}: {ctx.path}). FakeStripe does not implement it.",
            code="resource_missing",
        )
        return 404, {"error": error.error}

    def _build_routes(self):
        obj = r"([A-Za-z0-9_]+)"
        table = [
            ("GET", "/v1/account", self._h_account),
            ("POST", "/v1/customers", self._h_customer_create),
            ("POST", f"/v1/customers/{obj}", self._h_customer_update),
            ("POST", "/v1/checkout/sessions", self._h_session_create),
            ("GET", f"/v1/checkout/sessions/{obj}", self._h_session_get),
            ("POST", "/v1/payment_intents", self._h_pi_create),
            ("GET", f"/v1/payment_intents/{obj}", self._h_pi_get),
            ("GET", f"/v1/payment_methods/{obj}", self._h_pm_get),
            ("POST", f"/v1/payment_methods/{obj}/attach", self._h_pm_attach),
            ("POST", f"/v1/payment_methods/{obj}/detach", self._h_pm_detach),
            ("GET", f"/v1/charges/{obj}", self._h_charge_get),
            ("GET", f"/v1/balance_transactions/{obj}", self._h_txn_get),
            ("POST", "/v1/refunds", self._h_refund_create),
            ("POST", "/v1/billing_portal/sessions", self._h_portal_create),
            ("GET", f"/v1/disputes/{obj}", self._h_dispute_get),
        ]
        return [(method, re.compile(pattern), handler) for method, pattern, handler in table]

    # --- store ----------------------------------------------------------------------------

    def _store(self, obj: dict, **private) -> dict:
        self._objects[obj["id"]] = obj
        self._private[obj["id"]] = private
        return obj

    def _of_type(self, object_type: str) -> list[dict]:
        """The stored objects of `object_type`, oldest first."""
        return [obj for obj in self._objects.values() if obj.get("object") == object_type]

    def _require(self, object_id: str, object_type: str, *, kind: str | None = None, param: str | None = None) -> dict:
        obj = self._objects.get(object_id or "")
        if obj is None or obj.get("object") != object_type:
            raise _missing(kind or object_type, object_id, param=param or "id", status=400 if param else 404)
        return obj

    def _emit(self, ctx: _Ctx, event_type: str, obj: dict, previous: dict | None = None) -> dict:
        data = {"object": copy.deepcopy(obj)}
        if previous is not None:
            data["previous_attributes"] = copy.deepcopy(previous)
        event = {
            "id": _new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": _now(),
            "data": data,
            "livemode": bool(obj.get("livemode", ctx.livemode)),
            "pending_webhooks": 1,
            "request": {"id": ctx.request_id, "idempotency_key": ctx.idempotency_key},
            "type": event_type,
        }
        self.events.append(event)
        ctx.events.append(event)
        return event

    def _render(self, obj: dict, ctx: _Ctx | None = None) -> dict:
        result = copy.deepcopy(obj)
        for path in self._expand_list(ctx):
            result = self._expand(result, path.split("."))
        return result

    @staticmethod
    def _expand_list(ctx: _Ctx | None) -> list[str]:
        if ctx is None:
            return []
        expand = ctx.params.get("expand") or []
        if isinstance(expand, str):
            expand = [expand]
        if not isinstance(expand, list) or not all(isinstance(item, str) for item in expand):
            raise ApiError(400, "Invalid array", param="expand")
        return expand

    def _expand(self, node: Any, parts: list[str]) -> Any:
        if not parts or not isinstance(node, dict):
            return node
        head, rest = parts[0], parts[1:]
        if node.get("object") == "list" and head == "data":
            node["data"] = [self._expand(item, rest) for item in node["data"]]
            return node
        value = self._expansion(node, head)
        if value is _NOTHING:
            if head not in node:
                return node
            value = node[head]
        if isinstance(value, str) and value in self._objects:
            value = copy.deepcopy(self._objects[value])
        if isinstance(value, list):
            value = [self._expand(item, rest) for item in value]
        node[head] = self._expand(value, rest)
        return node

    def _expansion(self, node: dict, head: str) -> Any:
        """Fields that only exist when expanded (dj-stripe expands a Checkout Session's
        line_items, line_items.data.discounts and total_details.breakdown)."""
        kind = node.get("object")
        if kind == "checkout.session" and head == "line_items":
            return self._line_items_list(node["id"])
        if kind == "item" and head == "discounts":
            return []
        if head == "breakdown" and "amount_discount" in node:
            return {"discounts": [], "taxes": []}
        return _NOTHING

    def _allow(self, ctx: _Ctx, allowed: str) -> None:
        for name in ctx.params:
            if name not in _ALLOWED[allowed] and name not in _COMMON:
                self.unhandled.append((ctx.method, f"{ctx.path} {name}="))
                raise ApiError(400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name)

    @staticmethod
    def _int(value: Any, param: str, *, required: bool = False, minimum: int | None = 0) -> int | None:
        if value is None or value == "":
            if required:
                raise ApiError(400, f"Missing required param: {param}.", code="parameter_missing", param=param)
            return None
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ApiError(400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=param) from None
        if minimum is not None and number < minimum:
            raise ApiError(400, f"This value must be greater than or equal to {minimum}.", param=param)
        return number

    @staticmethod
    def _bool(value: Any, param: str) -> bool:
        if value in (None, ""):
            return False
        if value in ("true", "false"):
            return value == "true"
        raise ApiError(400, f"Invalid boolean: {value}", param=param)

    @staticmethod
    def _currency(value: Any, param: str = "currency") -> str:
        if not value:
            raise ApiError(400, f"Missing required param: {param}.", code="parameter_missing", param=param)
        if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{3}", value):
            raise ApiError(400, f"Invalid currency: {value}", param=param)
        return value.lower()

    @staticmethod
    def _metadata(current: dict, value: Any, param: str = "metadata") -> dict:
        """Stripe's metadata update: keys merge, "" unsets a key, metadata="" clears all."""
        if value is None:
            return current
        if value == "":
            return {}
        if not isinstance(value, dict):
            raise ApiError(400, "Invalid object", param=param)
        merged = dict(current)
        for key, item in value.items():
            if not isinstance(item, str):
                raise ApiError(400, "Invalid metadata value: metadata values must be strings", param=f"{param}[{key}]")
            if item == "":
                merged.pop(key, None)
            else:
                merged[key] = item
        return merged

    # --- seed -----------------------------------------------------------------------------

    def _seed(self) -> None:
        created = _now()
        self._store(
            {
                # No `livemode` here: Stripe's Account object has none (dj-stripe relies on that).
                "id": FAKE_ACCOUNT_ID,
                "object": "account",
                "business_profile": {
                    "annual_revenue": None,
                    "estimated_worker_count": None,
                    "mcc": "5734",
                    "name": "Fake Stripe Test Account",
                    "product_description": "Billing backend tests",
                    "support_address": None,
                    "support_email": "support@example.com",
                    "support_phone": None,
                    "support_url": None,
                    "url": "https://example.com",
                },
                "business_type": "company",
                "capabilities": {"card_payments": "active", "transfers": "active"},
                "charges_enabled": True,
                "controller": {"type": "account"},
                "country": "US",
                "created": created,
                "default_currency": "usd",
                "details_submitted": True,
                "email": "owner@example.com",
                "external_accounts": {
                    "object": "list",
                    "data": [],
                    "has_more": False,
                    "total_count": 0,
                    "url": f"/v1/accounts/{FAKE_ACCOUNT_ID}/external_accounts",
                },
                "future_requirements": {
                    "alternatives": [],
                    "current_deadline": None,
                    "currently_due": [],
                    "disabled_reason": None,
                    "errors": [],
                    "eventually_due": [],
                    "past_due": [],
                    "pending_verification": [],
                },
                "metadata": {},
                "payouts_enabled": True,
                "requirements": {
                    "alternatives": [],
                    "current_deadline": None,
                    "currently_due": [],
                    "disabled_reason": None,
                    "errors": [],
                    "eventually_due": [],
                    "past_due": [],
                    "pending_verification": [],
                },
                "settings": {
                    "branding": {"icon": None, "logo": None, "primary_color": None, "secondary_color": None},
                    "card_payments": {"decline_on": {"avs_failure": False, "cvc_failure": False}},
                    "dashboard": {"display_name": "Fake Stripe", "timezone": "Etc/UTC"},
                    "payments": {"statement_descriptor": "FAKE STRIPE"},
                    "payouts": {"debit_negative_balances": True, "schedule": {"delay_days": 2, "interval": "daily"}},
                },
                "tos_acceptance": {"date": created, "ip": "127.0.0.1", "user_agent": None},
                "type": "standard",
            }
        )

    # --- account & customers ------------------------------------------------------------------

    def _h_account(self, ctx: _Ctx) -> dict:
        return self._render(self._objects[FAKE_ACCOUNT_ID], ctx)

    def _customer_new(self, ctx: _Ctx, params: dict) -> dict:
        customer = {
            "id": _new_id("cus", 14),
            "object": "customer",
            "address": None,
            "balance": 0,
            "business_name": None,
            "created": _now(),
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "description": None,
            "discount": None,
            "email": None,
            "individual_name": None,
            "invoice_prefix": secrets.token_hex(4).upper(),
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
                "rendering_options": None,
            },
            "livemode": ctx.livemode,
            "metadata": {},
            "name": None,
            "next_invoice_sequence": 1,
            "phone": None,
            "preferred_locales": [],
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": None,
        }
        self._customer_apply(customer, params)
        self._store(customer)
        self._emit(ctx, "customer.created", customer)
        return customer

    def _customer_apply(self, customer: dict, params: dict) -> None:
        for name in ("email", "name"):
            if name in params:
                customer[name] = params[name] or None
        customer["metadata"] = self._metadata(customer["metadata"], params.get("metadata"))
        settings = params.get("invoice_settings")
        if settings is not None:
            if not isinstance(settings, dict):
                raise ApiError(400, "Invalid object", param="invoice_settings")
            if "default_payment_method" in settings:
                pm_id = settings["default_payment_method"]
                if pm_id:
                    pm = self._objects.get(pm_id)
                    if pm is None or pm.get("object") != "payment_method" or pm["customer"] != customer["id"]:
                        raise ApiError(
                            400,
                            f"The customer does not have a payment method with the ID {pm_id}. The payment "
                            "method must be attached to the customer.",
                            code="resource_missing",
                            param="invoice_settings[default_payment_method]",
                        )
                customer["invoice_settings"]["default_payment_method"] = pm_id or None

    def _customer_email(self, customer_id: str | None) -> str | None:
        customer = self._objects.get(customer_id or "")
        return customer["email"] if customer else None

    def _h_customer_create(self, ctx: _Ctx) -> dict:
        self._allow(ctx, "customer_create")
        return self._render(self._customer_new(ctx, ctx.params), ctx)

    def _h_customer_update(self, ctx: _Ctx, customer_id: str) -> dict:
        self._allow(ctx, "customer_update")
        customer = self._require(customer_id, "customer")
        before = copy.deepcopy(customer)
        self._customer_apply(customer, ctx.params)
        previous = {key: before[key] for key in customer if before.get(key) != customer[key]}
        if previous:
            self._emit(ctx, "customer.updated", customer, previous)
        return self._render(customer, ctx)

    # --- payment methods ------------------------------------------------------------------

    def _pm_object(self, pm_id: str, token: str, *, livemode: bool) -> dict:
        brand, last4 = _TEST_CARDS[token]
        year = time.gmtime().tm_year
        return {
            "id": pm_id,
            "object": "payment_method",
            "allow_redisplay": "unspecified",
            "billing_details": {"address": _address(), "email": None, "name": None, "phone": None, "tax_id": None},
            "card": {
                "brand": brand,
                "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
                "country": "US",
                "display_brand": brand,
                "exp_month": 12,
                "exp_year": year + 3,
                "fingerprint": _fingerprint(last4),
                "funding": "credit",
                "generated_from": None,
                "last4": last4,
                "networks": {"available": [brand], "preferred": None},
                "regulated_status": "unregulated",
                "three_d_secure_usage": {"supported": True},
                "wallet": None,
            },
            "created": _now(),
            "customer": None,
            "livemode": livemode,
            "metadata": {},
            "type": "card",
        }

    def _materialize_pm(self, pm_id: str, ctx: _Ctx, *, param: str = "payment_method") -> dict:
        """A usable PaymentMethod for `pm_id`: a test token becomes a new pm_..., as in Stripe."""
        if not isinstance(pm_id, str) or not pm_id:
            raise ApiError(400, f"Missing required param: {param}.", code="parameter_missing", param=param)
        if pm_id in _TEST_CARDS:
            return self._store(self._pm_object(_new_id("pm"), pm_id, livemode=ctx.livemode))
        pm = self._objects.get(pm_id)
        if pm is None or pm.get("object") != "payment_method":
            raise _missing("PaymentMethod", pm_id, param=param, status=400)
        if self._private[pm_id].get("detached"):
            raise ApiError(
                400,
                "This PaymentMethod was previously used without being attached to a Customer or was detached "
                "from a Customer, and may not be used again.",
                param=param,
            )
        return pm

    def _attach(self, ctx: _Ctx, pm: dict, customer_id: str) -> dict:
        decline = _DECLINES.get((pm.get("card") or {}).get("last4", ""))
        if decline:
            raise ApiError(
                402, decline[1], type="card_error", code="card_declined", decline_code=decline[0],
                payment_method=copy.deepcopy(pm),
            )  # fmt: skip
        if pm["customer"] and pm["customer"] != customer_id:
            raise ApiError(
                400,
                "The payment method you provided has already been attached to a customer.",
                code="payment_method_unexpected_state",
                param="payment_method",
            )
        if pm["customer"] != customer_id:
            pm["customer"] = customer_id
            self._emit(ctx, "payment_method.attached", pm)
        return pm

    def _h_pm_get(self, ctx: _Ctx, pm_id: str) -> dict:
        return self._render(self._require(pm_id, "payment_method", kind="PaymentMethod"), ctx)

    def _h_pm_attach(self, ctx: _Ctx, pm_id: str) -> dict:
        self._allow(ctx, "pm_attach")
        customer_id = ctx.params.get("customer")
        if not customer_id:
            raise ApiError(400, "Missing required param: customer.", code="parameter_missing", param="customer")
        self._require(customer_id, "customer", param="customer")
        pm = self._materialize_pm(pm_id, ctx, param="payment_method")
        return self._render(self._attach(ctx, pm, customer_id), ctx)

    def _h_pm_detach(self, ctx: _Ctx, pm_id: str) -> dict:
        self._allow(ctx, "pm_detach")
        pm = self._require(pm_id, "payment_method", kind="PaymentMethod")
        if not pm["customer"]:
            raise ApiError(
                400,
                "The payment method you provided is not attached to a customer so detachment is impossible.",
                code="payment_method_unexpected_state",
            )
        customer = self._objects.get(pm["customer"])
        pm["customer"] = None
        self._private[pm_id]["detached"] = True
        if customer and customer.get("invoice_settings", {}).get("default_payment_method") == pm_id:
            previous = {"invoice_settings": copy.deepcopy(customer["invoice_settings"])}
            customer["invoice_settings"]["default_payment_method"] = None
            self._emit(ctx, "customer.updated", customer, previous)
        self._emit(ctx, "payment_method.detached", pm, {"customer": customer["id"] if customer else None})
        return self._render(pm, ctx)

    # --- checkout ---------------------------------------------------------------------------

    def _h_session_create(self, ctx: _Ctx) -> dict:
        self._allow(ctx, "checkout_create")
        p = ctx.params
        mode = p.get("mode")
        if not mode:
            raise ApiError(400, "Missing required param: mode.", code="parameter_missing", param="mode")
        if mode != "payment":
            self.unhandled.append((ctx.method, f"{ctx.path} mode={mode}"))
            raise ApiError(
                400, f"FakeStripe only implements mode=payment Checkout Sessions (got {mode!r}).", param="mode"
            )
        customer_id = p.get("customer") or None
        if customer_id is None:  # this project always names its customer
            self.unhandled.append((ctx.method, f"{ctx.path} without customer"))
            raise ApiError(400, "FakeStripe only implements Checkout Sessions for a customer.", param="customer")
        self._require(customer_id, "customer", param="customer")
        items = p.get("line_items")
        if not items:
            raise ApiError(
                400,
                "line_items is required in payment mode.",
                code="parameter_missing",
                param="line_items",
            )
        if not isinstance(items, list):
            raise ApiError(400, "Invalid array", param="line_items")
        livemode = ctx.livemode
        line_items, currency = [], None
        for index, item in enumerate(items):
            prefix = f"line_items[{index}]"
            if not isinstance(item, dict):
                raise ApiError(400, "Invalid object", param=prefix)
            price_data = item.get("price_data")
            if not isinstance(price_data, dict):
                raise ApiError(400, "You must specify either `price` or `price_data` in each line item.", param=prefix)
            quantity = self._int(item.get("quantity"), f"{prefix}[quantity]", required=True, minimum=1)
            currency = self._currency(price_data.get("currency"), f"{prefix}[price_data][currency]")
            unit_amount = self._int(price_data.get("unit_amount"), f"{prefix}[price_data][unit_amount]", required=True)
            product_data = price_data.get("product_data")
            if not isinstance(product_data, dict) or not product_data.get("name"):
                raise ApiError(
                    400,
                    f"Missing required param: {prefix}[price_data][product_data][name].",
                    code="parameter_missing",
                    param=f"{prefix}[price_data][product_data][name]",
                )
            # The inline product and price are only seen inside the line item (nothing retrieves them).
            price = {
                "id": _new_id("price"),
                "object": "price",
                "active": False,
                "billing_scheme": "per_unit",
                "created": _now(),
                "currency": currency,
                "custom_unit_amount": None,
                "livemode": livemode,
                "lookup_key": None,
                "metadata": {},
                "nickname": None,
                "product": _new_id("prod", 14),
                "recurring": None,
                "tax_behavior": "unspecified",
                "tiers_mode": None,
                "transform_quantity": None,
                "type": "one_time",
                "unit_amount": unit_amount,
                "unit_amount_decimal": str(unit_amount),
            }
            total = unit_amount * quantity
            line_items.append(
                {
                    "id": _new_id("li"),
                    "object": "item",
                    "amount_discount": 0,
                    "amount_subtotal": total,
                    "amount_tax": 0,
                    "amount_total": total,
                    "currency": currency,
                    "description": product_data["name"],
                    "metadata": {},
                    "price": price,
                    "quantity": quantity,
                }
            )
        amount_total = sum(item["amount_total"] for item in line_items)
        if amount_total < _MIN_AMOUNT.get(currency, 0):
            raise ApiError(
                400,
                f"The Checkout Session's total amount due must add up to at least {_MIN_AMOUNT[currency]} "
                f"({currency}).",
                code="amount_too_small",
                param="line_items",
            )
        pid = p.get("payment_intent_data") or {}
        if not isinstance(pid, dict):
            raise ApiError(400, "Invalid object", param="payment_intent_data")
        if pid.get("setup_future_usage") not in (None, "", "off_session", "on_session"):
            raise ApiError(400, "Invalid setup_future_usage", param="payment_intent_data[setup_future_usage]")
        pid = {**pid, "metadata": self._metadata({}, pid.get("metadata"), "payment_intent_data[metadata]")}
        created = _now()
        session_id = "cs_test_a1" + _rand(56) if not livemode else "cs_live_a1" + _rand(56)
        session = {
            "id": session_id,
            "object": "checkout.session",
            "adaptive_pricing": {"enabled": False},
            "after_expiration": None,
            "allow_promotion_codes": None,
            "amount_subtotal": amount_total,
            "amount_total": amount_total,
            "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
            "billing_address_collection": p.get("billing_address_collection") or None,
            "cancel_url": p.get("cancel_url") or None,
            "client_reference_id": p.get("client_reference_id") or None,
            "client_secret": None,
            "collected_information": None,
            "consent": None,
            "consent_collection": None,
            "created": created,
            "currency": currency,
            "currency_conversion": None,
            "custom_fields": [],
            "custom_text": {
                "after_submit": None,
                "shipping_address": None,
                "submit": None,
                "terms_of_service_acceptance": None,
            },
            "customer": customer_id,
            "customer_creation": None,
            "customer_details": {
                "address": None,
                "email": self._customer_email(customer_id),
                "name": None,
                "phone": None,
                "tax_exempt": "none",
                "tax_ids": None,
            },
            "customer_email": None,
            "discounts": [],
            "expires_at": created + 86400,
            "invoice": None,
            "invoice_creation": {
                "enabled": False,
                "invoice_data": {
                    "account_tax_ids": None,
                    "custom_fields": None,
                    "description": None,
                    "footer": None,
                    "issuer": None,
                    "metadata": {},
                    "rendering_options": None,
                },
            },
            "livemode": livemode,
            "locale": None,
            "metadata": self._metadata({}, p.get("metadata")),
            "mode": "payment",
            "payment_intent": None,
            "payment_link": None,
            "payment_method_collection": "if_required",
            "payment_method_configuration_details": None,
            "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
            "payment_method_types": ["card"],
            "payment_status": "unpaid",
            "permissions": None,
            "phone_number_collection": {"enabled": False},
            "recovered_from": None,
            "saved_payment_method_options": None,
            "setup_intent": None,
            "shipping_address_collection": None,
            "shipping_cost": None,
            "shipping_options": [],
            "status": "open",
            "submit_type": None,
            "subscription": None,
            "success_url": p.get("success_url") or None,
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "ui_mode": "hosted",
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            "wallet_options": None,
        }
        self._store(session, line_items=line_items, payment_intent_data=pid)
        return self._render(session, ctx)

    def _line_items_list(self, session_id: str) -> dict:
        return {
            "object": "list",
            "data": copy.deepcopy(self._private[session_id]["line_items"]),
            "has_more": False,
            "url": f"/v1/checkout/sessions/{session_id}/line_items",
        }

    def _h_session_get(self, ctx: _Ctx, session_id: str) -> dict:
        return self._render(self._require(session_id, "checkout.session"), ctx)

    # --- payment intents --------------------------------------------------------------------

    def _pi_new(
        self,
        ctx: _Ctx,
        *,
        amount: int,
        currency: str,
        customer: str | None,
        payment_method: str,
        metadata: dict,
        description: str | None = None,
        setup_future_usage: str | None = None,
        emit_created: bool = True,
    ) -> dict:
        pi_id = _new_id("pi")
        pi = {
            "id": pi_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_details": {"tip": {}},
            "amount_received": 0,
            "application": None,
            "application_fee_amount": None,
            "automatic_payment_methods": None,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": "automatic",
            "client_secret": f"{pi_id}_secret_{_rand(25)}",
            "confirmation_method": "automatic",
            "created": _now(),
            "currency": currency,
            "customer": customer,
            "description": description,
            "excluded_payment_method_types": None,
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": ctx.livemode,
            "metadata": metadata,
            "next_action": None,
            "on_behalf_of": None,
            "payment_method": payment_method,
            "payment_method_configuration_details": None,
            "payment_method_options": {
                "card": {
                    "installments": None,
                    "mandate_options": None,
                    "network": None,
                    "request_three_d_secure": "automatic",
                }
            },
            "payment_method_types": ["card"],
            "processing": None,
            "receipt_email": None,
            "review": None,
            "setup_future_usage": setup_future_usage,
            "shipping": None,
            "source": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": "requires_confirmation",
            "transfer_data": None,
            "transfer_group": None,
        }
        self._store(pi)
        if emit_created:
            self._emit(ctx, "payment_intent.created", pi)
        return pi

    def _pi_payment_method(self, ctx: _Ctx, pm_id: Any, customer_id: str | None) -> dict:
        pm = self._materialize_pm(pm_id, ctx, param="payment_method")
        if pm["customer"] and pm["customer"] != customer_id:
            raise ApiError(
                400,
                f"The provided PaymentMethod ({pm['id']}) is attached to another Customer, not {customer_id}.",
                param="payment_method",
            )
        return pm

    def _pi_attempt(self, ctx: _Ctx, pi: dict, *, emit: bool = True):
        """Try to collect `pi`. Returns None on success, else the ApiError to answer with
        (the PaymentIntent has been updated either way)."""
        pm = self._objects[pi["payment_method"]]
        decline = _DECLINES.get(pm["card"]["last4"])
        if decline is not None:
            decline_code, message = decline
            charge = self._charge_new(ctx, pi, pm, succeeded=False, decline_code=decline_code, message=message)
            error = {
                "advice_code": "do_not_try_again",
                "charge": charge["id"],
                "code": "card_declined",
                "decline_code": decline_code,
                "doc_url": _DOC + "card-declined",
                "message": message,
                "payment_method": copy.deepcopy(pm),
                "type": "card_error",
            }
            pi.update(
                {
                    "status": "requires_payment_method",
                    "last_payment_error": error,
                    "latest_charge": charge["id"],
                    "payment_method": None,
                    "next_action": None,
                }
            )
            if emit:
                self._emit(ctx, "payment_intent.payment_failed", pi)
                self._emit(ctx, "charge.failed", charge)
            return self._card_error(error, pi)
        charge = self._charge_new(ctx, pi, pm, succeeded=True)
        pi.update(
            {
                "status": "succeeded",
                "amount_received": pi["amount"],
                "latest_charge": charge["id"],
                "last_payment_error": None,
                "next_action": None,
            }
        )
        if emit:
            self._emit(ctx, "payment_intent.succeeded", pi)
            self._emit(ctx, "charge.succeeded", charge)
        return None

    @staticmethod
    def _card_error(error: dict, pi: dict) -> ApiError:
        fields = {key: value for key, value in error.items() if key not in ("message", "type")}
        return ApiError(402, error["message"], type="card_error", payment_intent=copy.deepcopy(pi), **fields)

    def _h_pi_create(self, ctx: _Ctx) -> dict:
        self._allow(ctx, "pi_create")
        p = ctx.params
        amount = self._int(p.get("amount"), "amount", required=True, minimum=1)
        currency = self._currency(p.get("currency"))
        if amount < _MIN_AMOUNT.get(currency, 0):
            raise ApiError(
                400,
                f"Amount must be at least {_MIN_AMOUNT[currency]} {currency} cents.",
                code="amount_too_small",
                param="amount",
            )
        if not (self._bool(p.get("confirm"), "confirm") and self._bool(p.get("off_session"), "off_session")):
            self.unhandled.append((ctx.method, f"{ctx.path} without confirm=true&off_session=true"))
            raise ApiError(
                400, "FakeStripe only implements PaymentIntents confirmed off-session at once.", param="confirm"
            )
        customer_id = p.get("customer") or None
        if customer_id:
            self._require(customer_id, "customer", param="customer")
        pm = self._pi_payment_method(ctx, p.get("payment_method"), customer_id)
        pi = self._pi_new(
            ctx,
            amount=amount,
            currency=currency,
            customer=customer_id,
            payment_method=pm["id"],
            metadata=self._metadata({}, p.get("metadata")),
        )
        error = self._pi_attempt(ctx, pi)
        if error is not None:
            raise error
        return self._render(pi, ctx)

    def _h_pi_get(self, ctx: _Ctx, pi_id: str) -> dict:
        return self._render(self._require(pi_id, "payment_intent", kind="payment_intent"), ctx)

    # --- charges, balance, refunds ---------------------------------------------------------------

    def _balance_transaction(
        self, ctx: _Ctx, amount: int, currency: str, source: str, type_: str, category: str,
        *, fee: int = 0, description: str | None = None,
    ) -> dict:  # fmt: skip
        created = _now()
        fee_details = (
            [
                {
                    "amount": fee,
                    "application": None,
                    "currency": currency,
                    "description": "Stripe processing fees",
                    "type": "stripe_fee",
                }
            ]
            if fee
            else []
        )
        return self._store(
            {
                "id": _new_id("txn"),
                "object": "balance_transaction",
                "amount": amount,
                "available_on": created + 2 * 86400,
                "balance_type": "payments",
                "created": created,
                "currency": currency,
                "description": description,
                "exchange_rate": None,
                "fee": fee,
                "fee_details": fee_details,
                "livemode": ctx.livemode,
                "metadata": {},
                "net": amount - fee,
                "reporting_category": category,
                "source": source,
                "status": "pending",
                "type": type_,
            }
        )

    def _charge_new(
        self, ctx: _Ctx, pi: dict, pm: dict, *, succeeded: bool, decline_code: str = "", message: str = ""
    ) -> dict:
        charge_id = _new_id("ch")
        txn = None
        if succeeded:
            fee = round(pi["amount"] * 0.029) + 30
            txn = self._balance_transaction(
                ctx, pi["amount"], pi["currency"], charge_id, "charge", "charge", fee=fee,
                description=pi["description"],
            )  # fmt: skip
        card = pm["card"]
        charge = {
            "id": charge_id,
            "object": "charge",
            "amount": pi["amount"],
            "amount_captured": pi["amount"] if succeeded else 0,
            "amount_refunded": 0,
            "application": None,
            "application_fee": None,
            "application_fee_amount": None,
            "balance_transaction": txn["id"] if txn else None,
            "billing_details": copy.deepcopy(pm["billing_details"]),
            "calculated_statement_descriptor": "FAKE STRIPE",
            "captured": succeeded,
            "created": _now(),
            "currency": pi["currency"],
            "customer": pi["customer"],
            "description": pi["description"],
            "destination": None,
            "disputed": False,
            "failure_balance_transaction": None,
            "failure_code": None if succeeded else "card_declined",
            "failure_message": None if succeeded else message,
            "fraud_details": {},
            "livemode": ctx.livemode,
            "metadata": copy.deepcopy(pi["metadata"]),
            "on_behalf_of": None,
            "outcome": {
                "advice_code": None,
                "network_advice_code": None,
                "network_decline_code": None,
                "network_status": "approved_by_network" if succeeded else "declined_by_network",
                "reason": None if succeeded else decline_code,
                "risk_level": "normal",
                "risk_score": 32,
                "seller_message": "Payment complete."
                if succeeded
                else (
                    "The bank did not return any further details with this decline."
                    if decline_code == "generic_decline"
                    else f"The bank returned the decline code `{decline_code}`."
                ),
                "type": "authorized" if succeeded else "issuer_declined",
            },
            "paid": succeeded,
            "payment_intent": pi["id"],
            "payment_method": pm["id"],
            "payment_method_details": {
                "card": {
                    "amount_authorization": pi["amount"] if succeeded else None,
                    "brand": card["brand"],
                    "checks": copy.deepcopy(card["checks"]),
                    "country": card["country"],
                    "exp_month": card["exp_month"],
                    "exp_year": card["exp_year"],
                    "extended_authorization": {"status": "disabled"},
                    "fingerprint": card["fingerprint"],
                    "funding": card["funding"],
                    "incremental_authorization": {"status": "unavailable"},
                    "installments": None,
                    "last4": card["last4"],
                    "mandate": None,
                    "multicapture": {"status": "unavailable"},
                    "network": card["brand"],
                    "network_token": {"used": False},
                    "network_transaction_id": _rand(15),
                    "overcapture": {"maximum_amount_capturable": pi["amount"], "status": "unavailable"},
                    "regulated_status": "unregulated",
                    "three_d_secure": None,
                    "wallet": None,
                },
                "type": "card",
            },
            "radar_options": {},
            "receipt_email": pi["receipt_email"],
            "receipt_number": None,
            "receipt_url": f"https://pay.stripe.com/receipts/payment/{_rand(40)}",
            "refunded": False,
            "refunds": {
                "object": "list",
                "data": [],
                "has_more": False,
                "total_count": 0,
                "url": f"/v1/charges/{charge_id}/refunds",
            },
            "review": None,
            "shipping": None,
            "source": None,
            "source_transfer": None,
            "statement_descriptor": pi["statement_descriptor"],
            "statement_descriptor_suffix": pi["statement_descriptor_suffix"],
            "status": "succeeded" if succeeded else "failed",
            "transfer_data": None,
            "transfer_group": None,
        }
        return self._store(charge)

    def _h_charge_get(self, ctx: _Ctx, charge_id: str) -> dict:
        return self._render(self._require(charge_id, "charge"), ctx)

    def _h_txn_get(self, ctx: _Ctx, txn_id: str) -> dict:
        return self._render(self._require(txn_id, "balance_transaction"), ctx)

    def _h_refund_create(self, ctx: _Ctx) -> dict:
        self._allow(ctx, "refund_create")
        p = ctx.params
        if not p.get("payment_intent"):
            raise ApiError(
                400,
                "One of the following params should be provided for this request: payment_intent or charge.",
                param="charge",
            )
        pi = self._require(p["payment_intent"], "payment_intent", param="payment_intent")
        if pi["status"] != "succeeded" or not pi["latest_charge"]:
            raise ApiError(
                400,
                f"This PaymentIntent ({pi['id']}) does not have a successful charge to refund.",
                code="charge_not_refundable",
                param="payment_intent",
            )
        charge = self._objects[pi["latest_charge"]]
        for dispute in self._of_type("dispute"):
            if dispute["charge"] == charge["id"] and dispute["status"] != "won":
                raise ApiError(
                    400, f"Charge {charge['id']} has been charged back; cannot issue a refund.", code="charge_disputed"
                )
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining <= 0:
            raise ApiError(400, f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded")
        amount = self._int(p.get("amount"), "amount", minimum=1)
        if amount is None:
            amount = remaining
        if amount > remaining:
            raise ApiError(
                400,
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
                code="amount_too_large",
                param="amount",
            )
        refund_id = _new_id("re")
        txn = self._balance_transaction(ctx, -amount, charge["currency"], refund_id, "refund", "refund")
        refund = self._store(
            {
                "id": refund_id,
                "object": "refund",
                "amount": amount,
                "balance_transaction": txn["id"],
                "charge": charge["id"],
                "created": _now(),
                "currency": charge["currency"],
                "description": None,
                "destination_details": {
                    "card": {
                        "reference": _rand(23),
                        "reference_status": "pending",
                        "reference_type": "acquirer_reference_number",
                        "type": "refund",
                    },
                    "type": "card",
                },
                "failure_balance_transaction": None,
                "failure_reason": None,
                "livemode": ctx.livemode,
                "metadata": self._metadata({}, p.get("metadata")),
                "payment_intent": charge["payment_intent"],
                "reason": None,
                "receipt_number": None,
                "source_transfer_reversal": None,
                "status": "succeeded",
                "transfer_reversal": None,
            }
        )
        previous = {"amount_refunded": charge["amount_refunded"], "refunds": copy.deepcopy(charge["refunds"])}
        if charge["amount_refunded"] + amount == charge["amount"]:
            previous["refunded"] = False
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        charge["refunds"]["data"].insert(0, copy.deepcopy(refund))
        charge["refunds"]["total_count"] += 1
        self._emit(ctx, "charge.refunded", charge, previous)
        self._emit(ctx, "refund.created", refund)
        return self._render(refund, ctx)

    # --- portal, disputes -------------------------------------------------------------------------

    def _h_portal_create(self, ctx: _Ctx) -> dict:
        self._allow(ctx, "portal_create")
        customer_id = ctx.params.get("customer")
        if not customer_id:
            raise ApiError(400, "Missing required param: customer.", code="parameter_missing", param="customer")
        self._require(customer_id, "customer", param="customer")
        session_id = _new_id("bps")
        session = self._store(
            {
                "id": session_id,
                "object": "billing_portal.session",
                "configuration": "bpc_" + _rand(24),
                "created": _now(),
                "customer": customer_id,
                "customer_account": None,
                "flow": None,
                "livemode": ctx.livemode,
                "locale": None,
                "metadata": {},
                "on_behalf_of": None,
                "return_url": ctx.params.get("return_url") or None,
                "url": f"https://billing.stripe.com/p/session/{session_id}",
            }
        )
        return self._render(session, ctx)

    def _h_dispute_get(self, ctx: _Ctx, dispute_id: str) -> dict:
        return self._render(self._require(dispute_id, "dispute"), ctx)


_NOTHING = object()


@pytest.fixture(name="fake_stripe")
def fake_stripe_fixture(settings):
    """A running FakeStripe; the stripe library and Django settings point at it.

    Sets `stripe.api_base` / `stripe.api_key` and the settings STRIPE_API_HOST,
    STRIPE_SECRET_KEY, STRIPE_PUBLISHABLE_KEY (and STRIPE_PUBLIC_KEY, which dj-stripe
    reads), STRIPE_WEBHOOK_SECRET and STRIPE_LIVE_MODE; everything is restored after
    the test and the server stops. Fails the test if the fake itself crashed.
    """
    saved = {name: getattr(stripe, name) for name in ("api_base", "api_key")}
    fake = FakeStripe().start()
    try:
        stripe.api_base = fake.url
        stripe.api_key = FAKE_SECRET_KEY
        settings.STRIPE_API_HOST = fake.url
        settings.STRIPE_SECRET_KEY = FAKE_SECRET_KEY
        settings.STRIPE_PUBLISHABLE_KEY = FAKE_PUBLISHABLE_KEY
        settings.STRIPE_PUBLIC_KEY = FAKE_PUBLISHABLE_KEY
        settings.STRIPE_WEBHOOK_SECRET = FAKE_WEBHOOK_SECRET
        settings.STRIPE_LIVE_MODE = False
        yield fake
    finally:
        fake.stop()
        for name, value in saved.items():
            setattr(stripe, name, value)
    assert not fake.errors, "FakeStripe crashed while serving:\n" + "\n".join(fake.errors)
