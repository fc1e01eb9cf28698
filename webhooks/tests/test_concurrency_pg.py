"""One signed success event delivered ten times at once on PostgreSQL (real concurrent
sessions): stored once, applied once, acknowledged every time."""

import pytest

from billing_project.testing import run_concurrently
from billing_project.tests.world import new_team, paid_plans
from credits.models import CreditLedgerEntry
from invoices.models import Invoice
from payments.models import Payment
from payments.tests.support import CANCEL_URL, CHECKOUT, CREDITS_PURCHASE, SUCCESS_URL, post_webhook, success_event_for
from subscriptions.models import Subscription, SubscriptionEvent
from webhooks.models import InboundEvent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DELIVERIES = 10
ROUNDS = 3


@pytest.fixture(autouse=True)
def _no_pdf_rendering(monkeypatch):
    """Paying an invoice queues its PDF on commit (eager Celery would render it in each
    thread); these tests are about rows, not documents."""

    class NotQueued:
        @staticmethod
        def delay_on_commit(*args, **kwargs):
            return None

    monkeypatch.setattr("invoices.services.render_invoice_pdf", NotQueued)


def deliver_concurrently(body: bytes, signature: str) -> list:
    return run_concurrently([lambda: post_webhook(body, signature) for _ in range(DELIVERIES)], timeout=60)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_ten_concurrent_deliveries_of_one_success_apply_it_once(round_):
    pro, _ = paid_plans()
    team = new_team()
    response = team.owner.post(
        CHECKOUT, {"plan_id": str(pro.pk), "success_url": SUCCESS_URL, "cancel_url": CANCEL_URL}, format="json"
    )
    payment = Payment.objects.get(pk=response.json()["data"]["session_id"])

    responses = deliver_concurrently(*success_event_for(payment))

    assert [r.status_code for r in responses] == [200] * DELIVERIES, [r.content for r in responses]
    assert all(r.json() == {"received": True} for r in responses)
    inbound = InboundEvent.objects.get()
    assert (inbound.outcome, inbound.attempts) == ("processed", 1)
    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert Payment.objects.filter(invoice_id=payment.invoice_id, status="succeeded").count() == 1
    invoice = Invoice.objects.get(pk=payment.invoice_id)
    assert (invoice.status, invoice.amount_paid_cents) == ("paid", 2999)
    subscription = Subscription.objects.get(organization=team.org)
    assert subscription.status == "active"
    assert SubscriptionEvent.objects.filter(subscription=subscription, to_status="active").count() == 1


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_ten_concurrent_deliveries_of_one_top_up_add_the_credit_once(round_):
    team = new_team()
    response = team.owner.post(
        CREDITS_PURCHASE, {"amount_cents": 5000, "success_url": SUCCESS_URL, "cancel_url": CANCEL_URL}, format="json"
    )
    payment = Payment.objects.get(pk=response.json()["data"]["session_id"])

    responses = deliver_concurrently(*success_event_for(payment))

    assert [r.status_code for r in responses] == [200] * DELIVERIES
    assert CreditLedgerEntry.objects.filter(organization=team.org, kind="purchase").count() == 1
    balance = team.owner.get("/api/v1/credits/balance").json()["data"]
    assert balance["balance_cents"] == 5000
