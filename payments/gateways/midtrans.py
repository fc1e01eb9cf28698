"""Midtrans: Snap payment pages in IDR, refunds, signed HTTP notifications.

An invoice of ours is paid through a Snap transaction whose `order_id` is our invoice id
plus a short suffix (Midtrans refuses an order id twice, and an invoice may need several
attempts); the order id is the Payment's reference and Snap's `redirect_url` the checkout
URL. Renewals and dunning send a new Snap link. Notifications are trusted only when
`signature_key` = SHA-512(order_id + status_code + gross_amount + server key), checked
before anything else is read. The signature binds nothing else (not transaction_status,
fraud_status or the refunds), so every state change a notification asks for (paid, failed,
refunded) is confirmed with the status API first, and applied as the status API reports
it. A payment counts only with status_code 200, fraud_status accept and
transaction_status settlement or capture.

Plain `requests` against MIDTRANS_SNAP_BASE / MIDTRANS_API_BASE rather than midtransclient,
whose hosts are fixed by `is_production`: one HTTP boundary that tests point at a fake.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from decimal import Decimal, InvalidOperation

from django.conf import settings

from . import register
from .base import (
    AmountMismatch,
    EventType,
    GatewayError,
    GatewayEvent,
    HostedSession,
    InvalidSignature,
    PayLinkGateway,
    RefundResult,
    RefundResultStatus,
    ReportedRefund,
)
from .http import call

logger = logging.getLogger(__name__)

# Payment types Midtrans refunds through its API; bank transfers, stores and the like are
# returned by hand (Midtrans answers 412 for them).
REFUNDABLE_TYPES = frozenset({"credit_card", "gopay", "shopeepay", "qris", "kredivo", "akulaku"})
FAILED_STATUSES = frozenset({"deny", "cancel", "expire", "failure"})
REFUND_STATUSES = frozenset({"refund", "partial_refund"})
# What a notification may change. Its signature_key binds order_id, status_code and
# gross_amount only, none of what decides these (transaction_status, fraud_status, the
# refunds): each is confirmed with the status API before it is applied.
STATE_CHANGES = frozenset({EventType.PAYMENT_SUCCEEDED, EventType.PAYMENT_FAILED, EventType.REFUNDS_REPORTED})


def signature_of(order_id: str, status_code: str, gross_amount: str, server_key: str) -> str:
    return hashlib.sha512(f"{order_id}{status_code}{gross_amount}{server_key}".encode()).hexdigest()


def whole_rupiah(value) -> int:
    """Midtrans writes amounts as strings with two decimals ("150000.00"); IDR has none."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise InvalidSignature("The notification amount is not a number.") from None
    if amount != amount.to_integral_value():
        raise InvalidSignature("The notification amount is not whole rupiah.")
    return int(amount)


def order_id_for(payment) -> str:
    return f"{payment.invoice_id}-{payment.pk.hex[:8]}"


def _core(method: str, path: str, payload: dict | None = None):
    return call(
        "Midtrans",
        method,
        settings.MIDTRANS_API_BASE.rstrip("/") + path,
        secret_key=settings.MIDTRANS_SERVER_KEY,
        payload=payload,
    )


def _core_code(answer) -> str:
    """Midtrans' Core API puts the outcome in the body's status_code, even under HTTP 200."""
    return str(answer.body.get("status_code") or answer.status)


def is_paid(payload: dict) -> bool:
    """status_code 200, settlement or capture, fraud_status accept (a card capture must say
    so; a convenience-store settlement carries no fraud_status at all)."""
    status, fraud = payload.get("transaction_status"), payload.get("fraud_status")
    if str(payload.get("status_code")) != "200" or status not in ("settlement", "capture"):
        return False
    return fraud == "accept" or (status == "settlement" and fraud is None)


@register
class MidtransGateway(PayLinkGateway):
    name = "midtrans"
    label = "Midtrans"
    currencies = frozenset({"IDR"})

    def is_configured(self) -> bool:
        return bool(settings.MIDTRANS_SERVER_KEY)

    def serves_country(self, country: str) -> bool:
        return country in settings.INDONESIA_COUNTRIES

    def _snap(self, *, payment, description: str, success_url: str = "") -> HostedSession:
        organization = payment.organization
        order_id = order_id_for(payment)
        payload = {
            "transaction_details": {"order_id": order_id, "gross_amount": payment.amount_cents},
            "item_details": [
                {
                    "id": str(payment.invoice_id)[:50],
                    "price": payment.amount_cents,
                    "quantity": 1,
                    "name": description[:50],
                }
            ],
            "customer_details": {"first_name": organization.name[:255]},
            "custom_field1": str(payment.pk),
            # The page and the payment chosen on it stay open PAY_LINK_HOURS (Snap: 7 days at most).
            "page_expiry": {"duration": min(settings.PAY_LINK_HOURS, 168), "unit": "hours"},
            "expiry": {"duration": settings.PAY_LINK_HOURS, "unit": "hours"},
        }
        if organization.billing_email:
            payload["customer_details"]["email"] = organization.billing_email
        if success_url:  # Snap appends its own order_id, status_code and transaction_status
            payload["callbacks"] = {"finish": success_url}
        answer = call(
            "Midtrans",
            "POST",
            settings.MIDTRANS_SNAP_BASE.rstrip("/") + "/snap/v1/transactions",
            secret_key=settings.MIDTRANS_SERVER_KEY,
            payload=payload,
        )
        if not answer.ok or not answer.body.get("redirect_url"):
            messages = "; ".join(str(message) for message in answer.body.get("error_messages") or [answer.status])
            logger.warning("Midtrans refused Snap for payment %s: %s", payment.pk, answer.body)
            raise GatewayError(f"Midtrans refused the payment page ({messages}).")
        return HostedSession(reference=order_id, url=str(answer.body["redirect_url"]))

    def create_checkout(self, *, payment, success_url: str, cancel_url: str, description: str) -> HostedSession:
        return self._snap(payment=payment, description=description, success_url=success_url)

    def pay_link(self, *, payment, description: str) -> HostedSession:
        return self._snap(payment=payment, description=description)

    def expire_link(self, *, payment) -> None:
        # A Snap page where no method was chosen yet has no transaction to expire (404): it
        # closes at its page_expiry.
        answer = _core("POST", f"/v2/{payment.reference}/expire")
        if _core_code(answer) not in ("200", "407"):
            logger.info("Midtrans did not expire %s: %s", payment.reference, answer.body.get("status_message"))

    def refund(self, *, payment, refund) -> RefundResult:
        payment_type = payment.payment_method.split("/", 1)[0]
        if payment_type not in REFUNDABLE_TYPES:
            return self.manual_refund(payment, refund, f"Midtrans cannot refund {payment_type or 'these'} payments.")
        refund_key = str(refund.pk)  # the refund's reference at Midtrans: its idempotency key too
        answer = _core(
            "POST",
            f"/v2/{payment.reference}/refund",
            {"refund_key": refund_key, "amount": refund.amount_cents, "reason": refund.reason[:255]},
        )
        code = _core_code(answer)
        if code == "200":
            return RefundResult(reference=refund_key, status=RefundResultStatus.SUCCEEDED)
        if code == "412":  # "Merchant cannot modify the status of the transaction"
            return self._unsettled(payment, refund, payment_type, refund_key)
        raise GatewayError(f"Midtrans refused the refund ({code}: {answer.body.get('status_message', '')}).")

    def _unsettled(self, payment, refund, payment_type: str, refund_key: str) -> RefundResult:
        """Midtrans refunds only a settled transaction (412 otherwise). A card capture
        settles the next day: until then the whole payment is voided with Cancel, and a part
        cannot be returned yet. A settled one Midtrans will not refund (e.g. past its refund
        window) is returned by hand; in any other state (refunded on the dashboard, its
        notification still on its way) nothing is refunded here."""
        status = str(_core("GET", f"/v2/{payment.reference}/status").body.get("transaction_status") or "")
        if status in ("settlement", "partial_refund"):
            return self.manual_refund(
                payment, refund, f"Midtrans no longer refunds this {payment_type} payment.", reference=refund_key
            )
        if status != "capture":
            raise GatewayError(f"Midtrans reports this payment as {status or 'unknown'}; it cannot be refunded now.")
        if refund.amount_cents != payment.amount_cents:
            raise GatewayError(
                "Midtrans refunds part of a card payment only once it has settled (usually the next day): "
                "refund this part then, or the whole payment now."
            )
        answer = _core("POST", f"/v2/{payment.reference}/cancel")
        code = _core_code(answer)
        if code != "200":
            raise GatewayError(
                f"Midtrans refused to void the card payment ({code}: {answer.body.get('status_message', '')})."
            )
        return RefundResult(reference=refund_key, status=RefundResultStatus.SUCCEEDED)

    def verify_event(self, *, body: bytes, headers) -> GatewayEvent:
        try:
            payload = json.loads(body)
        except ValueError:
            raise InvalidSignature("The notification body is not JSON.") from None
        if not isinstance(payload, dict):
            raise InvalidSignature("The notification is not a Midtrans notification.")
        parts = [payload.get(name) for name in ("order_id", "status_code", "gross_amount", "signature_key")]
        if not all(isinstance(part, str) and part for part in parts):
            raise InvalidSignature("The notification has no signature_key (or lacks what it signs).")
        order_id, status_code, gross_amount, signature = parts
        expected = signature_of(order_id, status_code, gross_amount, settings.MIDTRANS_SERVER_KEY)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise InvalidSignature()
        event = self.event_from_payload(payload)
        if event.type in STATE_CHANGES:
            event = self._confirmed(event)
        return event

    def _confirmed(self, event: GatewayEvent) -> GatewayEvent:
        """The state change a verified notification asks for, as Midtrans' status API
        reports it now: that event (its id, amounts and refunds are the status API's, so a
        notification cannot make up refunds); a no-op when the status API reports another
        state (a notification resent with another status, or outdated: the notification of
        the current state comes on its own). Midtrans unreachable or failing is a
        GatewayError (502), so Midtrans delivers the notification again. A success whose
        signed amount is not the one Midtrans reports is refused (AmountMismatch)."""
        answer = _core("GET", f"/v2/{event.payment_reference}/status")
        code = _core_code(answer)
        reported = None
        if code != "404":  # 404: Midtrans has no transaction for this order
            if code.startswith("5") or not answer.body.get("transaction_status"):
                logger.warning("Midtrans status API failed for %s: %s", event.payment_reference, answer.body)
                raise GatewayError(f"Midtrans could not confirm the notification ({code}); deliver it again.")
            try:
                reported = self.event_from_payload(answer.body)
            except InvalidSignature:  # a body the status API would not send
                reported = None
        if (
            reported is not None
            and reported.type == event.type
            and reported.payment_reference == event.payment_reference
        ):
            if event.type == EventType.PAYMENT_SUCCEEDED and (reported.amount_cents, reported.currency) != (
                event.amount_cents,
                event.currency,
            ):
                # The signed gross_amount (or the currency) is not what Midtrans charged.
                logger.warning("Midtrans notification for %s disagrees with the status API", event.payment_reference)
                raise AmountMismatch()
            return reported
        logger.warning(
            "Midtrans status API does not confirm %s for %s: it reports %s/%s",
            event.type,
            event.payment_reference,
            answer.body.get("status_code"),
            answer.body.get("transaction_status"),
        )
        return GatewayEvent(
            event_id=f"{event.event_id}:unconfirmed",
            type=EventType.PAYMENT_PENDING,
            payment_reference=event.payment_reference,
            raw=event.raw,
        )

    def event_from_payload(self, payload: dict) -> GatewayEvent:
        status = str(payload.get("transaction_status", ""))
        transaction_id = str(payload.get("transaction_id") or payload.get("order_id") or "")
        order_id = str(payload.get("order_id", ""))
        if not order_id or not status:
            raise InvalidSignature("The notification has no order_id or transaction_status.")
        fraud = str(payload.get("fraud_status", "") or "")
        event_id = f"{transaction_id}:{status}" + (f":{fraud}" if status == "capture" and fraud else "")
        common = {"payment_reference": order_id, "currency": str(payload.get("currency") or "IDR"), "raw": payload}
        if status in REFUND_STATUSES:
            return self._refund_event(payload, transaction_id, status, common)
        if is_paid(payload):
            return GatewayEvent(
                event_id=event_id,
                type=EventType.PAYMENT_SUCCEEDED,
                amount_cents=whole_rupiah(payload.get("gross_amount")),
                payment_method=str(payload.get("payment_type") or ""),
                **common,
            )
        if status in FAILED_STATUSES or (status == "capture" and fraud == "deny"):
            reason = payload.get("status_message") or f"Midtrans: {status}"
            if payload.get("channel_response_message"):
                reason = f"{status}: {payload['channel_response_message']}"
            return GatewayEvent(event_id=event_id, type=EventType.PAYMENT_FAILED, failure_reason=str(reason), **common)
        # pending, a capture held by fraud detection (challenge), an authorize: wait.
        return GatewayEvent(event_id=event_id, type=EventType.PAYMENT_PENDING, **common)

    def _refund_event(self, payload: dict, transaction_id: str, status: str, common: dict) -> GatewayEvent:
        if str(payload.get("status_code")) != "200":
            return GatewayEvent(
                event_id=f"{transaction_id}:{status}:{payload.get('status_code')}", type="midtrans.refund", **common
            )
        total = payload.get("refund_amount")
        refunds = tuple(
            ReportedRefund(
                reference=str(item.get("refund_key") or item.get("refund_chargeback_id") or ""),
                amount_cents=whole_rupiah(item.get("refund_amount")),
                refund_id=str(item.get("refund_key") or ""),
                reason=str(item.get("reason") or ""),
            )
            for item in payload.get("refunds") or []
            if isinstance(item, dict)
        )
        return GatewayEvent(
            event_id=f"{transaction_id}:{status}:{total or len(refunds)}",
            type=EventType.REFUNDS_REPORTED,
            refunds=refunds,
            refunded_total=whole_rupiah(total) if total is not None else None,
            **common,
        )
