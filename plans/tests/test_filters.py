"""GET /plans reads `?active=` with plans.filters.PlanFilter, as DRF's BooleanField reads it."""

import pytest

from plans.filters import PlanFilter
from plans.serializers import PlanListQuerySerializer

from .factories import PlanFactory

pytestmark = pytest.mark.django_db

PLANS_URL = "/api/v1/plans"


def codes(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {plan["code"] for plan in response.json()["data"]}


def test_the_filter_reads_exactly_the_documented_parameters():
    assert list(PlanFilter.base_filters) == list(PlanListQuerySerializer().fields)


@pytest.mark.parametrize("value", ["true", "True", "1", "yes", "on", "t", "y"])
def test_a_true_value_lists_the_active_plans(api_client, free_plan, value):
    PlanFactory(code="retired", is_active=False)

    assert codes(api_client.get(PLANS_URL, {"active": value})) == {"free"}


@pytest.mark.parametrize("value", ["false", "FALSE", "0", "no", "off", "f", "n"])
def test_a_false_value_lists_the_inactive_plans(api_client, free_plan, value):
    PlanFactory(code="retired", is_active=False)

    assert codes(api_client.get(PLANS_URL, {"active": value})) == {"retired"}


@pytest.mark.parametrize("value", ["", "null"])
def test_an_empty_or_null_value_does_not_filter(api_client, free_plan, value):
    PlanFactory(code="retired", is_active=False)

    assert codes(api_client.get(PLANS_URL, {"active": value})) == {"free", "retired"}


@pytest.mark.parametrize("value", ["garbage", "2", "None"])
def test_another_value_is_refused_in_drfs_words(api_client, value):
    response = api_client.get(PLANS_URL, {"active": value})

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"active": ["Must be a valid boolean."]}
