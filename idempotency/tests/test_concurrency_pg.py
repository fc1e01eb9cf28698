"""Two checkouts racing with one Idempotency-Key on PostgreSQL (real concurrent sessions):
one checkout is made; the other request is a 409 or a replay of it."""

import pytest

from billing_project.testing import run_concurrently
from billing_project.tests.world import new_team, paid_plans
from idempotency.models import IdempotencyRecord
from payments.models import Payment
from payments.tests.support import CANCEL_URL, CHECKOUT, SUCCESS_URL
from subscriptions.models import Subscription

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROUNDS = 5


@pytest.fixture(autouse=True)
def _no_pdf_rendering(monkeypatch):
    """Finalizing the first invoice queues its PDF on commit (eager Celery would render it
    in the thread); these tests are about rows, not documents."""

    class NotQueued:
        @staticmethod
        def delay_on_commit(*args, **kwargs):
            return None

    monkeypatch.setattr("invoices.services.render_invoice_pdf", NotQueued)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_checkouts_with_one_key_make_one_checkout(round_):
    pro, _ = paid_plans()
    team = new_team()
    clients = [team.owner, team.owner]
    body = {"plan_id": str(pro.pk), "success_url": SUCCESS_URL, "cancel_url": CANCEL_URL}

    responses = run_concurrently(
        [lambda c=c: c.post(CHECKOUT, body, format="json", HTTP_IDEMPOTENCY_KEY="race-key") for c in clients],
        timeout=60,
    )

    by_status = sorted(responses, key=lambda r: (r.status_code, r.has_header("Idempotent-Replayed")))
    winner, other = by_status
    assert winner.status_code == 200, winner.content
    if other.status_code == 409:
        assert other.json()["error"]["code"] == "idempotency_in_progress"
    else:
        assert other.status_code == 200
        assert other["Idempotent-Replayed"] == "true"
        assert other.content == winner.content
    assert Subscription.objects.filter(organization=team.org).count() == 1
    assert Payment.objects.filter(organization=team.org).count() == 1
    session_id = winner.json()["data"]["session_id"]
    assert str(Payment.objects.get(organization=team.org).pk) == session_id
    record = IdempotencyRecord.objects.get(key="race-key")
    assert (record.status, record.response_status) == ("completed", 200)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_checkouts_without_a_key_leave_one_live_subscription(round_):
    pro, team_plan = paid_plans()
    team = new_team()
    bodies = [
        {"plan_id": str(plan.pk), "success_url": SUCCESS_URL, "cancel_url": CANCEL_URL} for plan in (pro, team_plan)
    ]
    clients = [team.owner, team.client("admin")]

    responses = run_concurrently(
        [lambda c=c, b=b: c.post(CHECKOUT, b, format="json") for c, b in zip(clients, bodies, strict=True)],
        timeout=60,
    )

    # The second replaces the first's abandoned incomplete checkout; both answer 200.
    assert [r.status_code for r in responses] == [200, 200], [r.content for r in responses]
    live = Subscription.objects.filter(organization=team.org).exclude(status="canceled")
    assert live.count() == 1
    assert Payment.objects.filter(organization=team.org, status="pending").count() == 1
