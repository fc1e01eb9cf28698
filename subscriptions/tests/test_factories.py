"""SubscriptionFactory makes subscriptions through subscriptions.services: periods, the
plan segment and the history are there, and a payment method is saved as checkout saves it."""

import pytest

from subscriptions.models import Status
from subscriptions.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


def test_a_subscription_is_active_from_now_with_its_segment_and_history():
    subscription = SubscriptionFactory()

    subscription.full_clean()
    assert subscription.status == Status.ACTIVE
    assert subscription.current_period_start == subscription.started_at < subscription.current_period_end
    assert list(subscription.segments.values_list("plan_id", "ends_at")) == [(subscription.plan_id, None)]
    assert list(subscription.history.values_list("event", flat=True)) == ["created"]
    assert (subscription.gateway, subscription.payment_method) == ("", "")


def test_a_payment_method_is_saved_on_the_sandbox_by_default():
    subscription = SubscriptionFactory(payment_method="pm_sandbox_ok")

    subscription.refresh_from_db()
    assert (subscription.gateway, subscription.payment_method) == ("sandbox", "pm_sandbox_ok")
    assert subscription.history.filter(event="payment_method_changed").exists()


def test_the_plans_trial_applies_when_asked():
    subscription = SubscriptionFactory(plan__trial_days=14)

    assert subscription.status == Status.TRIALING
    assert subscription.current_period_end == subscription.trial_end
