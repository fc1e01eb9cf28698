"""Validation of plans, metrics and charges: model clean() and database constraints."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from plans.models import BillableMetric, Plan, PlanCharge, validate_tiers

from .factories import BillableMetricFactory, PlanChargeFactory, PlanFactory

pytestmark = pytest.mark.django_db

OPEN = {"up_to": None, "unit_price": "0.1", "flat_fee_cents": 0}


def errors_of(excinfo) -> dict:
    return excinfo.value.message_dict


def tiered_charge(tiers, pricing_model="graduated") -> PlanCharge:
    return PlanChargeFactory.build(
        plan=PlanFactory(), metric=BillableMetricFactory(), pricing_model=pricing_model, tiers=tiers
    )


# --- PlanCharge tiers ----------------------------------------------------------------


@pytest.mark.parametrize("pricing_model", ["graduated", "volume"])
def test_valid_ascending_tiers_ending_open_are_accepted(pricing_model):
    charge = tiered_charge(
        [
            {"up_to": 100, "unit_price": "1", "flat_fee_cents": 500},
            {"up_to": 1000, "unit_price": "0.5"},
            {"up_to": None, "unit_price": "0.25", "flat_fee_cents": 0},
        ],
        pricing_model,
    )
    charge.full_clean()  # does not raise


@pytest.mark.parametrize("pricing_model", ["graduated", "volume"])
def test_tiered_pricing_without_tiers_is_refused(pricing_model):
    with pytest.raises(ValidationError) as excinfo:
        tiered_charge([], pricing_model).full_clean()
    assert "tiers" in errors_of(excinfo)


def test_tiers_that_do_not_ascend_are_refused():
    tiers = [{"up_to": 1000, "unit_price": "1"}, {"up_to": 500, "unit_price": "0.5"}, OPEN]
    with pytest.raises(ValidationError) as excinfo:
        tiered_charge(tiers).full_clean()
    assert "up_to must be a whole number above 1000" in errors_of(excinfo)["tiers"][0]


def test_tiers_with_a_repeated_bound_are_refused():
    tiers = [{"up_to": 100, "unit_price": "1"}, {"up_to": 100, "unit_price": "0.5"}, OPEN]
    with pytest.raises(ValidationError):
        tiered_charge(tiers).full_clean()


def test_a_first_tier_bound_of_zero_is_refused():
    with pytest.raises(ValidationError):
        tiered_charge([{"up_to": 0, "unit_price": "1"}, OPEN]).full_clean()


def test_a_last_tier_with_a_bound_is_refused():
    tiers = [{"up_to": 100, "unit_price": "1"}, {"up_to": 1000, "unit_price": "0.5"}]
    with pytest.raises(ValidationError) as excinfo:
        tiered_charge(tiers).full_clean()
    assert "open-ended" in errors_of(excinfo)["tiers"][0]


def test_an_open_tier_before_the_last_is_refused():
    with pytest.raises(ValidationError):
        tiered_charge([OPEN, OPEN]).full_clean()


def test_a_tier_without_unit_price_is_refused():
    with pytest.raises(ValidationError) as excinfo:
        tiered_charge([{"up_to": None}]).full_clean()
    assert "unit_price" in errors_of(excinfo)["tiers"][0]


@pytest.mark.parametrize("price", ["-0.01", -1, "abc", "NaN", "Infinity", None])
def test_a_tier_price_that_is_negative_or_not_a_number_is_refused(price):
    with pytest.raises(ValidationError):
        tiered_charge([{"up_to": None, "unit_price": price}]).full_clean()


@pytest.mark.parametrize("flat_fee", [-1, 1.5, "100", True, None])
def test_a_flat_fee_that_is_not_a_whole_number_of_cents_is_refused(flat_fee):
    with pytest.raises(ValidationError) as excinfo:
        tiered_charge([{"up_to": None, "unit_price": "1", "flat_fee_cents": flat_fee}]).full_clean()
    assert "flat_fee_cents" in errors_of(excinfo)["tiers"][0]


@pytest.mark.parametrize("bound", [100.5, "100", True])
def test_a_tier_bound_that_is_not_a_whole_number_is_refused(bound):
    with pytest.raises(ValidationError):
        tiered_charge([{"up_to": bound, "unit_price": "1"}, OPEN]).full_clean()


def test_tiers_must_be_a_list_of_objects():
    with pytest.raises(ValidationError):
        validate_tiers({"up_to": None, "unit_price": "1"})
    with pytest.raises(ValidationError):
        validate_tiers(["0.1"])


def test_per_unit_pricing_ignores_the_tiers():
    charge = tiered_charge([], pricing_model="per_unit")
    charge.full_clean()  # does not raise


def test_a_negative_unit_price_is_refused_by_validation():
    charge = PlanChargeFactory.build(plan=PlanFactory(), metric=BillableMetricFactory(), unit_price=Decimal("-1"))
    with pytest.raises(ValidationError) as excinfo:
        charge.full_clean()
    assert "unit_price" in errors_of(excinfo)


def test_package_pricing_needs_at_least_one_unit_per_package():
    charge = PlanChargeFactory.build(
        plan=PlanFactory(), metric=BillableMetricFactory(), pricing_model="package", package_size=0
    )
    with pytest.raises(ValidationError) as excinfo:
        charge.full_clean()
    assert "package_size" in errors_of(excinfo)


# --- BillableMetric ------------------------------------------------------------------


def test_a_metric_with_an_unused_event_type_is_valid():
    BillableMetricFactory.build(code="fresh", event_types=["fresh_event"]).full_clean()


def test_a_metric_may_not_take_an_event_type_of_another_active_metric():
    metric = BillableMetricFactory.build(code="calls", event_types=["call_done", "api_call"])

    with pytest.raises(ValidationError) as excinfo:
        metric.full_clean()

    message = errors_of(excinfo)["event_types"][0]
    assert "api_call (requests)" in message
    assert "call_done" not in message


def test_a_metric_may_take_an_event_type_of_an_inactive_metric():
    BillableMetricFactory(code="old_calls", event_types=["call_done"], is_active=False)
    BillableMetricFactory.build(code="calls", event_types=["call_done"]).full_clean()


def test_an_inactive_metric_may_share_an_event_type():
    BillableMetricFactory.build(code="draft", event_types=["api_call"], is_active=False).full_clean()


def test_a_metric_saved_again_does_not_clash_with_itself():
    metric = BillableMetric.objects.get(code="requests")
    metric.name = "Requests"
    metric.full_clean()  # does not raise


@pytest.mark.parametrize("event_types", [[], "api_call", [""], [1], None])
def test_event_types_must_be_a_non_empty_list_of_names(event_types):
    with pytest.raises(ValidationError) as excinfo:
        BillableMetricFactory.build(event_types=event_types).clean()
    assert "event_types" in errors_of(excinfo)


def test_unique_count_needs_an_aggregation_key():
    metric = BillableMetricFactory.build(aggregation="unique_count", aggregation_key="")
    with pytest.raises(ValidationError) as excinfo:
        metric.full_clean()
    assert "aggregation_key" in errors_of(excinfo)


def test_unique_count_with_an_aggregation_key_is_valid():
    BillableMetricFactory.build(aggregation="unique_count", aggregation_key="user_id").full_clean()


@pytest.mark.parametrize("code", ["Tokens", "1st", "with-dash", ""])
def test_metric_codes_are_lower_case_identifiers(code):
    with pytest.raises(ValidationError) as excinfo:
        BillableMetricFactory.build(code=code).full_clean()
    assert "code" in errors_of(excinfo)


# --- Plan ----------------------------------------------------------------------------


def test_a_paid_default_plan_is_refused(free_plan):
    free_plan.price_cents = 100
    with pytest.raises(ValidationError) as excinfo:
        free_plan.full_clean()
    assert "is_default" in errors_of(excinfo)


def test_a_paid_plan_that_is_not_the_default_is_valid():
    PlanFactory.build(price_cents=100).full_clean()


def test_plan_features_must_be_an_object():
    with pytest.raises(ValidationError) as excinfo:
        PlanFactory.build(features=["analytics"]).full_clean()
    assert "features" in errors_of(excinfo)


def test_a_second_default_plan_is_refused_by_validation(free_plan):
    with pytest.raises(ValidationError):
        PlanFactory.build(is_default=True).full_clean()


def test_the_database_refuses_a_second_default_plan(free_plan):
    with pytest.raises(IntegrityError), transaction.atomic():
        PlanFactory(is_default=True)
    assert list(Plan.objects.filter(is_default=True)) == [free_plan]


def test_the_database_refuses_a_negative_plan_price():
    with pytest.raises(IntegrityError), transaction.atomic():
        PlanFactory(code="negative", price_cents=-1)
    assert not Plan.objects.filter(code="negative").exists()


def test_the_database_refuses_a_negative_unit_price():
    plan = PlanFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        PlanChargeFactory(plan=plan, unit_price=Decimal("-0.5"))
    assert not plan.charges.exists()


def test_the_database_refuses_two_charges_for_one_metric_on_a_plan():
    charge = PlanChargeFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        PlanChargeFactory(plan=charge.plan, metric=charge.metric)
    assert charge.plan.charges.count() == 1


def test_a_metric_with_charges_cannot_be_deleted():
    from django.db.models import ProtectedError

    charge = PlanChargeFactory()
    with pytest.raises(ProtectedError):
        charge.metric.delete()
