"""The one inbound path for gateway events: verify, store once, process in a transaction.

A replayed event (same gateway and event id) is acknowledged and changes nothing. An
event whose processing fails is kept with its error, for the gateway's redelivery or a
reprocess from the admin; its partial writes are rolled back.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

import billing.services
from billing_project.errors import DomainError, NotFound
from payments.gateways import gateway_enabled, get_gateway
from payments.gateways.base import AmountMismatch, EventType, GatewayEvent
from payments.models import Payment

from .models import InboundEvent, Outcome

logger = logging.getLogger(__name__)


class EventProcessingFailed(Exception):
    """Processing raised; the event is stored as failed (the endpoint answers 5xx)."""


def event_receive(*, gateway: str, body: bytes, headers) -> InboundEvent:
    """Verify an inbound webhook with its gateway, store it once and process it. A gateway
    this server does not take payments through (unknown, without keys, or the sandbox
    switched off) has no webhook: a 404, and nothing is read or stored."""
    if not gateway_enabled(gateway):
        raise NotFound(f"No webhook endpoint for '{gateway}' on this server.")
    event = get_gateway(gateway).verify_event(body=body, headers=headers)
    _amount_check(gateway, event)
    return event_store_and_process(gateway=gateway, event=event)


def _amount_check(gateway: str, event: GatewayEvent) -> None:
    """A success for another amount or currency than the payment asked is refused before
    anything is stored (a tampered or misrouted callback); an unknown payment passes on,
    to be acknowledged and logged."""
    if event.type != EventType.PAYMENT_SUCCEEDED or event.amount_cents is None or not event.payment_reference:
        return
    payment = (
        Payment.objects.filter(gateway=gateway, reference=event.payment_reference)
        .only("amount_cents", "currency")
        .first()
    )
    if payment is None:
        return
    currency_differs = event.currency and event.currency.upper() != payment.currency.upper()
    if event.amount_cents != payment.amount_cents or currency_differs:
        logger.warning(
            "%s event %s: %s %s paid for payment %s of %s %s; refused",
            gateway,
            event.event_id,
            event.amount_cents,
            event.currency,
            payment.pk,
            payment.amount_cents,
            payment.currency,
        )
        raise AmountMismatch()


def event_store_and_process(*, gateway: str, event: GatewayEvent) -> InboundEvent:
    """Store an already verified event once (gateway + event id) and process it once."""
    try:
        with transaction.atomic():
            inbound, _created = InboundEvent.objects.get_or_create(
                gateway=gateway,
                event_id=event.event_id,
                defaults={"event_type": event.type, "payload": event.raw},
            )
    except IntegrityError:  # a concurrent delivery stored it first
        inbound = InboundEvent.objects.get(gateway=gateway, event_id=event.event_id)
    return event_process(inbound=inbound, event=event)


def event_process(*, inbound: InboundEvent, event: GatewayEvent | None = None) -> InboundEvent:
    """Apply a stored event once. Safe to call again: processed events are skipped. When
    processing raises, its writes are rolled back, the event is kept as failed with the
    error, and EventProcessingFailed is raised."""
    error = None
    with transaction.atomic():
        inbound = InboundEvent.objects.select_for_update().get(pk=inbound.pk)
        if inbound.outcome in (Outcome.PROCESSED, Outcome.IGNORED):
            return inbound
        try:
            # The gateway must still be enabled: no stored sandbox event pays anything on a
            # server where the sandbox is off. The event stays as it is, for later.
            gateway = get_gateway(inbound.gateway)
            if event is None:
                event = gateway.event_from_payload(inbound.payload)
        except DomainError as exc:
            raise EventProcessingFailed(exc.message) from exc
        inbound.attempts += 1
        try:
            with transaction.atomic():
                # Looked up on its module at each call (tests replace it there).
                applied = billing.services.gateway_event_apply(gateway=inbound.gateway, event=event)
        except Exception as exc:
            logger.exception("Processing %s event %s failed", inbound.gateway, inbound.event_id)
            error = exc
            inbound.outcome = Outcome.FAILED
            inbound.error = f"{exc.__class__.__name__}: {exc}"[:5000]
        else:
            inbound.outcome = Outcome.PROCESSED if applied else Outcome.IGNORED
            inbound.error = ""
            inbound.processed_at = timezone.now()
        inbound.save(update_fields=["outcome", "error", "processed_at", "attempts"])
    if error is not None:
        raise EventProcessingFailed(inbound.error) from error
    return inbound
