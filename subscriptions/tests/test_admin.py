"""Staff actions on subscriptions: cancel, extend a trial, change the plan without charge."""

from datetime import UTC, datetime, timedelta

import pytest
from django_celery_beat.models import PeriodicTask

from accounts.tests.factories import UserFactory
from billing_project.tests.world import subscribe
from invoices.models import Invoice
from organizations.models import Organization
from plans.demo import demo_catalogue_ensure
from plans.models import Plan
from subscriptions.models import Subscription
from subscriptions.services import subscription_create

pytestmark = pytest.mark.django_db

URL = "/admin/subscriptions/subscription/"


@pytest.fixture
def subscription(pro):
    """A user's personal organization on the demo `pro` plan since now, active."""
    organization = Organization.objects.get(memberships__user=UserFactory())
    return subscribe(organization, pro, datetime.now(UTC))


def run_action(client, action: str, subscription, **form):
    return client.post(URL, {"action": action, "_selected_action": [str(subscription.pk)], "apply": "1", **form})


def test_the_change_page_shows_the_history(staff_client, subscription):
    page = staff_client.get(f"{URL}{subscription.pk}/change/")
    assert page.status_code == 200
    assert "created" in page.content.decode()


def test_an_action_first_asks_for_its_form(staff_client, subscription):
    page = staff_client.post(URL, {"action": "cancel", "_selected_action": [str(subscription.pk)]})
    assert page.status_code == 200
    assert "reason" in page.content.decode()
    subscription.refresh_from_db()
    assert not subscription.cancel_at_period_end


def test_staff_cancel_at_period_end(staff_client, subscription):
    run_action(staff_client, "cancel", subscription, reason="customer asked by phone")
    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end
    assert subscription.cancel_reason == "customer asked by phone"
    assert subscription.status == "active"


def test_staff_cancel_immediately(staff_client, subscription):
    run_action(staff_client, "cancel", subscription, reason="fraud", immediately="on")
    subscription.refresh_from_db()
    assert subscription.status == "canceled"


def test_extend_trial_moves_the_trial_end_and_the_first_paid_period(staff_client):
    demo_catalogue_ensure()
    organization = Organization.objects.get(memberships__user=UserFactory())
    trialing = subscription_create(
        organization=organization, plan=Plan.objects.get(code="team"), start=datetime(2026, 3, 1, tzinfo=UTC)
    )
    trial_end = trialing.trial_end

    run_action(staff_client, "extend_trial", trialing, days=7)

    trialing.refresh_from_db()
    assert trialing.trial_end == trial_end + timedelta(days=7)
    assert trialing.current_period_end == trialing.trial_end
    assert trialing.billing_anchor == trialing.trial_end
    assert trialing.history.filter(event="trial_extended").exists()


def test_extend_trial_refuses_a_subscription_without_a_trial(staff_client, subscription):
    before = subscription.current_period_end
    response = run_action(staff_client, "extend_trial", subscription, days=7)
    subscription.refresh_from_db()
    assert subscription.current_period_end == before
    assert response.status_code == 302


def test_change_plan_without_charge_switches_now_with_no_invoice(staff_client, subscription):
    team = Plan.objects.get(code="team")
    invoices_before = Invoice.objects.count()

    run_action(staff_client, "change_plan_without_charge", subscription, plan=str(team.pk))

    subscription.refresh_from_db()
    assert subscription.plan == team
    assert Invoice.objects.count() == invoices_before
    assert subscription.history.filter(event="plan_changed").exists()


def test_non_staff_cannot_run_actions(client, subscription):
    client.force_login(UserFactory())
    run_action(client, "cancel", subscription, reason="x", immediately="on")
    assert Subscription.objects.get(pk=subscription.pk).status == "active"


def test_the_beat_schedule_is_in_the_database():
    tasks = dict(PeriodicTask.objects.values_list("name", "task"))
    assert tasks["Billing cycle"] == "invoices.tasks.run_billing_cycle"
    assert tasks["Reconcile quota counters"] == "usage.tasks.reconcile_quota_counters"
    assert tasks["Expire credits"] == "credits.tasks.expire_credits"
    assert tasks["Purge expired idempotency keys"] == "idempotency.tasks.purge_expired_idempotency_keys"
