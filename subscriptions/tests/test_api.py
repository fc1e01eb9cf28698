"""GET /api/v1/subscriptions, and what a subscription changes elsewhere: the plan behind
entitlements and limits, and the quota period of the service endpoints."""

from __future__ import annotations

import uuid

import pytest
import time_machine
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from apikeys.authentication import _cache_key, hash_of
from apikeys.models import Scope
from apikeys.tests.factories import APIKeyFactory
from billing_project.tests.openapi import assert_response_matches_schema
from billing_project.tests.world import ROLES, people_client
from billing_project.tests.world import service_client as key_client
from organizations.models import Role
from organizations.tests.factories import OrganizationFactory
from subscriptions.models import Status
from subscriptions.services import subscription_create, subscription_transition

from .factories import SubscriptionFactory
from .helpers import ENTITLEMENTS, LIMITS, QUOTA, REPORT, SUBSCRIPTION, USAGE, assert_error, assert_ok, iso, utc

pytestmark = pytest.mark.django_db


def service_client(organization) -> tuple[APIClient, str]:
    """A client sending a new live API key of `organization` (usage read and write)."""
    key = APIKeyFactory(
        organization=organization, name="billing test key", scopes=[Scope.USAGE_READ, Scope.USAGE_WRITE]
    )
    return key_client(key.secret), key.secret


# --- GET /subscriptions --------------------------------------------------------------------


def test_without_a_subscription_the_answer_is_null(team):
    assert assert_ok(team.client().get(SUBSCRIPTION)) is None


def test_the_null_answer_without_a_subscription_matches_the_schema(team):
    response = team.client().get(SUBSCRIPTION)

    assert_response_matches_schema(response, method="GET", path=SUBSCRIPTION)


def test_a_subscription_answer_matches_the_schema(team, plan, yearly_plan):
    subscription = SubscriptionFactory(organization=team.org, plan=plan, start=utc(2026, 3, 10))
    subscription.scheduled_plan = yearly_plan
    subscription.save(update_fields=["scheduled_plan"])

    response = team.client().get(SUBSCRIPTION)

    assert assert_ok(response)["scheduled_plan"]["id"] == str(yearly_plan.id)
    assert_response_matches_schema(response, method="GET", path=SUBSCRIPTION)


def test_an_organization_the_caller_is_not_in_is_a_documented_404(team):
    client = people_client(team.users[Role.OWNER])

    response = client.get(SUBSCRIPTION, HTTP_X_CURRENT_ORG="not-an-org")

    assert_error(response, 404, "not_found")
    assert_response_matches_schema(response, method="GET", path=SUBSCRIPTION)


def test_the_subscription_has_the_documented_shape(team, plan):
    subscription = SubscriptionFactory(organization=team.org, plan=plan, start=utc(2026, 3, 10))

    data = assert_ok(team.client().get(SUBSCRIPTION))

    assert data == {
        "id": str(subscription.id),
        "plan": {
            "id": str(plan.id),
            "code": "starter",
            "name": "Starter",
            "price_cents": 2000,
            "currency": "USD",
            "interval": "month",
        },
        "status": "active",
        "current_period_start": "2026-03-10T00:00:00Z",
        "current_period_end": "2026-04-10T00:00:00Z",
        "cancel_at_period_end": False,
        "canceled_at": None,
        "trial_end": None,
        "scheduled_plan": None,
        "created_at": data["created_at"],
    }


def test_a_trialing_subscription_shows_its_trial_end(team, trial_plan):
    SubscriptionFactory(organization=team.org, plan=trial_plan, start=utc(2026, 3, 10))

    data = assert_ok(team.client().get(SUBSCRIPTION))

    assert data["status"] == "trialing"
    assert data["trial_end"] == data["current_period_end"] == "2026-03-24T00:00:00Z"


def test_a_scheduled_plan_change_is_shown(team, plan, yearly_plan):
    subscription = SubscriptionFactory(organization=team.org, plan=plan)
    subscription.scheduled_plan = yearly_plan
    subscription.save()

    data = assert_ok(team.client().get(SUBSCRIPTION))

    assert data["scheduled_plan"]["code"] == "starter_yearly"
    assert data["scheduled_plan"]["interval"] == "year"


def test_an_incomplete_subscription_is_shown(team, plan):
    SubscriptionFactory(organization=team.org, plan=plan, status=Status.INCOMPLETE)

    assert assert_ok(team.client().get(SUBSCRIPTION))["status"] == "incomplete"


def test_a_canceled_subscription_is_no_longer_shown(team, plan):
    subscription = SubscriptionFactory(organization=team.org, plan=plan)
    subscription_transition(subscription=subscription, to_status=Status.CANCELED)

    assert assert_ok(team.client().get(SUBSCRIPTION)) is None


def test_after_cancellation_the_new_subscription_is_shown(team, plan, yearly_plan):
    old = SubscriptionFactory(organization=team.org, plan=plan)
    subscription_transition(subscription=old, to_status=Status.CANCELED)
    new = SubscriptionFactory(organization=team.org, plan=yearly_plan)

    assert assert_ok(team.client().get(SUBSCRIPTION))["id"] == str(new.id)


@pytest.mark.parametrize("role", ROLES)
def test_every_member_can_read_the_subscription(team, plan, role):
    subscription = SubscriptionFactory(organization=team.org, plan=plan)

    assert assert_ok(team.client(role).get(SUBSCRIPTION))["id"] == str(subscription.id)


def test_the_subscription_is_that_of_the_current_organization(team, plan):
    SubscriptionFactory(organization=team.org, plan=plan)
    owner = team.users[Role.OWNER]

    # Without X-Current-Org the owner acts on their personal organization, which has none.
    assert assert_ok(people_client(owner).get(SUBSCRIPTION)) is None
    assert assert_ok(people_client(owner, team.org).get(SUBSCRIPTION))["plan"]["code"] == "starter"


def test_reading_the_subscription_needs_authentication(api_client):
    assert_error(api_client.get(SUBSCRIPTION), 401, "not_authenticated")


def test_another_organizations_subscription_is_404(team, plan):
    foreign = SubscriptionFactory(plan=plan).organization
    client = people_client(team.users[Role.OWNER], foreign)

    assert_error(client.get(SUBSCRIPTION), 404, "not_found")


def test_an_unknown_organization_is_404(team):
    client = people_client(team.users[Role.OWNER])

    assert_error(client.get(SUBSCRIPTION, HTTP_X_CURRENT_ORG=str(uuid.uuid4())), 404, "not_found")


# --- the organization's plan ----------------------------------------------------------------


def plan_code_of(client, path: str) -> str:
    return assert_ok(client.get(path))["plan"]["code"]


@pytest.mark.parametrize("path", [ENTITLEMENTS, LIMITS])
@pytest.mark.parametrize(
    "status, expected",
    [
        (Status.TRIALING, "scale"),
        (Status.ACTIVE, "scale"),
        (Status.PAST_DUE, "scale"),
        (Status.INCOMPLETE, "free"),
        (Status.CANCELED, "free"),
    ],
)
def test_the_plan_is_the_subscriptions_only_while_it_is_entitled(team, scale_plan, free_plan, path, status, expected):
    subscription = SubscriptionFactory(organization=team.org, plan=scale_plan, status=Status.INCOMPLETE, trial_days=0)
    if status != Status.INCOMPLETE:
        if status == Status.PAST_DUE:
            subscription_transition(subscription=subscription, to_status=Status.ACTIVE)
        subscription_transition(subscription=subscription, to_status=status)

    assert plan_code_of(team.client(), path) == expected


def test_entitlements_show_the_subscribed_plans_features(team, scale_plan):
    SubscriptionFactory(organization=team.org, plan=scale_plan)

    data = assert_ok(team.client().get(ENTITLEMENTS))

    assert data["features"] == {"analytics": True, "api_keys": 10}


def test_limits_show_the_subscribed_plans_included_quantities(team, scale_plan):
    SubscriptionFactory(organization=team.org, plan=scale_plan)

    data = assert_ok(team.client().get(LIMITS))

    assert data["limits"] == {"tokens_monthly": 50_000, "requests_monthly": 5_000}


def test_without_a_subscription_the_default_plan_applies(team, free_plan):
    data = assert_ok(team.client().get(LIMITS))

    assert data["plan"]["code"] == "free"
    assert data["limits"] == {"tokens_monthly": 10_000, "requests_monthly": 1_000}


def test_cancellation_returns_the_organization_to_the_default_plan(team, scale_plan):
    subscription = SubscriptionFactory(organization=team.org, plan=scale_plan)
    client = team.client()
    assert plan_code_of(client, ENTITLEMENTS) == "scale"

    subscription_transition(subscription=subscription, to_status=Status.CANCELED)

    assert plan_code_of(client, ENTITLEMENTS) == "free"


# --- quota periods follow the billing anchor -----------------------------------------------


@time_machine.travel(utc(2026, 3, 5, 12), tick=False)
def test_the_usage_period_of_a_subscriber_runs_from_its_billing_anchor(team, scale_plan):
    SubscriptionFactory(organization=team.org, plan=scale_plan, start=utc(2026, 1, 31))
    service, _ = service_client(team.org)
    assert_ok(service.post(REPORT, {"event_type": "tokens_used", "quantity": 700}, format="json"), 201)

    data = assert_ok(team.client().get(USAGE))

    assert (data["period_start"], data["period_end"]) == ("2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z")
    assert data["tokens_used"] == 700


@time_machine.travel(utc(2026, 3, 5, 12), tick=False)
def test_without_a_subscription_the_usage_period_is_the_calendar_month(team):
    data = assert_ok(team.client().get(USAGE))

    assert (data["period_start"], data["period_end"]) == ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z")


@time_machine.travel(utc(2026, 3, 5, 12), tick=False)
def test_usage_before_the_anchored_period_start_does_not_count(team, scale_plan):
    SubscriptionFactory(organization=team.org, plan=scale_plan, start=utc(2026, 1, 31))
    service, _ = service_client(team.org)
    for when, quantity in ((utc(2026, 2, 27, 23, 59), 1_000), (utc(2026, 2, 28, 0, 1), 30)):
        event = {"event_type": "tokens_used", "quantity": quantity, "timestamp": iso(when)}
        assert_ok(service.post(REPORT, event, format="json"), 201)

    assert assert_ok(team.client().get(USAGE))["tokens_used"] == 30
    remaining = assert_ok(service.get(QUOTA, {"tokens_needed": 1}))["remaining"]
    assert remaining["tokens"] == 50_000 - 30


@time_machine.travel(utc(2026, 3, 5, 12), tick=False)
def test_quota_check_resets_at_the_end_of_the_anchored_period(team, scale_plan):
    SubscriptionFactory(organization=team.org, plan=scale_plan, start=utc(2026, 1, 31))
    service, _ = service_client(team.org)

    data = assert_ok(service.get(QUOTA, {"tokens_needed": 1}))

    assert data["resets_at"] == "2026-03-31T00:00:00Z"


@time_machine.travel(utc(2028, 2, 10, 12), tick=False)
def test_quota_check_resets_on_feb_29_in_a_leap_year(team, scale_plan):
    SubscriptionFactory(organization=team.org, plan=scale_plan, start=utc(2028, 1, 31))
    service, _ = service_client(team.org)

    assert assert_ok(service.get(QUOTA, {"tokens_needed": 1}))["resets_at"] == "2028-02-29T00:00:00Z"


@time_machine.travel(utc(2026, 3, 5, 12), tick=False)
def test_a_subscription_change_reaches_a_cached_key_at_once(team, scale_plan):
    service, secret = service_client(team.org)
    # On the free plan: 10,000 tokens, hard. The check caches the key's principal.
    assert_error(service.get(QUOTA, {"tokens_needed": 20_000}), 429, "quota_exceeded")
    assert cache.get(_cache_key(hash_of(secret))) is not None

    subscription = subscription_create(
        organization=team.org, plan=scale_plan, start=utc(2026, 1, 31), status=Status.ACTIVE
    )

    data = assert_ok(service.get(QUOTA, {"tokens_needed": 20_000}))
    assert data["remaining"]["tokens"] == 50_000
    assert data["resets_at"] == "2026-03-31T00:00:00Z"

    subscription_transition(subscription=subscription, to_status=Status.CANCELED)

    response = service.get(QUOTA, {"tokens_needed": 20_000})
    assert_error(response, 429, "quota_exceeded")
    assert response.json()["data"]["resets_at"] == "2026-04-01T00:00:00Z"


@time_machine.travel(utc(2026, 3, 5, 12), tick=False)
def test_a_past_due_subscription_keeps_its_quota(team, scale_plan):
    subscription = SubscriptionFactory(organization=team.org, plan=scale_plan, start=utc(2026, 1, 31))
    service, _ = service_client(team.org)
    assert_ok(service.get(QUOTA, {"tokens_needed": 20_000}))

    subscription_transition(subscription=subscription, to_status=Status.PAST_DUE)

    assert assert_ok(service.get(QUOTA, {"tokens_needed": 20_000}))["allowed"] is True


def test_another_organizations_subscription_does_not_change_this_ones_quota(team, scale_plan):
    SubscriptionFactory(organization=OrganizationFactory(), plan=scale_plan)
    service, _ = service_client(team.org)

    assert_error(service.get(QUOTA, {"tokens_needed": 20_000}), 429, "quota_exceeded")


def test_a_user_of_another_organization_cannot_read_this_ones_subscription(team, plan):
    SubscriptionFactory(organization=team.org, plan=plan)
    stranger = UserFactory()

    assert_error(people_client(stranger, team.org).get(SUBSCRIPTION), 404, "not_found")
