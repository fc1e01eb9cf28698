"""The in-process catalogue snapshot of metrics and plans used by the hot paths."""

import pytest

from plans.catalogue import catalogue
from plans.models import BillableMetric

from .factories import BillableMetricFactory, PlanChargeFactory, PlanFactory

pytestmark = pytest.mark.django_db


def test_the_default_metrics_are_mapped_by_their_event_types():
    snapshot = catalogue()

    assert snapshot.metrics_by_event_type["api_call"].code == "requests"
    assert snapshot.metrics_by_event_type["tokens_used"].code == "tokens"
    assert snapshot.metrics_by_code["tokens"].aggregation == "sum"
    assert snapshot.metrics_by_code["requests"].aggregation == "count"


def test_a_metric_is_mapped_by_each_of_its_event_types():
    metric = BillableMetricFactory(code="minutes", unit="minute", event_types=["call_ended", "call_transferred"])

    snapshot = catalogue()

    for event_type in ("call_ended", "call_transferred"):
        info = snapshot.metrics_by_event_type[event_type]
        assert (info.id, info.code, info.unit) == (str(metric.id), "minutes", "minute")


def test_the_snapshot_knows_the_default_plan_and_its_terms(free_plan):
    snapshot = catalogue()

    assert snapshot.default_plan_id == str(free_plan.id)
    terms = snapshot.plans[str(free_plan.id)]
    assert terms.code == "free"
    assert terms.features == free_plan.features
    assert {code: (c.included, c.policy) for code, c in terms.charges.items()} == {
        "tokens": (10_000, "hard"),
        "requests": (1_000, "hard"),
    }


def test_a_new_metric_shows_at_once():
    catalogue()  # loaded before the change

    BillableMetricFactory(code="sms", event_types=["sms_sent"])

    assert catalogue().metrics_by_event_type["sms_sent"].code == "sms"


def test_a_changed_event_type_shows_at_once():
    metric = BillableMetricFactory(code="sms", event_types=["sms_sent"])
    assert "sms_sent" in catalogue().metrics_by_event_type

    metric.event_types = ["sms_delivered"]
    metric.save()

    snapshot = catalogue()
    assert "sms_sent" not in snapshot.metrics_by_event_type
    assert snapshot.metrics_by_event_type["sms_delivered"].code == "sms"


def test_changed_plan_features_show_at_once(free_plan):
    catalogue()

    free_plan.features = {**free_plan.features, "usage_history": True}
    free_plan.save()

    assert catalogue().plans[str(free_plan.id)].features["usage_history"] is True


def test_an_added_and_a_deleted_charge_show_at_once():
    plan = PlanFactory()
    assert catalogue().plans[str(plan.id)].charges == {}

    charge = PlanChargeFactory(plan=plan, metric=BillableMetricFactory(code="seats"), included_quantity=5)
    assert catalogue().plans[str(plan.id)].charges["seats"].included == 5

    charge.delete()
    assert catalogue().plans[str(plan.id)].charges == {}


def test_a_new_default_plan_shows_at_once(free_plan):
    assert catalogue().default_plan_id == str(free_plan.id)

    free_plan.is_default = False
    free_plan.save()
    plan = PlanFactory(is_default=True)

    assert catalogue().default_plan_id == str(plan.id)


def test_inactive_metrics_are_left_out():
    BillableMetricFactory(code="retired", event_types=["retired_event"], is_active=False)

    snapshot = catalogue()

    assert "retired" not in snapshot.metrics_by_code
    assert "retired_event" not in snapshot.metrics_by_event_type


def test_a_deactivated_metric_disappears_at_once():
    metric = BillableMetricFactory(code="sms", event_types=["sms_sent"])
    assert "sms_sent" in catalogue().metrics_by_event_type

    metric.is_active = False
    metric.save()

    snapshot = catalogue()
    assert "sms" not in snapshot.metrics_by_code
    assert "sms_sent" not in snapshot.metrics_by_event_type


def test_charges_of_inactive_metrics_are_left_out_of_plan_terms():
    plan = PlanFactory()
    PlanChargeFactory(plan=plan, metric=BillableMetricFactory(code="live_metric"))
    PlanChargeFactory(plan=plan, metric=BillableMetricFactory(code="dead_metric", is_active=False))

    assert set(catalogue().plans[str(plan.id)].charges) == {"live_metric"}


def test_an_inactive_metric_does_not_take_over_an_event_type_of_an_active_one():
    BillableMetricFactory(code="old_requests", event_types=["api_call"], is_active=False)

    assert catalogue().metrics_by_event_type["api_call"].code == "requests"


def test_a_change_without_signals_shows_only_after_the_ttl(settings):
    settings.CATALOGUE_TTL = 3600
    catalogue()
    BillableMetric.objects.filter(code="requests").update(event_types=["request_made"])  # like another process

    assert catalogue().metrics_by_event_type["api_call"].code == "requests"  # still the snapshot

    settings.CATALOGUE_TTL = 0
    snapshot = catalogue()
    assert "api_call" not in snapshot.metrics_by_event_type
    assert snapshot.metrics_by_event_type["request_made"].code == "requests"


def test_inactive_plans_stay_in_the_snapshot_for_their_subscribers():
    plan = PlanFactory(is_active=False)
    assert str(plan.id) in catalogue().plans
