"""Xendit: pay links (Xendit Invoices) in IDR, refunds, verified callbacks.

An invoice of ours is paid through a Xendit Invoice whose `external_id` is our invoice id;
the Xendit invoice id is the Payment's reference. Xendit keeps no card to charge later,
so renewals and dunning send a new pay link. Callbacks carry the account's verification
token in `x-callback-token`; an invoice callback is identified by the Xendit invoice id
and its status (PAID, then SETTLED, or EXPIRED).

Plain `requests` against XENDIT_API_BASE (https://api.xendit.co) rather than the
generated xendit-python client: the calls are three, and one HTTP boundary that tests
point at a fake keeps them honest.
"""

from __future__ import annotations

import hmac
import json
import logging

from django.conf import settings

from . import register
from .base import (
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

TOKEN_HEADERS = ("HTTP_X_CALLBACK_TOKEN", "x-callback-token", "X-Callback-Token")
# Xendit refunds invoice payments made by e-wallet or card; others are returned by hand.
REFUNDABLE_METHODS = frozenset({"EWALLET", "CREDIT_CARD"})
PAID_STATUSES = frozenset({"PAID", "SETTLED"})


class UnauthorizedCallback(InvalidSignature):
    status_code = 401
    code = "authentication_failed"
    default_message = "The x-callback-token header is missing or wrong."


def _api(method: str, path: str, payload: dict | None = None, headers: dict | None = None):
    return call(
        "Xendit",
        method,
        settings.XENDIT_API_BASE.rstrip("/") + path,
        secret_key=settings.XENDIT_SECRET_KEY,
        payload=payload,
        headers=headers,
    )


def _error(answer) -> str:
    return f"{answer.body.get('error_code', answer.status)}: {answer.body.get('message', '')}".strip()


def whole_rupiah(value) -> int:
    """Xendit amounts are JSON numbers; IDR has no decimals (whole rupiah, exponent 0 here)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidSignature("The callback amount is not a number.") from None


@register
class XenditGateway(PayLinkGateway):
    name = "xendit"
    label = "Xendit"
    currencies = frozenset({"IDR"})

    def is_configured(self) -> bool:
        return bool(settings.XENDIT_SECRET_KEY and settings.XENDIT_CALLBACK_TOKEN)

    def serves_country(self, country: str) -> bool:
        return country in settings.INDONESIA_COUNTRIES

    def _invoice(self, *, payment, description: str, success_url: str = "", cancel_url: str = "") -> HostedSession:
        organization = payment.organization
        payload = {
            "external_id": str(payment.invoice_id),
            "amount": payment.amount_cents,
            "currency": payment.currency.upper(),
            "description": f"{description} · {organization.name}"[:1000],
            "invoice_duration": settings.PAY_LINK_HOURS * 3600,
            "metadata": {"payment_id": str(payment.pk), "organization_id": str(organization.pk)},
        }
        if organization.billing_email:
            payload["payer_email"] = organization.billing_email
        if success_url:
            payload["success_redirect_url"] = success_url
        if cancel_url:
            payload["failure_redirect_url"] = cancel_url
        answer = _api("POST", "/v2/invoices", payload)
        if not answer.ok:
            logger.warning("Xendit refused invoice for payment %s: %s", payment.pk, answer.body)
            raise GatewayError(f"Xendit refused the payment link ({_error(answer)}).")
        return HostedSession(reference=str(answer.body["id"]), url=str(answer.body["invoice_url"]))

    def create_checkout(self, *, payment, success_url: str, cancel_url: str, description: str) -> HostedSession:
        return self._invoice(payment=payment, description=description, success_url=success_url, cancel_url=cancel_url)

    def pay_link(self, *, payment, description: str) -> HostedSession:
        return self._invoice(payment=payment, description=description)

    def expire_link(self, *, payment) -> None:
        answer = _api("POST", f"/invoices/{payment.reference}/expire!")
        if not answer.ok:  # paid or expired meanwhile: nothing to close
            logger.info("Xendit did not expire invoice %s: %s", payment.reference, _error(answer))

    def refund(self, *, payment, refund) -> RefundResult:
        method = payment.payment_method.split("/", 1)[0]
        if method not in REFUNDABLE_METHODS:
            return self.manual_refund(payment, refund, f"Xendit cannot refund {method or 'these'} payments.")
        answer = _api(
            "POST",
            "/refunds",
            {
                "invoice_id": payment.reference,
                "reference_id": str(refund.pk),
                "amount": refund.amount_cents,
                "currency": payment.currency.upper(),
                "reason": "REQUESTED_BY_CUSTOMER",
                "metadata": {"refund_id": str(refund.pk), "reason": refund.reason[:500]},
            },
            headers={"idempotency-key": f"refund-{refund.pk}"},
        )
        if answer.body.get("error_code") == "REFUND_NOT_SUPPORTED":
            return self.manual_refund(payment, refund, f"Xendit cannot refund {method or 'these'} payments.")
        if not answer.ok:
            raise GatewayError(f"Xendit refused the refund ({_error(answer)}).")
        status = {"SUCCEEDED": RefundResultStatus.SUCCEEDED, "FAILED": RefundResultStatus.FAILED}.get(
            answer.body.get("status"), RefundResultStatus.PENDING
        )
        return RefundResult(
            reference=str(answer.body["id"]), status=status, failure_reason=answer.body.get("failure_code") or ""
        )

    def verify_event(self, *, body: bytes, headers) -> GatewayEvent:
        token = next((headers.get(name) for name in TOKEN_HEADERS if headers.get(name)), "")
        expected = settings.XENDIT_CALLBACK_TOKEN
        if not token or not expected or not hmac.compare_digest(str(token).encode(), expected.encode()):
            raise UnauthorizedCallback()
        try:
            payload = json.loads(body)
        except ValueError:
            raise InvalidSignature("The callback body is not JSON.") from None
        if not isinstance(payload, dict):
            raise InvalidSignature("The callback body is not a Xendit callback.")
        return self.event_from_payload(payload)

    def event_from_payload(self, payload: dict) -> GatewayEvent:
        if str(payload.get("event", "")).startswith("refund."):
            return self._refund_event(payload)
        invoice_id, status = payload.get("id"), str(payload.get("status", "")).upper()
        if not invoice_id or not status:
            raise InvalidSignature("The callback is not a Xendit invoice callback (id and status).")
        common = {
            "event_id": f"invoice:{invoice_id}:{status}",
            "payment_reference": str(invoice_id),
            "currency": str(payload.get("currency") or "IDR"),
            "raw": payload,
        }
        if status in PAID_STATUSES:
            method = "/".join(
                str(part) for part in (payload.get("payment_method"), payload.get("payment_channel")) if part
            )
            amount = payload.get("paid_amount")
            return GatewayEvent(
                type=EventType.PAYMENT_SUCCEEDED,
                amount_cents=whole_rupiah(payload.get("amount") if amount is None else amount),
                payment_method=method,
                **common,
            )
        if status == "EXPIRED":
            return GatewayEvent(
                type=EventType.PAYMENT_FAILED, failure_reason="The Xendit payment link expired unpaid.", **common
            )
        return GatewayEvent(type=f"xendit.invoice.{status.lower()}", **common)

    def _refund_event(self, payload: dict) -> GatewayEvent:
        data = payload.get("data") or {}
        refund_id, event = data.get("id"), str(payload["event"])
        if not refund_id:
            raise InvalidSignature("The refund callback has no refund id.")
        common = {"event_id": f"{event}:{refund_id}", "refund_reference": str(refund_id), "raw": payload}
        if event == "refund.succeeded":
            return GatewayEvent(
                type=EventType.REFUNDS_REPORTED,
                payment_reference=str(data.get("invoice_id") or ""),
                refunds=(
                    ReportedRefund(
                        reference=str(refund_id),
                        amount_cents=whole_rupiah(data.get("amount")),
                        refund_id=str(data.get("reference_id") or ""),
                        reason=str(data.get("reason") or ""),
                    ),
                ),
                **common,
            )
        if event == "refund.failed":
            return GatewayEvent(
                type=EventType.REFUND_FAILED, failure_reason=str(data.get("failure_code") or ""), **common
            )
        return GatewayEvent(type=f"xendit.{event}", **common)
