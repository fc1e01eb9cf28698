"""Money that arrives for an invoice that no longer needs it is given back."""

import pytest

from invoices.models import Invoice
from payments.models import Payment, Refund
from payments.tests.support import post_webhook, start_checkout, success_event_for

pytestmark = pytest.mark.django_db


def test_a_success_for_a_replaced_checkout_is_refunded_and_activates_nothing(owner, pro):
    first = start_checkout(owner, pro)
    stale = Payment.objects.get(pk=first["session_id"])
    second = start_checkout(owner, pro)  # replaces the abandoned first checkout

    response = post_webhook(*success_event_for(stale))

    assert response.status_code == 200
    stale.refresh_from_db()
    assert stale.status == "refunded"
    assert Refund.objects.get(payment=stale).status == "succeeded"
    assert Invoice.objects.get(pk=stale.invoice_id).status == "void"
    replacement = Payment.objects.get(pk=second["session_id"])
    assert replacement.invoice.subscription.status == "incomplete"


def test_a_second_payment_of_a_paid_invoice_is_refunded(owner, pro):
    checkout = start_checkout(owner, pro)
    payment = Payment.objects.get(pk=checkout["session_id"])
    assert post_webhook(*success_event_for(payment)).status_code == 200
    invoice = Invoice.objects.get(pk=payment.invoice_id)
    duplicate = Payment.objects.create(
        organization=payment.organization,
        invoice=invoice,
        gateway="sandbox",
        kind="pay_link",
        reference="sbx_pl_duplicate",
        amount_cents=invoice.total_cents,
        currency=invoice.currency,
    )

    assert post_webhook(*success_event_for(duplicate)).status_code == 200

    duplicate.refresh_from_db()
    assert duplicate.status == "refunded"
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert invoice.amount_paid_cents == invoice.total_cents
