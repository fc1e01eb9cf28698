"""GET /api/v1/plans, /api/v1/plans/{id}, /api/v1/entitlements and the plan feature gate."""

import uuid
from decimal import Decimal

import pytest
from django.urls import path
from rest_framework.permissions import IsAuthenticated

from accounts.tests.factories import UserFactory
from billing_project.api.responses import ok
from billing_project.testing import assert_error, assert_ok
from organizations.context import OrgScopedAPIView
from organizations.tests.factories import OrganizationFactory
from plans.models import Plan
from plans.permissions import requires_feature

from .factories import BillableMetricFactory, PlanChargeFactory, PlanFactory

pytestmark = pytest.mark.django_db

PLANS_URL = "/api/v1/plans"
ENTITLEMENTS_URL = "/api/v1/entitlements"
HISTORY_URL = "/api/v1/usage/history"

PLAN_FIELDS = {
    "id",
    "code",
    "version",
    "name",
    "description",
    "price_cents",
    "currency",
    "interval",
    "trial_days",
    "features",
    "limits",
    "charges",
    "active",
    "default",
}
CHARGE_FIELDS = {
    "metric",
    "metric_name",
    "unit",
    "included_quantity",
    "policy",
    "pricing_model",
    "unit_price",
    "package_size",
    "tiers",
}


def plan_url(plan_id) -> str:
    return f"{PLANS_URL}/{plan_id}"


def codes(data) -> set[str]:
    return {plan["code"] for plan in data}


def entry(data, code: str) -> dict:
    return next(plan for plan in data if plan["code"] == code)


# --- GET /plans ----------------------------------------------------------------------


def test_plan_list_needs_no_authentication(api_client, free_plan):
    data = assert_ok(api_client.get(PLANS_URL))
    assert "free" in codes(data)


def test_plan_list_ignores_an_invalid_bearer_token(api_client, free_plan):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    data = assert_ok(api_client.get(PLANS_URL))
    assert "free" in codes(data)


def test_plan_entry_has_the_documented_fields(api_client):
    plan = PlanFactory(
        code="starter",
        name="Starter",
        description="For small teams.",
        price_cents=1999,
        currency="EUR",
        interval="year",
        trial_days=7,
        features={"analytics": True, "api_keys": 5},
    )

    data = assert_ok(api_client.get(PLANS_URL))

    starter = entry(data, "starter")
    assert set(starter) == PLAN_FIELDS
    assert starter["id"] == str(plan.id)
    assert starter["name"] == "Starter"
    assert starter["description"] == "For small teams."
    assert starter["price_cents"] == 1999
    assert starter["currency"] == "EUR"
    assert starter["interval"] == "year"
    assert starter["trial_days"] == 7
    assert starter["features"] == {"analytics": True, "api_keys": 5}
    assert starter["active"] is True
    assert starter["default"] is False


def test_plan_limits_map_metric_codes_to_included_quantities(api_client):
    plan = PlanFactory(code="metered")
    PlanChargeFactory(plan=plan, metric=BillableMetricFactory(code="minutes"), included_quantity=500)
    PlanChargeFactory(plan=plan, metric=BillableMetricFactory(code="messages"), included_quantity=None)

    data = assert_ok(api_client.get(PLANS_URL))

    assert entry(data, "metered")["limits"] == {"minutes": 500, "messages": None}


def test_free_plan_lists_the_default_metric_limits(api_client, free_plan):
    data = assert_ok(api_client.get(PLANS_URL))

    free = entry(data, "free")
    assert free["limits"] == {"tokens": 10_000, "requests": 1_000}
    assert free["default"] is True
    assert free["price_cents"] == 0


def test_plan_charge_shows_its_metric_and_unit_price_as_a_decimal_string(api_client):
    plan = PlanFactory(code="metered")
    metric = BillableMetricFactory(code="minutes", name="Call minutes", unit="minute")
    PlanChargeFactory(
        plan=plan, metric=metric, included_quantity=100, policy="hard", unit_price=Decimal("0.125"), package_size=1
    )

    charge = entry(assert_ok(api_client.get(PLANS_URL)), "metered")["charges"][0]

    assert set(charge) == CHARGE_FIELDS
    assert charge["metric"] == "minutes"
    assert charge["metric_name"] == "Call minutes"
    assert charge["unit"] == "minute"
    assert charge["included_quantity"] == 100
    assert charge["policy"] == "hard"
    assert charge["pricing_model"] == "per_unit"
    assert isinstance(charge["unit_price"], str)
    assert Decimal(charge["unit_price"]) == Decimal("0.125")


def test_plan_charge_lists_its_tiers_with_decimal_string_prices(api_client):
    plan = PlanFactory(code="tiered")
    tiers = [
        {"up_to": 1000, "unit_price": "0.5", "flat_fee_cents": 100},
        {"up_to": None, "unit_price": "0.25", "flat_fee_cents": 0},
    ]
    PlanChargeFactory(plan=plan, pricing_model="graduated", unit_price=0, tiers=tiers)

    charge = entry(assert_ok(api_client.get(PLANS_URL)), "tiered")["charges"][0]

    assert charge["pricing_model"] == "graduated"
    assert [(t["up_to"], Decimal(t["unit_price"]), t["flat_fee_cents"]) for t in charge["tiers"]] == [
        (1000, Decimal("0.5"), 100),
        (None, Decimal("0.25"), 0),
    ]
    assert all(isinstance(t["unit_price"], str) for t in charge["tiers"])


def test_active_true_lists_only_active_plans(api_client, free_plan):
    PlanFactory(code="current")
    PlanFactory(code="retired", is_active=False)

    data = assert_ok(api_client.get(PLANS_URL, {"active": "true"}))

    assert codes(data) == {"free", "current"}
    assert all(plan["active"] is True for plan in data)


def test_active_false_lists_only_inactive_plans(api_client, free_plan):
    PlanFactory(code="current")
    PlanFactory(code="retired", is_active=False)

    data = assert_ok(api_client.get(PLANS_URL, {"active": "false"}))

    assert codes(data) == {"retired"}


def test_without_the_active_filter_every_plan_is_listed(api_client, free_plan):
    PlanFactory(code="current")
    PlanFactory(code="retired", is_active=False)

    data = assert_ok(api_client.get(PLANS_URL))

    assert codes(data) == {"free", "current", "retired"}


def test_active_filter_with_a_non_boolean_is_400(api_client):
    error = assert_error(api_client.get(PLANS_URL, {"active": "garbage"}), 400, "validation_error")
    assert "active" in error["details"]


def test_plan_list_is_paginated_with_meta(api_client, free_plan):
    for index in range(4):
        PlanFactory(code=f"extra_{index}", sort_order=10 + index)

    response = api_client.get(PLANS_URL, {"limit": 2, "offset": 1})

    data = assert_ok(response)
    assert response.json()["meta"] == {"total": 5, "limit": 2, "offset": 1}
    assert [plan["code"] for plan in data] == ["extra_0", "extra_1"]


def test_plan_list_meta_defaults_to_20_from_0(api_client, free_plan):
    response = api_client.get(PLANS_URL)
    assert_ok(response)
    assert response.json()["meta"] == {"total": Plan.objects.count(), "limit": 20, "offset": 0}


def test_plan_list_queries_do_not_grow_with_the_number_of_plans(api_client, django_assert_max_num_queries):
    for _ in range(6):
        plan = PlanFactory()
        PlanChargeFactory.create_batch(2, plan=plan)

    with django_assert_max_num_queries(4):
        data = assert_ok(api_client.get(PLANS_URL))
    assert len(data) == 7


# --- GET /plans/{id} -----------------------------------------------------------------


def test_plan_detail_returns_the_plan(api_client):
    plan = PlanFactory(code="detail_me", price_cents=500)
    PlanChargeFactory(plan=plan, metric=BillableMetricFactory(code="seats"), included_quantity=3)

    data = assert_ok(api_client.get(plan_url(plan.id)))

    assert set(data) == PLAN_FIELDS
    assert data["id"] == str(plan.id)
    assert data["code"] == "detail_me"
    assert data["price_cents"] == 500
    assert data["limits"] == {"seats": 3}


def test_plan_detail_of_an_unknown_id_is_404(api_client):
    assert_error(api_client.get(plan_url(uuid.uuid4())), 404, "not_found")


def test_plan_detail_of_a_non_uuid_is_404(api_client):
    assert_error(api_client.get(plan_url("free")), 404, "not_found")


# --- GET /entitlements ---------------------------------------------------------------


def test_entitlements_show_the_default_plan_and_its_features(auth_client, free_plan):
    data = assert_ok(auth_client.get(ENTITLEMENTS_URL))

    assert data == {
        "plan": {"id": str(free_plan.id), "code": "free", "name": free_plan.name},
        "features": free_plan.features,
    }
    assert data["features"]["api_keys"] == 3


def test_entitlements_follow_a_new_default_plan_at_once(auth_client, free_plan, make_default_plan):
    assert_ok(auth_client.get(ENTITLEMENTS_URL))  # loads the catalogue with the Free plan
    plan = make_default_plan(code="house", name="House", features={"usage_history": True})

    data = assert_ok(auth_client.get(ENTITLEMENTS_URL))

    assert data == {"plan": {"id": str(plan.id), "code": "house", "name": "House"}, "features": {"usage_history": True}}


def test_entitlements_need_authentication(api_client):
    assert_error(api_client.get(ENTITLEMENTS_URL), 401, "not_authenticated")


def test_entitlements_of_an_org_you_are_not_in_is_404(auth_client):
    foreign = OrganizationFactory()
    response = auth_client.get(ENTITLEMENTS_URL, HTTP_X_CURRENT_ORG=str(foreign.id))
    assert_error(response, 404, "not_found")


def test_entitlements_of_another_users_personal_org_is_404(auth_client):
    other = UserFactory()
    foreign = other.memberships.get().organization
    response = auth_client.get(ENTITLEMENTS_URL, HTTP_X_CURRENT_ORG=str(foreign.id))
    assert_error(response, 404, "not_found")


# --- the plan feature gate (requires_feature) ------------------------------------------
# No endpoint is gated by a plan feature today (usage history is every plan's since issue
# 14; the premium analytics of issue 16 will be), so the gate is tried on a view of its
# own, routed by this module for the tests marked `gated`.


class GatedView(OrgScopedAPIView):
    permission_classes = [IsAuthenticated, requires_feature("priority_support")]

    def get(self, request):
        return ok({"seen": True})


urlpatterns = [path("gated", GatedView.as_view())]
GATED_URL = "/gated"
gated = pytest.mark.urls(__name__)


@gated
def test_feature_gate_refuses_a_feature_the_free_plan_lacks(auth_client, free_plan):
    assert free_plan.features["priority_support"] is False

    error = assert_error(auth_client.get(GATED_URL), 403, "feature_not_in_plan")

    assert "priority_support" in error["message"]


@gated
def test_feature_gate_refuses_a_feature_missing_from_the_plan(auth_client, make_default_plan):
    make_default_plan(features={"analytics": True})
    assert_error(auth_client.get(GATED_URL), 403, "feature_not_in_plan")


@gated
def test_feature_gate_lets_through_a_feature_the_plan_grants(auth_client, make_default_plan):
    make_default_plan(features={"priority_support": True})

    assert assert_ok(auth_client.get(GATED_URL)) == {"seen": True}


@gated
def test_feature_gate_still_needs_authentication(api_client, make_default_plan):
    make_default_plan(features={"priority_support": True})
    assert_error(api_client.get(GATED_URL), 401, "not_authenticated")


def test_usage_history_is_not_gated_by_a_plan_feature(auth_client, free_plan):
    """Every plan sees its own usage history (issue 14), whatever its features say."""
    assert free_plan.features["usage_history"] is False

    assert_ok(auth_client.get(HISTORY_URL))
