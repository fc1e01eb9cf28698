"""Stripe's events, turned into this project's normalized gateway events.

Stripe's payload shapes are read here and nowhere else. dj-stripe verifies the signature
and stores each event once; the receiver on its signals (webhooks.stripe_events) calls
`normalize` and sends each normalized event through the inbound pipeline, and a stored
event is normalized again for a reprocess (StripeGateway.event_from_payload).
"""

from __future__ import annotations

from .base import EventType, GatewayEvent
from .stripe_gateway import from_stripe_amount

# The Stripe event types this project handles (the receiver listens to these signals).
HANDLED = (
    "checkout.session.completed",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "charge.refunded",
    "charge.dispute.created",
    "charge.dispute.closed",
    "payment_method.attached",
    "payment_method.detached",
)


def _id(value) -> str:
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


def normalize(payload: dict) -> list[GatewayEvent]:
    """The normalized events of one Stripe event (a refund event can carry several)."""
    kind = payload.get("type", "")
    obj = (payload.get("data") or {}).get("object") or {}
    event_id = str(payload.get("id", ""))
    metadata = obj.get("metadata") or {}
    currency = str(obj.get("currency") or "").upper()

    def amount(value):
        return from_stripe_amount(value, currency) if value is not None and currency else None

    common = {"raw": payload, "currency": currency}
    if kind == "checkout.session.completed":
        if obj.get("payment_status") != "paid":
            return []
        return [
            GatewayEvent(
                event_id=event_id,
                type=EventType.PAYMENT_SUCCEEDED,
                payment_reference=_id(obj.get("id")),
                payment_id=str(metadata.get("payment_id", "")),
                amount_cents=amount(obj.get("amount_total")),
                **common,
            )
        ]
    if kind == "payment_intent.succeeded":
        return [
            GatewayEvent(
                event_id=event_id,
                type=EventType.PAYMENT_SUCCEEDED,
                payment_reference=_id(obj.get("id")),
                payment_id=str(metadata.get("payment_id", "")),
                amount_cents=amount(obj.get("amount_received") or obj.get("amount")),
                payment_method=_id(obj.get("payment_method")),
                **common,
            )
        ]
    if kind == "payment_intent.payment_failed":
        error = obj.get("last_payment_error") or {}
        return [
            GatewayEvent(
                event_id=event_id,
                type=EventType.PAYMENT_FAILED,
                payment_reference=_id(obj.get("id")),
                payment_id=str(metadata.get("payment_id", "")),
                failure_reason=f"{error.get('code') or 'payment_failed'}: {error.get('message') or 'declined'}",
                **common,
            )
        ]
    if kind == "charge.refunded":
        refunds = ((obj.get("refunds") or {}).get("data")) or []
        return [
            GatewayEvent(
                event_id=f"{event_id}:{refund['id']}",
                type=EventType.REFUND_SUCCEEDED,
                refund_reference=refund["id"],
                payment_reference=_id(obj.get("payment_intent")),
                amount_cents=amount(refund.get("amount")),
                **common,
            )
            for refund in refunds
            if refund.get("status") in ("succeeded", None)
        ]
    if kind in ("charge.dispute.created", "charge.dispute.closed"):
        return [
            GatewayEvent(
                event_id=event_id,
                type=EventType.DISPUTE_OPENED if kind.endswith("created") else EventType.DISPUTE_CLOSED,
                dispute_reference=_id(obj.get("id")),
                payment_reference=_id(obj.get("payment_intent")),
                amount_cents=amount(obj.get("amount")),
                dispute_reason=str(obj.get("reason") or ""),
                **common,
            )
        ]
    if kind in ("payment_method.attached", "payment_method.detached"):
        attached = kind.endswith("attached")
        customer = _id(obj.get("customer")) or _id(
            (payload.get("data") or {}).get("previous_attributes", {}).get("customer")
        )
        return [
            GatewayEvent(
                event_id=event_id,
                type=EventType.PAYMENT_METHOD_ATTACHED if attached else EventType.PAYMENT_METHOD_DETACHED,
                payment_method=_id(obj.get("id")),
                customer_reference=customer,
                **common,
            )
        ]
    return []
