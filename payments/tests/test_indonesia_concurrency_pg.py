"""Ten simultaneous deliveries of one Xendit callback or Midtrans notification: one effect,
ten 200s (PostgreSQL)."""

import json

import pytest
from django.test import Client

from billing_project.testing import run_concurrently
from invoices.models import Invoice
from payments.models import Payment
from plans.tests.factories import PlanFactory
from webhooks.models import InboundEvent

from .support import start_checkout

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _checkout(team, gateway: str) -> Payment:
    team.org.country, team.org.currency = "ID", "IDR"
    team.org.save()
    plan = PlanFactory(code=f"pro-idr-{gateway}", price_cents=450_000, currency="IDR")
    data = start_checkout(team.client(), plan, gateway=gateway)
    return Payment.objects.get(pk=data["session_id"])


def _deliver_ten(path: str, payload: dict, **headers) -> list[int]:
    body = json.dumps(payload)

    def deliver():
        return Client().post(path, data=body, content_type="application/json", **headers).status_code

    return run_concurrently([deliver] * 10)


def _assert_one_effect(payment: Payment, gateway: str) -> None:
    invoice = Invoice.objects.get(pk=payment.invoice_id)
    assert (invoice.status, invoice.amount_paid_cents) == ("paid", 450_000)
    assert invoice.subscription.status == "active"
    assert InboundEvent.objects.filter(gateway=gateway).count() == 1
    assert InboundEvent.objects.get(gateway=gateway).attempts == 1


def test_ten_simultaneous_xendit_callbacks_have_one_effect(fake_xendit, team):
    payment = _checkout(team, "xendit")

    statuses = _deliver_ten(
        "/webhooks/xendit", fake_xendit.pay(payment.reference), HTTP_X_CALLBACK_TOKEN=fake_xendit.callback_token
    )

    assert statuses == [200] * 10
    _assert_one_effect(payment, "xendit")


def test_ten_simultaneous_midtrans_notifications_have_one_effect(fake_midtrans, team):
    payment = _checkout(team, "midtrans")

    statuses = _deliver_ten("/webhooks/midtrans", fake_midtrans.pay(payment.reference, "gopay"))

    assert statuses == [200] * 10
    _assert_one_effect(payment, "midtrans")
