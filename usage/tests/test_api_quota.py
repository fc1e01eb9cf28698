"""GET /api/v1/usage/quota-check: within the plan's hard quotas, or 429 quota_exceeded."""

import pytest

from apikeys.models import Scope
from plans.models import BillableMetric, PlanCharge

from .helpers import FREE_REQUESTS, FREE_TOKENS, QUOTA, assert_error, assert_ok, this_month

pytestmark = pytest.mark.django_db


def next_reset() -> str:
    """Midnight UTC on the first of next month."""
    return f"{this_month()[1]:%Y-%m-%d}T00:00:00Z"


def use_tokens(service, quantity: int) -> None:
    assert_ok(service.report(event_type="tokens_used", quantity=quantity), 201)


def use_requests(service, count: int) -> None:
    assert_ok(service.batch([{"event_type": "api_call"} for _ in range(count)]))


# --- within and over the quota ----------------------------------------------------------


def test_quota_check_allows_usage_within_the_hard_quota(service):
    use_tokens(service, 9_000)

    data = assert_ok(service.quota(tokens_needed=1_000, requests_needed=1))

    assert data == {
        "allowed": True,
        "remaining": {"tokens": 1_000, "requests": FREE_REQUESTS},
        "resets_at": next_reset(),
    }


def test_quota_check_refuses_usage_over_the_hard_quota_with_429(service):
    use_tokens(service, 9_000)

    response = service.quota(tokens_needed=1_001)

    error = assert_error(response, 429, "quota_exceeded")
    assert "tokens" in error["message"]
    assert response.json()["data"] == {
        "allowed": False,
        "remaining": {"tokens": 1_000, "requests": FREE_REQUESTS},
        "resets_at": next_reset(),
    }


def test_quota_check_refuses_once_the_quota_is_used_up(service):
    use_requests(service, FREE_REQUESTS)

    response = service.quota(requests_needed=1)

    assert_error(response, 429, "quota_exceeded")
    assert response.json()["data"]["remaining"] == {"tokens": FREE_TOKENS, "requests": 0}


def test_quota_check_by_metric_and_quantity(service):
    use_tokens(service, 9_990)

    assert assert_ok(service.quota(metric="tokens", quantity=10))["allowed"] is True
    assert_error(service.quota(metric="tokens", quantity=11), 429, "quota_exceeded")


def test_quota_check_metric_quantity_defaults_to_one(service):
    use_requests(service, FREE_REQUESTS - 1)

    assert assert_ok(service.quota(metric="requests"))["remaining"]["requests"] == 1
    use_requests(service, 1)
    assert_error(service.quota(metric="requests"), 429, "quota_exceeded")


def test_quota_check_refuses_when_any_requested_metric_is_over(service):
    use_tokens(service, FREE_TOKENS)

    response = service.quota(tokens_needed=1, requests_needed=1)

    assert_error(response, 429, "quota_exceeded")
    assert response.json()["data"]["allowed"] is False


def test_quota_check_of_zero_is_allowed_at_the_limit(service):
    use_tokens(service, FREE_TOKENS)

    assert assert_ok(service.quota(tokens_needed=0))["remaining"]["tokens"] == 0


def test_soft_policy_allows_overage(service, free_plan):
    charge = PlanCharge.objects.get(plan=free_plan, metric__code="tokens")
    charge.policy = "soft"
    charge.save()
    use_tokens(service, FREE_TOKENS + 500)

    data = assert_ok(service.quota(tokens_needed=5_000))

    assert data["allowed"] is True
    assert data["remaining"]["tokens"] == 0


def test_soft_max_metric_allows_overage(service, extra_metrics):
    assert_ok(service.report(event_type="memory_sampled", quantity=4_000), 201)

    data = assert_ok(service.quota(metric="peak_memory", quantity=1_000))

    assert data["allowed"] is True
    assert data["remaining"]["peak_memory"] == 96


def test_hard_unique_count_metric_is_enforced(service, extra_metrics):
    for user_id in ["a", "b", "c", "a"]:
        assert_ok(service.report(event_type="user_active", metadata={"user_id": user_id}), 201)

    response = service.quota(metric="active_users", quantity=1)

    assert_error(response, 429, "quota_exceeded")
    assert response.json()["data"]["remaining"]["active_users"] == 0


def test_a_metric_the_plan_does_not_charge_is_allowed(service):
    BillableMetric.objects.create(code="storage_gb", name="Storage", unit="GB", event_types=["stored"])

    data = assert_ok(service.quota(metric="storage_gb", quantity=10**9))

    assert data["allowed"] is True
    assert "storage_gb" not in data["remaining"]


def test_usage_of_another_organization_does_not_count(service, other_service):
    use_tokens(other_service, FREE_TOKENS)

    data = assert_ok(service.quota(tokens_needed=FREE_TOKENS))

    assert data["remaining"]["tokens"] == FREE_TOKENS


def test_test_mode_usage_does_not_count(service, test_service):
    use_tokens(test_service, FREE_TOKENS)

    assert assert_ok(service.quota(tokens_needed=FREE_TOKENS))["allowed"] is True


# --- bad queries ---------------------------------------------------------------------------


def test_quota_check_of_an_unknown_metric_is_400(service):
    error = assert_error(service.quota(metric="coffee", quantity=1), 400, "validation_error")

    assert "metric" in error["details"]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"tokens_needed": -1}, "tokens_needed"),
        ({"requests_needed": -5}, "requests_needed"),
        ({"metric": "tokens", "quantity": -1}, "quantity"),
        ({"tokens_needed": "lots"}, "tokens_needed"),
    ],
    ids=["negative tokens", "negative requests", "negative quantity", "not a number"],
)
def test_quota_check_with_a_bad_quantity_is_400(service, params, field):
    error = assert_error(service.quota(**params), 400, "validation_error")

    assert field in error["details"]


def test_quota_check_asking_for_nothing_is_400(service):
    error = assert_error(service.quota(), 400, "validation_error")

    assert "metric" in error["details"]


# --- authentication and scopes -----------------------------------------------------------------


def test_quota_check_without_credentials_is_401(api_client, org):
    assert_error(api_client.get(QUOTA, {"tokens_needed": 1}), 401, "not_authenticated")


def test_quota_check_with_a_users_jwt_is_401(auth_client):
    assert_error(auth_client.get(QUOTA, {"tokens_needed": 1}), 401, "authentication_failed")


def test_quota_check_with_a_key_lacking_usage_read_is_403(org, make_service):
    writer = make_service(org, scopes=[Scope.USAGE_WRITE])

    assert_error(writer.quota(tokens_needed=1), 403, "permission_denied")
