"""billing.subscriptions.subscription_change_plan_and_collect: the plan change of
PUT /subscriptions/upgrade, with its proration invoice charged at once."""

from datetime import timedelta

import pytest
import time_machine

from billing.subscriptions import subscription_change_plan_and_collect
from billing_project.tests.world import subscribe, utc
from invoices.models import InvoiceStatus
from payments.gateways.sandbox import SandboxGateway
from payments.models import Payment

pytestmark = pytest.mark.django_db

START = utc(2026, 10, 1)
SWITCH_AT = utc(2026, 10, 17, 13, 47, 29)


def change(subscription, plan, *, prorate=True):
    with time_machine.travel(SWITCH_AT, tick=False):
        return subscription_change_plan_and_collect(subscription=subscription, new_plan=plan, prorate=prorate)


def test_a_prorated_change_charges_its_invoice_to_the_saved_method(org, pro, team_plan):
    subscription = subscribe(org, pro, START, gateway="sandbox", payment_method="pm_sandbox_ok")

    changed, invoice = change(subscription, team_plan)

    assert changed.plan == team_plan
    assert invoice.status == InvoiceStatus.PAID
    assert Payment.objects.get(invoice=invoice).status == "succeeded"


def test_a_declined_charge_keeps_the_new_plan_and_leaves_the_invoice_open(org, pro, team_plan):
    subscription = subscribe(org, pro, START, gateway="sandbox", payment_method="pm_sandbox_decline")

    changed, invoice = change(subscription, team_plan)

    assert changed.plan == team_plan
    assert invoice.status == InvoiceStatus.OPEN
    assert Payment.objects.get(invoice=invoice).status == "failed"


def test_a_gateway_failure_keeps_the_change_and_leaves_the_invoice_for_the_retry(
    org, pro, team_plan, settings, monkeypatch
):
    subscription = subscribe(org, pro, START, gateway="sandbox", payment_method="pm_sandbox_ok")

    def unreachable(self, **kwargs):
        raise ConnectionError("the gateway is down")

    monkeypatch.setattr(SandboxGateway, "charge", unreachable)

    changed, invoice = change(subscription, team_plan)

    assert changed.plan == team_plan
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.next_payment_attempt == SWITCH_AT + timedelta(minutes=settings.COLLECTION_RETRY_MINUTES)
    assert not Payment.objects.filter(invoice=invoice).exists()


def test_a_change_at_the_next_period_charges_nothing(org, pro, team_plan):
    subscription = subscribe(org, pro, START, gateway="sandbox", payment_method="pm_sandbox_ok")

    changed, invoice = change(subscription, team_plan, prorate=False)

    assert invoice is None
    assert (changed.plan, changed.scheduled_plan) == (pro, team_plan)
    assert not Payment.objects.filter(organization=org).exists()
