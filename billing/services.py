"""Collecting money: checkouts, off-session charges, pay links, refunds, and applying the
gateways' events to invoices, subscriptions and credits."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from urllib.parse import urlencode, urlparse

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing_project.errors import Conflict, NotFound, ValidationFailed
from billing_project.redirects import UnsafeRedirect, redirect_url_validate
from credits.services import credits_purchase
from invoices.builder import Draft
from invoices.dunning import next_attempt_after
from invoices.models import Invoice, InvoiceReason, InvoiceStatus, LineKind
from invoices.rating import RatedLine
from invoices.services import invoice_create, invoice_for_first_period, invoice_mark_paid, invoice_void
from invoices.tasks import send_invoice_issued_email, send_payment_reminder_email
from organizations.models import Organization
from payments.disputes import dispute_gateway_status_record
from payments.gateways import get_gateway, saves_payment_methods
from payments.gateways.base import ChargeResult, EventType, Gateway, GatewayEvent, RefundResult, RefundResultStatus
from payments.models import Dispute, DisputeStatus, Payment, PaymentKind, PaymentStatus, Refund, RefundStatus
from payments.tasks import expire_payment_links, send_payment_failed_email, send_payment_link_email
from subscriptions.models import Status, Subscription
from subscriptions.selectors import live_subscription
from subscriptions.services import subscription_create, subscription_payment_method_save, subscription_transition

logger = logging.getLogger(__name__)


def redirect_url_check(url: str, field: str) -> str:
    """Success, cancel and return URLs may only send the browser to ALLOWED_REDIRECT_HOSTS
    (no open redirect), judged as a browser parses them (billing_project.redirects)."""

    try:
        return redirect_url_validate(url)
    except UnsafeRedirect as exc:
        raise ValidationFailed.for_field(field, str(exc)) from None


def with_query(url: str, **params) -> str:
    separator = "&" if urlparse(url).query else "?"
    return f"{url}{separator}{urlencode(params)}"


def gateway_for(
    name: str | None, currency: str, organization: Organization | None = None, *, current: str | None = None
) -> Gateway:
    """The gateway a payment goes through. One the client names must be enabled on this
    server and serve the organization's country. Without one: the subscription's `current`
    gateway, else, for an organization in INDONESIA_COUNTRIES, INDONESIA_DEFAULT_GATEWAY
    (when configured and taking the currency), else DEFAULT_GATEWAY. Whichever it is must
    take the currency. Each refusal is a 400 on `gateway`, raised before anything is
    written."""
    if name:
        gateway = get_gateway(name)
        if organization is not None and not gateway.serves_country(organization.country):
            where = (
                f"organizations in {organization.country}"
                if organization.country
                else "organizations without a country"
            )
            raise ValidationFailed.for_field(
                "gateway", f"The {gateway.name} gateway does not take payments from {where}."
            )
    elif current:
        gateway = get_gateway(current)
    else:
        gateway = _default_gateway(currency, organization)
    if not gateway.supports_currency(currency):
        raise ValidationFailed.for_field(
            "gateway", f"The {gateway.name} gateway does not take payments in {currency.upper()}."
        )
    return gateway


def _default_gateway(currency: str, organization: Organization | None) -> Gateway:
    if organization is not None and organization.country in settings.INDONESIA_COUNTRIES:
        try:
            local = get_gateway(settings.INDONESIA_DEFAULT_GATEWAY)
        except ValidationFailed:
            local = None  # not configured on this server
        if local is not None and local.supports_currency(currency):
            return local
    return get_gateway(None)


def _new_payment(invoice: Invoice, *, gateway: Gateway, kind: str, **fields) -> Payment:
    return Payment.objects.create(
        organization_id=invoice.organization_id,
        invoice=invoice,
        gateway=gateway.name,
        kind=kind,
        reference=f"pending_{uuid.uuid4().hex}",
        amount_cents=invoice.amount_due_cents,
        currency=invoice.currency,
        **fields,
    )


def hosted_payment_create(
    *,
    invoice: Invoice,
    gateway: Gateway,
    kind: str,
    success_url: str = "",
    cancel_url: str = "",
    description: str,
    attempt: int = 1,
) -> Payment:
    """A payment the customer completes on the gateway's page (checkout or pay link)."""
    payment = _new_payment(
        invoice, gateway=gateway, kind=kind, success_url=success_url, cancel_url=cancel_url, attempt=attempt
    )
    if kind == PaymentKind.CHECKOUT:
        # Back from the gateway's page with the session id `checkout/success` reads.
        session = gateway.create_checkout(
            payment=payment,
            success_url=with_query(success_url, session_id=str(payment.pk)) if success_url else "",
            cancel_url=cancel_url,
            description=description,
        )
    else:
        session = gateway.pay_link(payment=payment, description=description)
    payment.reference = session.reference
    payment.checkout_url = session.url
    payment.save(update_fields=["reference", "checkout_url", "updated_at"])
    return payment


def invoice_collect(*, invoice: Invoice, now: datetime | None = None, attempt: int | None = None) -> Payment | None:
    """Charge an open invoice to its subscription's saved payment method (renewals and
    dunning). With `attempt`, only that collection attempt is made (a repeated task for an
    attempt already made does nothing); each attempt is recorded once; the next attempt
    is scheduled before charging. An outcome the gateway knows at once is applied here,
    under the invoice's lock; a later one arrives as a webhook. None when nothing was
    charged (no saved method: the customer pays by link)."""

    now = now or timezone.now()
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update(of=("self",)).select_related("subscription").get(pk=invoice.pk)
        subscription = invoice.subscription
        if invoice.status != InvoiceStatus.OPEN or invoice.amount_due_cents <= 0:
            return None
        if invoice.attempt_count and (invoice.next_payment_attempt is None or invoice.next_payment_attempt > now):
            return None  # this attempt was made already (a retried task, a second worker) or none is left
        method = subscription.payment_method if subscription else ""
        if attempt is not None and attempt != invoice.attempt_count + 1:
            return None
        attempt = invoice.attempt_count + 1
        invoice.attempt_count = attempt
        invoice.next_payment_attempt = next_attempt_after(invoice=invoice, attempt=attempt, now=now)
        invoice.save(update_fields=["attempt_count", "next_payment_attempt", "updated_at"])
        if not method and subscription is not None and not saves_payment_methods(subscription.gateway or ""):
            return _collect_by_link(invoice, gateway=get_gateway(subscription.gateway), attempt=attempt)
        if not method:
            if attempt > 1:  # no card to charge: remind the customer to pay by link
                send_payment_reminder_email.delay_on_commit(str(invoice.pk))
            return None
        gateway = get_gateway(subscription.gateway or None)
        try:
            with transaction.atomic():
                payment = _new_payment(
                    invoice, gateway=gateway, kind=PaymentKind.OFF_SESSION, attempt=attempt, payment_method=method
                )
        except IntegrityError:
            return None
        result = gateway.charge(payment=payment, payment_method=method)
        _charge_result_apply(payment, gateway=gateway, result=result)
        payment.refresh_from_db()
        return payment


def _charge_result_apply(payment: Payment, *, gateway: Gateway, result: ChargeResult) -> None:
    """Record a gateway's answer to a charge: its reference, and the outcome it knew at
    once, applied as its webhook would be (that webhook, later, then changes nothing)."""
    payment.reference = result.reference
    payment.save(update_fields=["reference", "updated_at"])
    if result.event is not None:
        gateway_event_apply(gateway=gateway.name, event=result.event)


def invoice_collect_or_retry_later(
    *, invoice: Invoice, attempt: int | None = None, now: datetime | None = None
) -> Payment | None:
    """invoice_collect, but a failure (the gateway down, a pay link it could not make) is
    logged instead of raised: its writes are rolled back, the attempt is not used up, and
    the invoice is due again COLLECTION_RETRY_MINUTES later for the billing cycle's retry
    step. Returns None then."""
    from datetime import timedelta

    try:
        return invoice_collect(invoice=invoice, attempt=attempt, now=now)
    except Exception:
        logger.exception("Collecting invoice %s failed; it is retried later", invoice.pk)
        made = invoice.attempt_count if attempt is None else attempt - 1
        retry_at = (now or timezone.now()) + timedelta(minutes=settings.COLLECTION_RETRY_MINUTES)
        Invoice.objects.filter(pk=invoice.pk, status=InvoiceStatus.OPEN, attempt_count=made).update(
            next_payment_attempt=retry_at
        )
        return None


def _collect_by_link(invoice: Invoice, *, gateway: Gateway, attempt: int) -> Payment:
    """A gateway without saved payment methods (Xendit, Midtrans): each collection attempt
    is a new pay link, emailed to the customer. Runs in invoice_collect's transaction."""

    payment = hosted_payment_create(
        invoice=invoice,
        gateway=gateway,
        kind=PaymentKind.PAY_LINK,
        description=f"Invoice {invoice.number}",
        attempt=attempt,
    )
    _links_supersede(invoice, keep=payment)
    send_payment_link_email.delay_on_commit(str(payment.pk))
    return payment


def _links_supersede(invoice: Invoice, keep: Payment | None = None) -> None:
    """The invoice's other open hosted pages are no longer to be paid: canceled here and
    closed at their gateways after commit (one paid anyway is refunded, see
    _payment_succeeded)."""

    stale = Payment.objects.filter(
        invoice=invoice, status=PaymentStatus.PENDING, kind__in=[PaymentKind.CHECKOUT, PaymentKind.PAY_LINK]
    )
    if keep is not None:
        stale = stale.exclude(pk=keep.pk)
    ids = [str(pk) for pk in stale.values_list("pk", flat=True)]
    if ids:
        Payment.objects.filter(pk__in=ids).update(status=PaymentStatus.CANCELED, updated_at=timezone.now())
        expire_payment_links.delay_on_commit(ids)


@transaction.atomic
def payment_refund(
    *,
    payment: Payment,
    amount_cents: int | None = None,
    reason: str = "",
    actor=None,
    credit_note=None,
    is_overpayment: bool = False,
) -> Refund:
    """Return money of a succeeded payment through its gateway (at most what is left).
    A refund of money that paid an invoice goes with a credit note: use
    billing.credit_notes.credit_note_refund, which calls this with it."""
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    refundable = payment.refundable_cents
    amount = refundable if amount_cents is None else amount_cents
    if refundable <= 0:
        raise Conflict("This payment has nothing left to refund.")
    if amount <= 0 or amount > refundable:
        raise ValidationFailed.for_field("amount_cents", f"Must be between 1 and {refundable}.")
    # The id (and so every gateway's idempotency key, made from it) is the same when a
    # refund is tried again after a failure rolled it back (an answer lost to a timeout, a
    # redelivered event): the gateway replays the first refund instead of making a second.
    sequence = Refund.objects.filter(payment=payment).count() + 1
    refund = Refund.objects.create(
        id=uuid.uuid5(uuid.NAMESPACE_URL, f"refund:{payment.pk}:{sequence}"),
        payment=payment,
        amount_cents=amount,
        reason=reason,
        created_by=actor,
        credit_note=credit_note,
        is_overpayment=is_overpayment,
    )
    result = get_gateway(payment.gateway).refund(payment=payment, refund=refund)
    _refund_result_apply(refund, gateway=payment.gateway, result=result)
    refund.refresh_from_db()
    return refund


def _refund_result_apply(refund: Refund, *, gateway: str, result: RefundResult) -> None:
    """Record a gateway's answer to a refund: its reference, then its outcome when known at
    once, as an event (applied as its webhook would be) or as the answer's status (a refund
    the gateway cannot make is recorded as manual: staff return the money outside it, and
    it counts against what is refundable). A pending one ends with a webhook."""
    if result.reference:
        refund.reference = result.reference
        refund.save(update_fields=["reference", "updated_at"])
    if result.event is not None:
        gateway_event_apply(gateway=gateway, event=result.event)
        refund.refresh_from_db()
    settled = (RefundResultStatus.FAILED, RefundResultStatus.SUCCEEDED, RefundResultStatus.MANUAL)
    if refund.status == RefundStatus.PENDING and result.status in settled:
        _refund_settled(refund, status=result.status, reason=result.failure_reason)


# --- events --------------------------------------------------------------------------


def gateway_event_apply(*, gateway: str, event: GatewayEvent) -> bool:
    """Apply one verified gateway event; returns False when there was nothing to do
    (unknown payment, an outcome already recorded). Runs in the caller's transaction."""
    if event.type in (EventType.PAYMENT_SUCCEEDED, EventType.PAYMENT_FAILED, EventType.PAYMENT_PENDING):
        payments = Payment.objects.select_for_update().filter(gateway=gateway)
        payment = None
        if event.payment_id:
            try:
                payment = payments.filter(pk=uuid.UUID(event.payment_id)).first()
            except ValueError:
                payment = None
        if payment is None and event.payment_reference:
            payment = payments.filter(reference=event.payment_reference).first()
        if payment is None:
            logger.warning("%s event %s for unknown payment %s", gateway, event.event_id, event.payment_reference)
            return False
        if event.type == EventType.PAYMENT_SUCCEEDED:
            return _payment_succeeded(payment, event)
        if event.type == EventType.PAYMENT_FAILED:
            return _payment_failed(payment, event)
        return False
    if event.type in (EventType.DISPUTE_OPENED, EventType.DISPUTE_CLOSED):
        return _dispute_update(gateway, event)
    if event.type in (EventType.PAYMENT_METHOD_ATTACHED, EventType.PAYMENT_METHOD_DETACHED):
        return _payment_method_event(gateway, event)
    if event.type in (EventType.REFUND_SUCCEEDED, EventType.REFUND_FAILED):
        refund = Refund.objects.select_for_update().filter(reference=event.refund_reference).first()
        if refund is None:
            logger.warning("%s refund event %s for unknown refund", gateway, event.event_id)
            return False
        status = RefundStatus.SUCCEEDED if event.type == EventType.REFUND_SUCCEEDED else RefundStatus.FAILED
        return _refund_settled(refund, status=status, reason=event.failure_reason)
    if event.type == EventType.REFUNDS_REPORTED:
        return _refunds_reported(gateway, event)
    return False


def _payment_succeeded(payment: Payment, event: GatewayEvent) -> bool:
    if payment.status in (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED, PaymentStatus.PARTIALLY_REFUNDED):
        # A second event of the same success (Stripe: checkout.session.completed and
        # payment_intent.succeeded, in either order) may carry the card the first lacked.
        if event.payment_method and not payment.payment_method:
            payment.payment_method = event.payment_method
            payment.save(update_fields=["payment_method", "updated_at"])
            _save_checkout_card(payment)
            return True
        return False
    now = timezone.now()
    payment.status = PaymentStatus.SUCCEEDED
    payment.succeeded_at = now
    payment.failure_reason = ""
    if event.payment_method:
        payment.payment_method = event.payment_method
    payment.save(update_fields=["status", "succeeded_at", "failure_reason", "payment_method", "updated_at"])
    invoice = Invoice.objects.select_for_update(of=("self",)).select_related("subscription").get(pk=payment.invoice_id)
    if invoice.status != InvoiceStatus.OPEN:
        # The money arrived for an invoice that no longer needs it (paid another way, or
        # voided when its checkout was replaced): give it back.
        logger.warning("Payment %s succeeded for a %s invoice %s: refunding", payment.pk, invoice.status, invoice.pk)
        if payment.refundable_cents > 0:  # not already refunded at the gateway
            payment_refund(payment=payment, reason=f"the invoice was already {invoice.status}", is_overpayment=True)
        return True
    due = invoice.amount_due_cents
    invoice = invoice_mark_paid(invoice=invoice, amount_cents=min(payment.amount_cents, due), now=now)
    # An issued email that waited for this charge (invoices.emails) goes out now, saying paid;
    # sent once per invoice however many payments or webhooks arrive.
    send_invoice_issued_email.delay_on_commit(str(invoice.pk))
    payment.is_applied = True
    payment.save(update_fields=["is_applied", "updated_at"])
    _links_supersede(invoice, keep=payment)
    if payment.amount_cents > due:
        # Asked for before a credit note lowered what the invoice owes: give the rest back.
        logger.warning(
            "Payment %s paid %s more than invoice %s owed: refunding it",
            payment.pk,
            payment.amount_cents - due,
            invoice.pk,
        )
        payment_refund(
            payment=payment,
            amount_cents=payment.amount_cents - due,
            reason="paid more than was owed",
            is_overpayment=True,
        )
    if invoice.reason == InvoiceReason.CREDIT_PURCHASE:
        credits_purchase(
            organization=invoice.organization,
            amount_cents=invoice.subtotal_cents,
            reference=invoice.number or str(invoice.pk),
            idempotency_key=f"payment:{payment.pk}",
            invoice=invoice,
        )
    subscription = invoice.subscription
    if subscription is not None:
        _save_checkout_card(payment)
        subscription.refresh_from_db()
        if subscription.status == Status.INCOMPLETE:
            subscription_transition(subscription=subscription, to_status=Status.ACTIVE, reason="first payment")
        elif subscription.status == Status.PAST_DUE and not _has_unpaid(subscription):
            subscription_transition(subscription=subscription, to_status=Status.ACTIVE, reason="paid")
    return True


def _save_checkout_card(payment: Payment) -> None:
    """A card saved at a checkout becomes the one renewals charge."""

    subscription = payment.invoice.subscription
    if (
        subscription is not None
        and payment.payment_method
        and payment.kind != PaymentKind.OFF_SESSION
        and saves_payment_methods(payment.gateway)
    ):
        subscription_payment_method_save(
            subscription=subscription, gateway=payment.gateway, payment_method=payment.payment_method
        )


def _dispute_update(gateway: str, event: GatewayEvent) -> bool:
    """A chargeback opened or closed at the gateway, recorded against its invoice."""
    payment = Payment.objects.filter(gateway=gateway, reference=event.payment_reference).first()
    status = DisputeStatus.OPEN
    if event.type == EventType.DISPUTE_CLOSED:
        outcome = str(((event.raw.get("data") or {}).get("object") or {}).get("status", ""))
        status = {"won": DisputeStatus.WON, "lost": DisputeStatus.LOST}.get(outcome, DisputeStatus.CLOSED)
    dispute = Dispute.objects.select_for_update().filter(gateway=gateway, reference=event.dispute_reference).first()
    if dispute is None:
        if payment is None:
            logger.warning("%s dispute %s for an unknown payment", gateway, event.dispute_reference)
            return False
        dispute = Dispute(
            organization_id=payment.organization_id,
            payment=payment,
            invoice_id=payment.invoice_id,
            gateway=gateway,
            reference=event.dispute_reference,
            amount_cents=event.amount_cents or 0,
            currency=event.currency or payment.currency,
            reason=event.dispute_reason[:100],
        )
    elif dispute.status == status:
        return False
    from_status = "" if dispute._state.adding else dispute.status
    dispute.status = status
    dispute.closed_at = timezone.now() if status != DisputeStatus.OPEN else None
    dispute.save()
    dispute_gateway_status_record(dispute=dispute, from_status=from_status)
    return True


def _payment_method_event(gateway: str, event: GatewayEvent) -> bool:
    """A card attached to or detached from the organization's gateway customer."""
    organization_id = get_gateway(gateway).customer_organization_id(customer_reference=event.customer_reference)
    if organization_id is None:
        return False
    subscription = live_subscription(organization_id=organization_id)
    if subscription is None or subscription.gateway not in ("", gateway):
        return False
    if event.type == EventType.PAYMENT_METHOD_ATTACHED and not subscription.payment_method:
        subscription_payment_method_save(
            subscription=subscription, gateway=gateway, payment_method=event.payment_method
        )
        return True
    if event.type == EventType.PAYMENT_METHOD_DETACHED and subscription.payment_method == event.payment_method:
        subscription_payment_method_save(subscription=subscription, gateway=gateway, payment_method="")
        return True
    return False


def _has_unpaid(subscription) -> bool:
    return Invoice.objects.filter(subscription=subscription, status=InvoiceStatus.OPEN).exists()


def _payment_failed(payment: Payment, event: GatewayEvent) -> bool:
    if payment.status != PaymentStatus.PENDING:
        return False
    payment.status = PaymentStatus.FAILED
    payment.failure_reason = (event.failure_reason or "declined")[:500]
    payment.save(update_fields=["status", "failure_reason", "updated_at"])
    if payment.kind == PaymentKind.OFF_SESSION:
        send_payment_failed_email.delay_on_commit(str(payment.pk))
    return True


def _refund_settled(refund: Refund, *, status: str, reason: str = "") -> bool:
    """A pending refund ends: failed, succeeded, or manual (the last two return money)."""
    if refund.status != RefundStatus.PENDING:
        return False
    payment = Payment.objects.select_for_update().get(pk=refund.payment_id)
    refund.status = status
    refund.failure_reason = reason[:500]
    refund.save(update_fields=["status", "failure_reason", "updated_at"])
    from .credit_notes import credit_note_for_refund, refund_failed_to_balance

    if status == RefundStatus.FAILED:
        refund_failed_to_balance(refund=refund)
        return True
    payment.amount_refunded_cents += refund.amount_cents
    payment.status = (
        PaymentStatus.REFUNDED
        if payment.amount_refunded_cents >= payment.amount_cents
        else PaymentStatus.PARTIALLY_REFUNDED
    )
    payment.save(update_fields=["amount_refunded_cents", "status", "updated_at"])
    if refund.credit_note_id is None and not refund.is_overpayment:  # made on the gateway's dashboard
        credit_note_for_refund(refund=refund)
    return True


def _refunds_reported(gateway: str, event: GatewayEvent) -> bool:
    """The gateway lists the refunds of a payment: those made here are settled, those made
    on its dashboard are recorded, and a cumulative total above what is known is recorded
    as one more refund."""
    payment = Payment.objects.select_for_update().filter(gateway=gateway, reference=event.payment_reference).first()
    if payment is None and event.refund_reference:
        known = Refund.objects.filter(payment__gateway=gateway, reference=event.refund_reference).first()
        payment = Payment.objects.select_for_update().get(pk=known.payment_id) if known else None
    if payment is None:
        logger.warning("%s refund event %s for an unknown payment %s", gateway, event.event_id, event.payment_reference)
        return False
    changed = False
    if payment.status in (PaymentStatus.PENDING, PaymentStatus.FAILED, PaymentStatus.CANCELED):
        # A refund means the money was paid: a success notification lost or still on its
        # way is applied first, so status only moves forward (paid, then refunded).
        if Invoice.objects.filter(pk=payment.invoice_id, status=InvoiceStatus.OPEN).exists():
            paid = GatewayEvent(
                event_id=event.event_id, type=EventType.PAYMENT_SUCCEEDED, payment_reference=payment.reference
            )
            changed = _payment_succeeded(payment, paid)
        else:
            payment.status, payment.succeeded_at = PaymentStatus.SUCCEEDED, timezone.now()
            payment.save(update_fields=["status", "succeeded_at", "updated_at"])
            changed = True
    for reported in event.refunds:
        refund = _reported_refund(payment, reported, gateway)
        if refund is not None and refund.status == RefundStatus.PENDING:
            changed = _refund_settled(refund, status=RefundStatus.SUCCEEDED) or changed
    payment.refresh_from_db()
    unrecorded = min(event.refunded_total or 0, payment.amount_cents) - payment.amount_refunded_cents
    if unrecorded > 0:
        refund = Refund.objects.create(
            payment=payment,
            amount_cents=unrecorded,
            reference=f"{event.payment_reference}:refunded:{event.refunded_total}",
            reason=f"refunded at {gateway}",
        )
        changed = _refund_settled(refund, status=RefundStatus.SUCCEEDED) or changed
    return changed


def _reported_refund(payment: Payment, reported, gateway: str) -> Refund | None:
    """This project's record of a refund the gateway reports; created when it was made on
    the gateway's dashboard (None when nothing is left to refund)."""
    refunds = Refund.objects.select_for_update().filter(payment=payment)
    refund = refunds.filter(reference=reported.reference).first() if reported.reference else None
    if refund is None and reported.refund_id:
        try:
            refund = refunds.filter(pk=uuid.UUID(reported.refund_id)).first()
        except ValueError:
            refund = None
    if refund is not None:
        if not refund.reference:
            refund.reference = reported.reference
            refund.save(update_fields=["reference", "updated_at"])
        return refund
    left = payment.amount_cents - payment.amount_refunded_cents
    if left <= 0 or reported.amount_cents <= 0:
        return None
    return Refund.objects.create(
        payment=payment,
        amount_cents=min(reported.amount_cents, left),
        reference=reported.reference,
        reason=(reported.reason or f"refunded at {gateway}")[:500],
    )


def payment_for_checkout(*, organization: Organization, session_id) -> Payment:
    payment = Payment.objects.filter(organization=organization, pk=session_id).select_related("invoice").first()
    if payment is None:
        raise NotFound("Checkout session not found.")
    return payment


# --- what customers start -------------------------------------------------------------


@dataclass(frozen=True)
class CheckoutResult:
    session_id: str
    checkout_url: str
    subscription_id: str
    status: str


@transaction.atomic
def checkout_create(
    *,
    organization: Organization,
    plan,
    success_url: str,
    cancel_url: str,
    gateway_name: str | None = None,
    actor=None,
    now: datetime | None = None,
) -> CheckoutResult:
    """Start a subscription to a paid plan: `incomplete` with its first invoice (the base
    fee) open, paid on the gateway's hosted page; a plan with trial days starts
    `trialing` at once without payment. An abandoned `incomplete` checkout is replaced;
    any other live subscription is a 409."""

    now = now or timezone.now()
    if not plan.is_active or plan.price_cents <= 0:
        raise ValidationFailed.for_field("plan_id", "Choose an active paid plan.")
    redirect_url_check(success_url, "success_url")
    redirect_url_check(cancel_url, "cancel_url")
    gateway = gateway_for(gateway_name, plan.currency, organization)
    Organization.objects.select_for_update().filter(pk=organization.pk).first()
    live = live_subscription(organization_id=organization.pk)
    if live is not None:
        if live.status != Status.INCOMPLETE:
            raise Conflict("This organization already has a subscription. Change its plan instead.")
        for stale in Invoice.objects.filter(subscription=live, status=InvoiceStatus.OPEN):
            invoice_void(invoice=stale, now=now)
        Payment.objects.filter(invoice__subscription=live, status=PaymentStatus.PENDING).update(
            status=PaymentStatus.CANCELED
        )
        subscription_transition(subscription=live, to_status=Status.CANCELED, reason="replaced by a new checkout")
    subscription = subscription_create(
        organization=organization, plan=plan, start=now, gateway=gateway.name, actor=actor
    )
    if subscription.status == Status.TRIALING:
        return CheckoutResult(
            session_id=str(subscription.pk),
            checkout_url=with_query(success_url, session_id=str(subscription.pk)),
            subscription_id=str(subscription.pk),
            status=Status.TRIALING,
        )
    invoice = invoice_for_first_period(subscription=subscription, now=now)
    if invoice.status == InvoiceStatus.PAID:  # prepaid credit covered it
        subscription = subscription_transition(subscription=subscription, to_status=Status.ACTIVE, reason="paid")
        return CheckoutResult(
            session_id=str(subscription.pk),
            checkout_url=with_query(success_url, session_id=str(subscription.pk)),
            subscription_id=str(subscription.pk),
            status=Status.ACTIVE,
        )
    payment = hosted_payment_create(
        invoice=invoice,
        gateway=gateway,
        kind=PaymentKind.CHECKOUT,
        success_url=success_url,
        cancel_url=cancel_url,
        description=f"{plan.name} plan",
    )
    return CheckoutResult(
        session_id=str(payment.pk),
        checkout_url=payment.checkout_url,
        subscription_id=str(subscription.pk),
        status=Status.INCOMPLETE,
    )


def checkout_status(*, organization: Organization, session_id) -> dict:
    """`checkout/success`: where a checkout stands (`paid`, `pending`, `failed`, or the
    subscription's status for a trial) and its subscription."""

    try:
        uuid.UUID(str(session_id))
    except ValueError:
        raise NotFound("Checkout session not found.") from None
    payment = Payment.objects.filter(organization=organization, pk=session_id).select_related("invoice").first()
    if payment is not None:
        status = {"succeeded": "paid", "failed": "failed", "canceled": "canceled"}.get(payment.status, payment.status)
        subscription = payment.invoice.subscription
    else:
        subscription = Subscription.objects.filter(organization=organization, pk=session_id).first()
        if subscription is None:
            raise NotFound("Checkout session not found.")
        status = subscription.status
    return {"status": status, "subscription": subscription}


@transaction.atomic
def invoice_pay_link(
    *,
    organization: Organization,
    invoice_id,
    gateway_name: str | None = None,
    success_url: str = "",
    cancel_url: str = "",
) -> dict:
    """A link where the customer pays one open invoice: `{payment_intent_url}`; an
    invoice that owes nothing answers `{status: "paid"}`; paid or void ones are a 409.
    `success_url` and `cancel_url` (the site's Pay button) are where the gateway's page
    sends the browser back; without them it stays on the gateway's page."""
    for url, field in ((success_url, "success_url"), (cancel_url, "cancel_url")):
        if url:
            redirect_url_check(url, field)
    invoice = (
        Invoice.objects.select_for_update()
        .filter(organization=organization, pk=invoice_id)
        .exclude(status=InvoiceStatus.DRAFT)
        .first()
    )
    if invoice is None:
        raise NotFound("Invoice not found.")
    if invoice.status == InvoiceStatus.PAID:
        raise Conflict("This invoice is already paid.")
    if invoice.status != InvoiceStatus.OPEN:
        raise Conflict(f"A {invoice.status} invoice cannot be paid.")
    if invoice.amount_due_cents <= 0:
        invoice_mark_paid(invoice=invoice)
        return {"status": "paid"}
    subscription = invoice.subscription
    gateway = gateway_for(
        gateway_name, invoice.currency, organization, current=subscription.gateway if subscription else None
    )
    payment = hosted_payment_create(
        invoice=invoice,
        gateway=gateway,
        kind=PaymentKind.PAY_LINK,
        success_url=success_url,
        cancel_url=cancel_url,
        description=f"Invoice {invoice.number}",
    )
    return {"payment_intent_url": payment.checkout_url, "session_id": str(payment.pk)}


@transaction.atomic
def credits_purchase_checkout(
    *,
    organization: Organization,
    amount_cents: int,
    success_url: str,
    cancel_url: str,
    gateway_name: str | None = None,
    now: datetime | None = None,
) -> CheckoutResult:
    """A top-up of prepaid credit: an invoice for the amount, paid at checkout; the credit
    is added when the payment succeeds."""

    if amount_cents <= 0:
        raise ValidationFailed.for_field("amount_cents", "Must be a positive whole number.")
    redirect_url_check(success_url, "success_url")
    redirect_url_check(cancel_url, "cancel_url")
    gateway = gateway_for(gateway_name, organization.currency, organization)
    draft = Draft(
        organization_id=organization.pk,
        subscription=None,
        reason=InvoiceReason.CREDIT_PURCHASE,
        currency=organization.currency,
        period_start=None,
        period_end=None,
        lines=[
            RatedLine(
                kind=LineKind.ADJUSTMENT,
                description="Prepaid credit",
                quantity=Decimal(1),
                unit_price=Decimal(amount_cents),
                amount_cents=amount_cents,
            )
        ],
    )
    invoice = invoice_create(draft=draft, now=now)
    payment = hosted_payment_create(
        invoice=invoice,
        gateway=gateway,
        kind=PaymentKind.CHECKOUT,
        success_url=success_url,
        cancel_url=cancel_url,
        description="Prepaid credit",
    )
    return CheckoutResult(
        session_id=str(payment.pk), checkout_url=payment.checkout_url, subscription_id="", status="pending"
    )


def portal_url_for(*, organization: Organization, return_url: str, gateway_name: str | None = None) -> str:
    redirect_url_check(return_url, "return_url")
    subscription = live_subscription(organization_id=organization.pk)
    gateway = get_gateway(gateway_name or (subscription.gateway if subscription and subscription.gateway else None))
    return gateway.portal_url(organization=organization, return_url=return_url)


def organization_gateway(*, organization: Organization) -> Gateway:
    """The gateway the organization pays through: its subscription's, else the one its
    checkout would use."""
    subscription = live_subscription(organization_id=organization.pk)
    if subscription is not None and subscription.gateway:
        return get_gateway(subscription.gateway)
    return _default_gateway(organization.currency, organization)


@dataclass(frozen=True)
class PaymentMethods:
    gateway: str
    keeps_methods: bool  # False: invoices are paid by link (Xendit, Midtrans)
    methods: list
    charged: str  # the method renewals charge ("" when none)
    subscription: Subscription | None


def payment_methods_of(*, organization: Organization) -> PaymentMethods:
    """The payment methods the organization's gateway keeps, and the one renewals charge."""
    gateway = organization_gateway(organization=organization)
    subscription = live_subscription(organization_id=organization.pk)
    charged = ""
    if subscription is not None and subscription.gateway in ("", gateway.name):
        charged = subscription.payment_method
    methods = (
        gateway.payment_methods(organization=organization, charged=charged) if gateway.saves_payment_methods else []
    )
    return PaymentMethods(
        gateway=gateway.name,
        keeps_methods=gateway.saves_payment_methods,
        methods=methods,
        charged=charged,
        subscription=subscription,
    )


def payment_method_setup_url(*, organization: Organization, success_url: str, cancel_url: str) -> str:
    """The gateway's hosted page where the customer adds a payment method."""
    redirect_url_check(success_url, "success_url")
    redirect_url_check(cancel_url, "cancel_url")
    gateway = organization_gateway(organization=organization)
    return gateway.payment_method_setup(organization=organization, success_url=success_url, cancel_url=cancel_url).url


def payment_method_remove(*, organization: Organization, payment_method_id: str) -> None:
    """Detach one of the organization's payment methods at its gateway. When renewals
    charged it, they charge nothing until another is set: open invoices wait for the
    customer to pay them (reminded by email)."""
    current = payment_methods_of(organization=organization)
    if payment_method_id not in {method.id for method in current.methods}:
        raise NotFound("Payment method not found.")
    get_gateway(current.gateway).payment_method_detach(organization=organization, payment_method=payment_method_id)
    if current.subscription is not None and current.charged == payment_method_id:
        subscription_payment_method_save(subscription=current.subscription, gateway=current.gateway, payment_method="")


def payment_method_update(*, organization: Organization, payment_method_id: str):
    """Set the payment method renewals charge (validated by the subscription's gateway)."""

    subscription = live_subscription(organization_id=organization.pk)
    if subscription is None:
        raise NotFound("This organization has no subscription.")
    gateway = get_gateway(subscription.gateway or None)
    if not gateway.validate_payment_method(payment_method_id):
        raise ValidationFailed.for_field("payment_method_id", f"Not a valid {gateway.name} payment method.")
    saved = gateway.set_default_payment_method(organization=organization, payment_method=payment_method_id)
    return subscription_payment_method_save(subscription=subscription, gateway=gateway.name, payment_method=saved)
