"""Stripe as a payment gateway, through dj-stripe.

Stripe collects money; the billing engine (plans, periods, invoices, credits) stays this
project's. An invoice is paid through a Checkout Session in payment mode that saves the
card for off-session use; renewals and dunning charge the saved card with an off-session
PaymentIntent. Customers are created once per organization (dj-stripe's subscriber) and
reused. Stripe's webhooks enter through dj-stripe's signature-verified
WebhookEventTrigger; the receiver on dj-stripe's signals (webhooks.stripe_events) turns
each event into the same normalized events the sandbox produces, with
payments.gateways.stripe_events.normalize, where Stripe's payload shapes are read.
"""

from __future__ import annotations

import logging

import stripe
from django.conf import settings
from django.db import transaction

from billing_project.money import STRIPE_CURRENCIES, from_gateway_amount, to_gateway_amount

from . import register
from .base import (
    ChargeResult,
    ChargeStatus,
    EventType,
    Gateway,
    GatewayError,
    GatewayEvent,
    HostedSession,
    InvalidSignature,
    RefundResult,
    RefundResultStatus,
    StoredPaymentMethod,
)

logger = logging.getLogger(__name__)


def to_stripe_amount(amount_minor: int, currency: str) -> int:
    """This project's minor units -> Stripe's (billing_project.money's table: IDR is whole
    rupiah here and hundredths at Stripe, KWD fils on both sides). An amount Stripe cannot
    take (1.235 KWD: Stripe wants whole hundredths of a dinar) is refused before anything
    is sent: a GatewayError (502), never a rounding."""
    try:
        return to_gateway_amount(amount_minor, currency, "stripe")
    except ValueError as exc:
        raise GatewayError(str(exc)) from exc


def from_stripe_amount(amount: int, currency: str) -> int:
    """An amount Stripe reports (a payment, a refund, a dispute) in this project's minor
    units; a GatewayError when ours cannot hold it exactly, never a truncation."""
    try:
        return from_gateway_amount(amount, currency, "stripe")
    except ValueError as exc:
        raise GatewayError(f"Stripe reported an amount this project cannot record: {exc}") from exc


def _call(operation, *args, **kwargs):
    """A Stripe API call; any Stripe failure (4xx, 5xx, timeout) is a 502 for the client."""
    try:
        return operation(*args, api_key=settings.STRIPE_SECRET_KEY, **kwargs)
    except stripe.CardError:
        raise
    except stripe.StripeError as exc:
        logger.warning("Stripe call failed: %s", exc)
        raise GatewayError(
            f"Stripe did not complete the request: {exc.user_message or exc.__class__.__name__}."
        ) from exc


_http_client = None


def _client_timeout() -> None:
    """Bound every Stripe call by STRIPE_TIMEOUT_SECONDS (one client for the process)."""
    global _http_client
    if _http_client is None or _http_client._timeout != settings.STRIPE_TIMEOUT_SECONDS:
        _http_client = stripe.RequestsClient(timeout=settings.STRIPE_TIMEOUT_SECONDS)
        stripe.default_http_client = _http_client


def existing_customer_id(organization) -> str | None:
    """The organization's Stripe customer when it has one (never creates it)."""
    from djstripe.models import Customer

    return (
        Customer.objects.filter(subscriber=organization, livemode=settings.STRIPE_LIVE_MODE)
        .values_list("id", flat=True)
        .first()
    )


def stripe_customer_id(organization) -> str:
    """The organization's Stripe customer, created once and reused (dj-stripe's record)."""
    from djstripe.models import Customer

    existing = existing_customer_id(organization)
    if existing is not None:
        return existing
    with transaction.atomic():
        # Lock the organization so two checkouts create one customer.
        type(organization).objects.select_for_update().filter(pk=organization.pk).first()
        existing = Customer.objects.filter(subscriber=organization, livemode=settings.STRIPE_LIVE_MODE).first()
        if existing is not None:
            return existing.id
        created = _call(
            stripe.Customer.create,
            email=organization.billing_email or None,
            name=organization.name,
            metadata={"organization_id": str(organization.pk), "djstripe_subscriber": str(organization.pk)},
            idempotency_key=f"customer-{organization.pk}",
        )
        Customer.sync_from_stripe_data(created, api_key=settings.STRIPE_SECRET_KEY)
        Customer.objects.filter(id=created["id"]).update(subscriber=organization)
        return created["id"]


def _metadata(payment) -> dict:
    return {"payment_id": str(payment.pk), "invoice_id": str(payment.invoice_id)}


@register
class StripeGateway(Gateway):
    name = "stripe"
    currencies = STRIPE_CURRENCIES

    def is_configured(self) -> bool:
        return bool(settings.STRIPE_SECRET_KEY)

    def _session(self, *, payment, success_url: str, cancel_url: str, description: str, save_card: bool):
        _client_timeout()
        amount = to_stripe_amount(payment.amount_cents, payment.currency)  # refused before the customer is made
        intent_data = {"metadata": _metadata(payment), "description": description}
        if save_card:
            intent_data["setup_future_usage"] = "off_session"
        session = _call(
            stripe.checkout.Session.create,
            mode="payment",
            customer=stripe_customer_id(payment.organization),
            line_items=[
                {
                    "price_data": {
                        "currency": payment.currency.lower(),
                        "unit_amount": amount,
                        "product_data": {"name": description},
                    },
                    "quantity": 1,
                }
            ],
            payment_intent_data=intent_data,
            metadata=_metadata(payment),
            client_reference_id=str(payment.invoice_id),
            # An emailed pay link has no page to return to but the invoice's own.
            success_url=success_url or f"{settings.SITE_URL}/account/invoices/{payment.invoice_id}",
            cancel_url=cancel_url or f"{settings.SITE_URL}/account/invoices/{payment.invoice_id}",
            idempotency_key=f"checkout-{payment.pk}",
        )
        return HostedSession(reference=session["id"], url=session["url"])

    def create_checkout(self, *, payment, success_url: str, cancel_url: str, description: str) -> HostedSession:
        return self._session(
            payment=payment, success_url=success_url, cancel_url=cancel_url, description=description, save_card=True
        )

    def pay_link(self, *, payment, description: str) -> HostedSession:
        """Back to the payment's own success and cancel URLs when it has them (a Pay button
        on the site), else to the invoice's page
        on the customer site (an emailed link)."""
        return self._session(
            payment=payment,
            success_url=payment.success_url,
            cancel_url=payment.cancel_url,
            description=description,
            save_card=True,
        )

    def charge(self, *, payment, payment_method: str) -> ChargeResult:
        """An off-session PaymentIntent for the saved card. A decline is known at once, and
        so is a success when Stripe answers `succeeded`: the result carries their event, for
        the caller to apply now (Stripe's webhook of the same outcome then changes nothing).
        Any other answer is pending: its outcome arrives with Stripe's webhook."""
        _client_timeout()
        amount = to_stripe_amount(payment.amount_cents, payment.currency)
        try:
            intent = _call(
                stripe.PaymentIntent.create,
                amount=amount,
                currency=payment.currency.lower(),
                customer=stripe_customer_id(payment.organization),
                payment_method=payment_method,
                off_session=True,
                confirm=True,
                metadata=_metadata(payment),
                idempotency_key=f"charge-{payment.pk}",
            )
        except stripe.CardError as exc:
            failed = (exc.error or {}).get("payment_intent") if isinstance(exc.error, dict) else None
            failed = failed or getattr(exc.error, "payment_intent", None) or {}
            reference = failed.get("id") or payment.reference
            reason = f"{exc.code or 'card_error'}: {exc.user_message or 'declined'}"
            return ChargeResult(
                reference=reference,
                status=ChargeStatus.FAILED,
                failure_reason=reason,
                event=GatewayEvent(
                    event_id=f"sync:{reference}:failed",
                    type=EventType.PAYMENT_FAILED,
                    payment_reference=reference,
                    payment_id=str(payment.pk),
                    failure_reason=reason,
                    raw={"source": "charge response", "payment_intent": reference},
                ),
            )
        if intent["status"] != "succeeded":
            return ChargeResult(reference=intent["id"], status=ChargeStatus.PENDING)
        return ChargeResult(
            reference=intent["id"],
            status=ChargeStatus.SUCCEEDED,
            payment_method=payment_method,
            event=GatewayEvent(
                event_id=f"sync:{intent['id']}:succeeded",
                type=EventType.PAYMENT_SUCCEEDED,
                payment_reference=intent["id"],
                payment_id=str(payment.pk),
                payment_method=payment_method,
                raw={"source": "charge response", "payment_intent": intent["id"]},
            ),
        )

    def portal_url(self, *, organization, return_url: str) -> str:
        _client_timeout()
        session = _call(
            stripe.billing_portal.Session.create,
            customer=stripe_customer_id(organization),
            return_url=return_url or settings.SITE_URL,
        )
        return session["url"]

    def refund(self, *, payment, refund) -> RefundResult:
        _client_timeout()
        amount = to_stripe_amount(refund.amount_cents, payment.currency)
        result = _call(
            stripe.Refund.create,
            payment_intent=payment.reference if payment.reference.startswith("pi_") else None,
            amount=amount,
            metadata={"refund_id": str(refund.pk), "payment_id": str(payment.pk)},
            idempotency_key=f"refund-{refund.pk}",
        )
        status = {
            "succeeded": RefundResultStatus.SUCCEEDED,
            "failed": RefundResultStatus.FAILED,
            "canceled": RefundResultStatus.FAILED,
        }.get(result["status"], RefundResultStatus.PENDING)
        return RefundResult(reference=result["id"], status=status, failure_reason=result.get("failure_reason") or "")

    def verify_event(self, *, body: bytes, headers) -> GatewayEvent:
        raise InvalidSignature("Stripe events enter through /webhooks/stripe (dj-stripe's WebhookEventTrigger).")

    def event_from_payload(self, payload: dict) -> GatewayEvent:
        from .stripe_events import normalize  # it reads amounts with this module's from_stripe_amount

        events = normalize(payload)
        if len(events) != 1:
            raise InvalidSignature("Not a single Stripe event this project handles.")
        return events[0]

    def validate_payment_method(self, payment_method: str) -> bool:
        return payment_method.startswith("pm_")

    def customer_organization_id(self, *, customer_reference: str) -> str | None:
        """From dj-stripe's record of the customer (made by `stripe_customer_id`)."""
        from djstripe.models import Customer

        if not customer_reference:
            return None
        subscriber_id = Customer.objects.filter(id=customer_reference).values_list("subscriber_id", flat=True).first()
        return str(subscriber_id) if subscriber_id is not None else None

    def payment_methods(self, *, organization, charged: str = "") -> list[StoredPaymentMethod]:
        """The cards attached to the organization's Stripe customer (none before it has one:
        listing never creates the customer)."""
        customer = existing_customer_id(organization)
        if customer is None:
            return []
        _client_timeout()
        listed = _call(stripe.PaymentMethod.list, customer=customer, type="card", limit=100)
        methods = []
        for method in listed["data"]:
            card = method.get("card") or {}
            methods.append(
                StoredPaymentMethod(
                    id=method["id"],
                    brand=str(card.get("display_brand") or card.get("brand") or "card"),
                    last4=str(card.get("last4") or ""),
                    exp_month=card.get("exp_month"),
                    exp_year=card.get("exp_year"),
                )
            )
        return methods

    def payment_method_setup(self, *, organization, success_url: str, cancel_url: str) -> HostedSession:
        """A Checkout Session in setup mode: the customer saves a card and nothing is
        charged; Stripe's payment_method.attached webhook follows."""
        _client_timeout()
        session = _call(
            stripe.checkout.Session.create,
            mode="setup",
            customer=stripe_customer_id(organization),
            payment_method_types=["card"],
            metadata={"organization_id": str(organization.pk)},
            success_url=success_url,
            cancel_url=cancel_url,
        )
        return HostedSession(reference=session["id"], url=session["url"])

    def payment_method_detach(self, *, organization, payment_method: str) -> None:
        """Detach a card of the organization's customer; a card of another customer is
        refused, never detached."""
        _client_timeout()
        customer = existing_customer_id(organization)
        method = _call(stripe.PaymentMethod.retrieve, payment_method)
        owner = method.get("customer")
        owner = owner.get("id") if hasattr(owner, "get") else owner
        if customer is None or owner != customer:
            raise GatewayError("That card is not one of this organization's.")
        _call(stripe.PaymentMethod.detach, payment_method)

    def set_default_payment_method(self, *, organization, payment_method: str) -> str:
        """Attach the card to the organization's customer and make it the default; returns
        the attached method's id (a test token like pm_card_visa becomes a new pm_...)."""
        _client_timeout()
        customer = stripe_customer_id(organization)
        attached = _call(stripe.PaymentMethod.attach, payment_method, customer=customer)
        _call(stripe.Customer.modify, customer, invoice_settings={"default_payment_method": attached["id"]})
        return attached["id"]
