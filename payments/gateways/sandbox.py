"""The sandbox gateway: needs no keys, works offline, and pays at a click.

Because anyone holding a sandbox page's link can mark its payment paid, the gateway exists
only where SANDBOX_GATEWAY_ENABLED is on (by default with DEBUG, e.g. `make run`): with it
off the gateway is not configured, so it cannot be chosen, its page is a 404 and its
webhook is refused.

Checkout and pay links open a page inside this app with the amount and two buttons, Pay
and Decline (webhooks.sandbox_page: it plays the gateway's side and posts a signed event,
made with `event_body` and `sign`, into the inbound pipeline like a real gateway's
webhook). Saved payment methods `pm_sandbox_ok` and `pm_sandbox_decline` make off-session
charges succeed or fail, and refunds succeed, at once: the outcome is the `event` of the
ChargeResult or RefundResult, the same normalized event such a webhook would carry, which
the caller in `billing` applies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time

from django.conf import settings
from django.urls import reverse

from . import register
from .base import (
    ChargeResult,
    ChargeStatus,
    EventType,
    Gateway,
    GatewayEvent,
    HostedSession,
    InvalidSignature,
    RefundResult,
    RefundResultStatus,
    StoredPaymentMethod,
    in_app_portal_url,
)

PM_OK = "pm_sandbox_ok"
PM_DECLINE = "pm_sandbox_decline"
PAYMENT_METHODS = (PM_OK, PM_DECLINE)
# What each test card does, shown where a card's brand would be.
CARD_BRANDS = {PM_OK: "Sandbox test card: payments succeed", PM_DECLINE: "Sandbox test card: payments are declined"}
SIGNATURE_HEADER = "HTTP_X_SANDBOX_SIGNATURE"
TOLERANCE_SECONDS = 300
DECLINE_REASON = "card_declined: The card was declined."


def _secret() -> bytes:
    return hmac.new(settings.SECRET_KEY.encode(), b"sandbox-webhook-signing", hashlib.sha256).digest()


def sign(body: bytes, timestamp: int | None = None) -> str:
    """The signature header value for a sandbox event body (`t=...,v1=...`)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(_secret(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def event_payload(event_type: str, **data) -> dict:
    """A sandbox event, with a new event id. Its data keys are GatewayEvent's field names
    (`payment_reference`, `refund_reference`, `amount_cents`, ...)."""
    return {"id": f"evt_sbx_{secrets.token_hex(12)}", "type": event_type, "data": data}


def event_body(event_type: str, **data) -> bytes:
    """The body of a sandbox webhook (sign it with `sign`)."""
    return json.dumps(event_payload(event_type, **data)).encode()


def is_enabled() -> bool:
    return bool(settings.SANDBOX_GATEWAY_ENABLED)


def _hosted_url(reference: str) -> str:
    return settings.SITE_URL + reverse("sandbox-checkout", args=[reference])


@register
class SandboxGateway(Gateway):
    name = "sandbox"

    def is_configured(self) -> bool:
        return is_enabled()

    def create_checkout(self, *, payment, success_url: str, cancel_url: str, description: str) -> HostedSession:
        reference = f"sbx_cs_{secrets.token_urlsafe(18)}"
        return HostedSession(reference=reference, url=_hosted_url(reference))

    def pay_link(self, *, payment, description: str) -> HostedSession:
        reference = f"sbx_pl_{secrets.token_urlsafe(18)}"
        return HostedSession(reference=reference, url=_hosted_url(reference))

    def charge(self, *, payment, payment_method: str) -> ChargeResult:
        reference = f"sbx_pi_{secrets.token_urlsafe(18)}"
        if payment_method == PM_OK:
            event = self.event_from_payload(
                event_payload(
                    EventType.PAYMENT_SUCCEEDED,
                    payment_reference=reference,
                    amount_cents=payment.amount_cents,
                    currency=payment.currency,
                    payment_method=payment_method,
                )
            )
            return ChargeResult(
                reference=reference, status=ChargeStatus.SUCCEEDED, payment_method=payment_method, event=event
            )
        reason = DECLINE_REASON if payment_method == PM_DECLINE else "unknown_payment_method"
        event = self.event_from_payload(
            event_payload(EventType.PAYMENT_FAILED, payment_reference=reference, failure_reason=reason)
        )
        return ChargeResult(reference=reference, status=ChargeStatus.FAILED, failure_reason=reason, event=event)

    def portal_url(self, *, organization, return_url: str) -> str:
        return in_app_portal_url(organization=organization, return_url=return_url)

    def refund(self, *, payment, refund) -> RefundResult:
        reference = f"sbx_re_{secrets.token_urlsafe(18)}"
        event = self.event_from_payload(
            event_payload(
                EventType.REFUND_SUCCEEDED,
                refund_reference=reference,
                payment_reference=payment.reference,
                amount_cents=refund.amount_cents,
            )
        )
        return RefundResult(reference=reference, status=RefundResultStatus.SUCCEEDED, event=event)

    def verify_event(self, *, body: bytes, headers) -> GatewayEvent:
        header = headers.get(SIGNATURE_HEADER) or headers.get("X-Sandbox-Signature") or ""
        parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
        try:
            timestamp = int(parts.get("t", ""))
        except ValueError:
            raise InvalidSignature() from None
        expected = sign(body, timestamp).split("v1=", 1)[1]
        if not hmac.compare_digest(expected, parts.get("v1", "")):
            raise InvalidSignature()
        if abs(time.time() - timestamp) > TOLERANCE_SECONDS:
            raise InvalidSignature("The webhook signature's timestamp is outside the 300 s tolerance.")
        try:
            payload = json.loads(body)
        except ValueError:
            raise InvalidSignature("The webhook body is not JSON.") from None
        return self.event_from_payload(payload)

    def event_from_payload(self, payload: dict) -> GatewayEvent:
        """A sandbox event's fields are named as GatewayEvent's (stored events keep those
        names: `payment_reference`, `refund_reference`, ...)."""
        try:
            data = payload.get("data") or {}
            return GatewayEvent(
                event_id=str(payload["id"]),
                type=str(payload["type"]),
                payment_reference=str(data.get("payment_reference", "")),
                refund_reference=str(data.get("refund_reference", "")),
                amount_cents=data.get("amount_cents"),
                currency=str(data.get("currency", "")),
                payment_method=str(data.get("payment_method", "")),
                failure_reason=str(data.get("failure_reason", "")),
                raw=payload,
            )
        except (KeyError, TypeError, AttributeError):
            raise InvalidSignature("The webhook body is not a sandbox event.") from None

    def validate_payment_method(self, payment_method: str) -> bool:
        return payment_method in PAYMENT_METHODS

    def payment_methods(self, *, organization, charged: str = "") -> list[StoredPaymentMethod]:
        """The sandbox keeps no wallet: a customer holds the one test card that is charged."""
        if charged not in PAYMENT_METHODS:
            return []
        return [StoredPaymentMethod(id=charged, brand=CARD_BRANDS[charged])]

    def payment_method_setup(self, *, organization, success_url: str, cancel_url: str) -> HostedSession:
        """The sandbox's page for choosing a test card is the in-app billing portal; its
        Return link goes back to `success_url`."""
        return HostedSession(
            reference=f"sbx_setup_{secrets.token_urlsafe(12)}",
            url=in_app_portal_url(organization=organization, return_url=success_url),
        )
