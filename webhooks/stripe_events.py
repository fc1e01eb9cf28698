"""Stripe's events, from dj-stripe's signals into the inbound pipeline.

dj-stripe verifies the signature, stores each event once and sends a signal per type; the
receiver below normalizes the event (payments.gateways.stripe_events) and sends each
normalized event through the same pipeline as every gateway (event_store_and_process:
stored once per event id, processed under a row lock), so ten simultaneous deliveries of
one event have one effect, and an event that arrives twice, late or before its sibling
(payment_intent.succeeded before checkout.session.completed) leaves the same final state.
"""

from __future__ import annotations

from djstripe.signals import WEBHOOK_SIGNALS

from payments.gateways.stripe_events import HANDLED, normalize

from .services import event_store_and_process


def handle_djstripe_event(sender, event, **kwargs) -> None:
    """dj-stripe signal receiver: apply the event inside dj-stripe's transaction, so a
    failure rolls everything back, answers 5xx and succeeds on redelivery."""
    for normalized in normalize((event.data and {"id": event.id, "type": event.type, "data": event.data}) or {}):
        event_store_and_process(gateway="stripe", event=normalized)


def connect_signals() -> None:
    for event_type in HANDLED:
        WEBHOOK_SIGNALS[event_type].connect(
            handle_djstripe_event, dispatch_uid=f"billing-stripe-{event_type}", weak=False
        )
