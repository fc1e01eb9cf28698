"""Stripe's events, turned into this project's normalized gateway events.

dj-stripe verifies the signature, stores each event once and sends a signal per type;
the handlers below normalize the event and send it through the same pipeline as every
gateway (webhooks.services.event_store_and_process: stored once per event id, processed
under a row lock), so ten simultaneous deliveries of one event have one effect, and an
event that arrives twice, late or before its sibling (payment_intent.succeeded before
checkout.session.completed) leaves the same final state.
"""

from __future__ import annotations

from .gateways.base import (
    DISPUTE_CLOSED,
    DISPUTE_OPENED,
    PAYMENT_FAILED,
    PAYMENT_METHOD_ATTACHED,
    PAYMENT_METHOD_DETACHED,
    PAYMENT_SUCCEEDED,
    REFUND_SUCCEEDED,
    GatewayEvent,
)

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
    from .gateways.stripe_gateway import from_stripe_amount

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
                type=PAYMENT_SUCCEEDED,
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
                type=PAYMENT_SUCCEEDED,
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
                type=PAYMENT_FAILED,
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
                type=REFUND_SUCCEEDED,
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
                type=DISPUTE_OPENED if kind.endswith("created") else DISPUTE_CLOSED,
                refund_reference=_id(obj.get("id")),  # the dispute's id
                payment_reference=_id(obj.get("payment_intent")),
                amount_cents=amount(obj.get("amount")),
                failure_reason=str(obj.get("reason") or ""),
                **common,
            )
        ]
    if kind in ("payment_method.attached", "payment_method.detached"):
        customer = _id(obj.get("customer")) or _id(
            (payload.get("data") or {}).get("previous_attributes", {}).get("customer")
        )
        return [
            GatewayEvent(
                event_id=event_id,
                type=PAYMENT_METHOD_ATTACHED if kind.endswith("attached") else PAYMENT_METHOD_DETACHED,
                payment_method=_id(obj.get("id")),
                payment_reference=customer,  # the customer the method belongs (or belonged) to
                **common,
            )
        ]
    return []


def handle_djstripe_event(sender, event, **kwargs) -> None:
    """dj-stripe signal receiver: apply the event inside dj-stripe's transaction, so a
    failure rolls everything back, answers 5xx and succeeds on redelivery."""
    from webhooks.services import event_store_and_process

    for normalized in normalize((event.data and {"id": event.id, "type": event.type, "data": event.data}) or {}):
        event_store_and_process(gateway="stripe", event=normalized)


def connect_signals() -> None:
    from djstripe.signals import WEBHOOK_SIGNALS

    for event_type in HANDLED:
        WEBHOOK_SIGNALS[event_type].connect(
            handle_djstripe_event, dispatch_uid=f"billing-stripe-{event_type}", weak=False
        )
