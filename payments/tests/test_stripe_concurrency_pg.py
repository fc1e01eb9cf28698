"""Ten simultaneous deliveries of one Stripe event: one effect, ten 2xx (PostgreSQL)."""

import pytest
from django.core.management import call_command
from django.test import Client

from billing_project.testing import run_concurrently
from billing_project.tests.world import paid_plans
from invoices.models import Invoice
from payments.models import Payment
from webhooks.models import InboundEvent

from .fake_stripe import FAKE_WEBHOOK_SECRET, sign_event
from .support import start_checkout

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_ten_simultaneous_deliveries_of_one_event_have_one_effect(fake_stripe, team):
    call_command("stripe_setup", stdout=open("/dev/null", "w"))  # noqa: SIM115
    pro, _ = paid_plans()
    data = start_checkout(team.client(), pro, gateway="stripe")
    payment = Payment.objects.get(pk=data["session_id"])
    events = fake_stripe.complete_checkout(payment.reference)
    completed = next(event for event in events if event["type"] == "checkout.session.completed")
    body, signature = sign_event(completed, FAKE_WEBHOOK_SECRET)

    def deliver():
        return (
            Client()
            .post("/webhooks/stripe", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature)
            .status_code
        )

    statuses = run_concurrently([deliver] * 10)

    assert statuses == [200] * 10
    invoice = Invoice.objects.get(pk=payment.invoice_id)
    assert invoice.status == "paid"
    assert invoice.amount_paid_cents == invoice.total_cents
    assert InboundEvent.objects.filter(gateway="stripe", event_type="payment.succeeded").count() == 1
    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert invoice.subscription.status == "active"
