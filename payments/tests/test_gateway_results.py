"""Gateways answer with data and write nothing: the sandbox's ChargeResult and RefundResult
carry the normalized event of their outcome, which the use case in `billing` applies (that
side: billing/tests/test_collect.py, "the outcome the sandbox answers at once")."""

import pytest

from billing.services import invoice_collect
from invoices.services import invoice_for_first_period
from payments.gateways.base import ChargeStatus, EventType, RefundResultStatus
from payments.gateways.sandbox import DECLINE_REASON, PM_DECLINE, PM_OK, SandboxGateway
from payments.models import Payment, Refund
from webhooks.models import InboundEvent

from .support import subscribe

pytestmark = pytest.mark.django_db


def _pending_charge(org, plan) -> Payment:
    invoice = invoice_for_first_period(subscription=subscribe(org, plan))
    return Payment.objects.create(
        organization=org,
        invoice=invoice,
        gateway="sandbox",
        kind="off_session",
        reference="pending_test",
        amount_cents=invoice.amount_due_cents,
        currency=invoice.currency,
    )


def test_a_sandbox_charge_returns_its_success_event_and_writes_nothing(org, pro):
    payment = _pending_charge(org, pro)

    result = SandboxGateway().charge(payment=payment, payment_method=PM_OK)

    assert (result.status, result.payment_method) == (ChargeStatus.SUCCEEDED, PM_OK)
    assert result.reference.startswith("sbx_pi_")
    event = result.event
    assert (event.type, event.payment_reference, event.amount_cents) == (
        EventType.PAYMENT_SUCCEEDED,
        result.reference,
        payment.amount_cents,
    )
    payment.refresh_from_db()
    assert (payment.reference, payment.status) == ("pending_test", "pending")
    assert not InboundEvent.objects.exists()


def test_a_declined_sandbox_charge_returns_its_failure_event(org, pro):
    payment = _pending_charge(org, pro)

    result = SandboxGateway().charge(payment=payment, payment_method=PM_DECLINE)

    assert (result.status, result.failure_reason) == (ChargeStatus.FAILED, DECLINE_REASON)
    assert (result.event.type, result.event.failure_reason) == (EventType.PAYMENT_FAILED, DECLINE_REASON)
    payment.refresh_from_db()
    assert payment.status == "pending"


def test_a_sandbox_refund_returns_its_event_and_writes_nothing(org, pro):
    payment = invoice_collect(invoice=invoice_for_first_period(subscription=subscribe(org, pro)))
    refund = Refund.objects.create(payment=payment, amount_cents=500)

    result = SandboxGateway().refund(payment=payment, refund=refund)

    assert result.status == RefundResultStatus.SUCCEEDED
    assert (result.event.type, result.event.refund_reference) == (EventType.REFUND_SUCCEEDED, result.reference)
    refund.refresh_from_db()
    assert (refund.reference, refund.status) == ("", "pending")


def test_the_event_types_keep_their_stored_values():
    assert {member.value for member in EventType} == {
        "payment.succeeded",
        "payment.failed",
        "payment.pending",
        "refund.succeeded",
        "refund.failed",
        "refunds.reported",
        "dispute.opened",
        "dispute.closed",
        "payment_method.attached",
        "payment_method.detached",
    }
