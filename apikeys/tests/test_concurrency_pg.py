"""Concurrent key management on PostgreSQL: the plan's key limit holds under a race."""

import pytest
from rest_framework.test import APIClient

from accounts.services import token_pair_for
from accounts.tests.factories import UserFactory
from apikeys.models import APIKey
from billing_project.testing import run_concurrently
from plans.models import Plan
from plans.tests.factories import PlanFactory

from .helpers import KEYS_URL, key_url

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROUNDS = 3


def default_plan_allowing(keys: int) -> Plan:
    """Transactional tests flush the database, migration rows included: make the default plan here."""
    Plan.objects.filter(is_default=True).update(is_default=False)
    return PlanFactory(is_default=True, features={"api_keys": keys})


def client_for(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_six_concurrent_creates_on_a_limit_of_three_keep_three(round_):
    default_plan_allowing(3)
    owner = UserFactory()
    token = token_pair_for(owner).token

    def create(index):
        return lambda: client_for(token).post(
            KEYS_URL, {"name": f"key {index}", "scopes": ["usage:write"]}, format="json"
        )

    responses = run_concurrently([create(index) for index in range(6)])

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201, 201, 201, 403, 403, 403]
    refused = [response.json() for response in responses if response.status_code == 403]
    assert {body["error"]["code"] for body in refused} == {"feature_not_in_plan"}
    assert APIKey.objects.filter(revoked_at__isnull=True).count() == 3


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_concurrent_revokes_of_one_key_revoke_it_once(round_):
    default_plan_allowing(3)
    owner = UserFactory()
    token = token_pair_for(owner).token
    created = client_for(token).post(KEYS_URL, {"name": "k", "scopes": ["usage:write"]}, format="json")
    key_id = created.json()["data"]["id"]

    responses = run_concurrently([lambda: client_for(token).delete(key_url(key_id)) for _ in range(2)])

    assert sorted(response.status_code for response in responses) == [200, 409]
    assert APIKey.objects.get(pk=key_id).revoked_at is not None
