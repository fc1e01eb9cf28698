"""The billing cycle under concurrency, on PostgreSQL: two workers running the cycle for
the same moment at the same time, and a gateway event delivered twice at once. Each test
commits for real (transactional) so the workers' sessions see and lock each other's rows."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from billing.cycle import run_billing_cycle
from billing.services import checkout_create, credits_purchase_checkout
from billing.tests.cycle_helpers import after_grace, world_counts
from billing_project.testing import run_concurrently
from billing_project.tests.world import subscribe, utc
from credits.models import CreditBalance, CreditLedgerEntry
from invoices.models import Invoice, InvoiceNumberSequence
from organizations.tests.factories import OrganizationFactory
from payments.gateways import sandbox
from payments.gateways.base import PAYMENT_SUCCEEDED
from payments.models import Payment
from plans.models import Plan
from subscriptions.models import Subscription
from webhooks.models import InboundEvent
from webhooks.services import event_receive

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SUBSCRIPTIONS = 20
RENEWAL = utc(2026, 2, 28)
URLS = {"success_url": "http://localhost/done", "cancel_url": "http://localhost/cancel"}


def due_subscriptions(payment_method: str) -> list[Subscription]:
    """SUBSCRIPTIONS pro subscriptions of as many organizations, all renewing on Feb 28."""
    pro = Plan.objects.get(code="pro")
    return [
        subscribe(OrganizationFactory(), pro, utc(2026, 1, 31), payment_method=payment_method)
        for _ in range(SUBSCRIPTIONS)
    ]


def two_workers(now):
    reports = run_concurrently([lambda: run_billing_cycle(now=now), lambda: run_billing_cycle(now=now)], timeout=60)
    assert [report.errors for report in reports] == [[], []]
    return reports


def test_two_workers_bill_each_due_subscription_once_with_gapless_numbers(demo, time_machine):
    subscriptions = due_subscriptions(sandbox.PM_OK)
    now = after_grace(RENEWAL)
    time_machine.move_to(now, tick=False)

    reports = two_workers(now)

    assert sum(report.periods_closed for report in reports) == SUBSCRIPTIONS
    assert sum(report.invoices_finalized for report in reports) == SUBSCRIPTIONS
    invoices = Invoice.objects.filter(reason="subscription_cycle")
    assert Counter(invoices.values_list("subscription_id", "period_start")) == {
        (subscription.pk, utc(2026, 1, 31)): 1 for subscription in subscriptions
    }
    assert set(invoices.values_list("status", "total_cents")) == {("paid", 2999)}
    payments = Payment.objects.all()
    assert Counter(payments.values_list("invoice_id", flat=True)) == {invoice.pk: 1 for invoice in invoices}
    assert set(payments.values_list("status", "kind", "attempt", "amount_cents")) == {
        ("succeeded", "off_session", 1, 2999)
    }
    numbers = sorted(invoices.values_list("number", flat=True))
    assert numbers == [f"INV-2026-{n:06d}" for n in range(1, SUBSCRIPTIONS + 1)]
    assert InvoiceNumberSequence.objects.get(year=2026).last_number == SUBSCRIPTIONS
    assert set(Subscription.objects.values_list("status", "current_period_start", "current_period_end")) == {
        ("active", RENEWAL, utc(2026, 3, 31))
    }

    before = world_counts()
    again = two_workers(now)
    assert sum(report.periods_closed + report.invoices_finalized for report in again) == 0
    assert world_counts() == before


def test_two_workers_make_each_dunning_retry_once(demo, time_machine):
    due_subscriptions(sandbox.PM_DECLINE)
    t0 = after_grace(RENEWAL)
    time_machine.move_to(t0, tick=False)
    two_workers(t0)
    assert set(Invoice.objects.values_list("status", "attempt_count")) == {("open", 1)}

    retry = t0 + timedelta(days=1)
    time_machine.move_to(retry, tick=False)
    reports = two_workers(retry)

    assert sum(report.charges_attempted for report in reports) >= SUBSCRIPTIONS
    invoices = Invoice.objects.all()
    assert set(invoices.values_list("status", "attempt_count", "next_payment_attempt")) == {
        ("open", 2, t0 + timedelta(days=3))
    }
    attempts = Counter(Payment.objects.values_list("invoice_id", "attempt", "status"))
    assert attempts == {(invoice.pk, n, "failed"): 1 for invoice in invoices for n in (1, 2)}


def deliver_twice_at_once(payment: Payment) -> list[InboundEvent]:
    """The gateway's success event for `payment`, the same signed body delivered by two
    concurrent requests."""
    body = sandbox.event_body(
        PAYMENT_SUCCEEDED,
        payment_reference=payment.reference,
        amount_cents=payment.amount_cents,
        currency=payment.currency,
        payment_method=sandbox.PM_OK,
    )
    headers = {sandbox.SIGNATURE_HEADER: sandbox.sign(body)}
    return run_concurrently([lambda: event_receive(gateway="sandbox", body=body, headers=headers)] * 2)


def test_a_replayed_success_event_for_a_credit_purchase_adds_the_credit_once(demo):
    organization = OrganizationFactory()
    checkout = credits_purchase_checkout(organization=organization, amount_cents=5000, **URLS)
    payment = Payment.objects.get(pk=checkout.session_id)

    first, second = deliver_twice_at_once(payment)

    assert first.pk == second.pk
    stored = InboundEvent.objects.get()
    assert (stored.outcome, stored.attempts) == ("processed", 1)
    payment.refresh_from_db()
    assert payment.status == "succeeded"
    invoice = payment.invoice
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid_cents) == ("paid", 5000)
    assert CreditLedgerEntry.objects.filter(organization=organization, kind="purchase").count() == 1
    assert CreditBalance.objects.get(pk=organization.pk).balance_cents == 5000


def test_a_replayed_success_event_for_a_checkout_activates_the_subscription_once(demo):
    organization = OrganizationFactory()
    checkout = checkout_create(organization=organization, plan=Plan.objects.get(code="pro"), **URLS)
    payment = Payment.objects.get(pk=checkout.session_id)

    deliver_twice_at_once(payment)

    assert InboundEvent.objects.count() == 1
    subscription = Subscription.objects.get(pk=checkout.subscription_id)
    assert (subscription.status, subscription.payment_method) == ("active", sandbox.PM_OK)
    assert subscription.history.filter(to_status="active").count() == 1
    assert subscription.history.filter(event="payment_method_changed").count() == 1
    assert Payment.objects.filter(status="succeeded").count() == 1
    assert Invoice.objects.get(subscription=subscription).status == "paid"
