"""The plans admin (staff) and the demo catalogue of `manage.py seed_demo`."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.tests.factories import UserFactory
from plans.models import BillableMetric, Plan, PlanCharge

from .factories import BillableMetricFactory, PlanChargeFactory, PlanFactory

pytestmark = pytest.mark.django_db

PLAN_ADMIN = "/admin/plans/plan/"
METRIC_ADMIN = "/admin/plans/billablemetric/"


@pytest.fixture
def metered_plan() -> Plan:
    plan = PlanFactory(code="metered", name="Metered Plan")
    PlanChargeFactory(plan=plan, metric=BillableMetricFactory(code="minutes", event_types=["call_ended"]))
    return plan


def metric_form(**overrides) -> dict:
    data = {
        "code": "sms",
        "name": "SMS",
        "unit": "message",
        "event_types": '["sms_sent"]',
        "aggregation": "count",
        "aggregation_key": "",
        "is_active": "on",
        "charges-TOTAL_FORMS": "0",
        "charges-INITIAL_FORMS": "0",
        "charges-MIN_NUM_FORMS": "0",
        "charges-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return data


# --- plans -----------------------------------------------------------------------------


def test_plan_changelist_lists_the_plans(staff_client, metered_plan):
    response = staff_client.get(PLAN_ADMIN)

    assert response.status_code == 200
    content = response.content.decode()
    assert "Metered Plan" in content
    assert "Free" in content


def test_plan_changelist_search_and_filter_work(staff_client, metered_plan):
    response = staff_client.get(PLAN_ADMIN, {"q": "metered", "is_active__exact": "1"})

    assert response.status_code == 200
    assert "Metered Plan" in response.content.decode()
    assert "1 result" in response.content.decode()


def test_plan_change_form_shows_its_charges_inline(staff_client, metered_plan):
    response = staff_client.get(f"{PLAN_ADMIN}{metered_plan.id}/change/")

    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="charges-TOTAL_FORMS"' in content
    assert 'name="charges-INITIAL_FORMS" value="1"' in content
    assert "minutes" in content


def test_plan_add_form_opens(staff_client):
    response = staff_client.get(f"{PLAN_ADMIN}add/")
    assert response.status_code == 200
    assert 'name="charges-TOTAL_FORMS"' in response.content.decode()


def test_plan_admin_is_closed_to_non_staff(db):
    client = Client()
    client.force_login(UserFactory())

    response = client.get(PLAN_ADMIN)

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_plan_admin_refuses_a_charge_with_invalid_tiers(staff_client, metered_plan):
    charge = metered_plan.charges.get()
    data = {
        "code": metered_plan.code,
        "name": metered_plan.name,
        "description": "",
        "price_cents": "0",
        "currency": "USD",
        "interval": "month",
        "trial_days": "0",
        "features": "{}",
        "is_active": "on",
        "sort_order": "0",
        "charges-TOTAL_FORMS": "1",
        "charges-INITIAL_FORMS": "1",
        "charges-MIN_NUM_FORMS": "0",
        "charges-MAX_NUM_FORMS": "1000",
        "charges-0-id": str(charge.id),
        "charges-0-plan": str(metered_plan.id),
        "charges-0-metric": str(charge.metric_id),
        "charges-0-included_quantity": "100",
        "charges-0-policy": "soft",
        "charges-0-pricing_model": "graduated",
        "charges-0-unit_price": "0",
        "charges-0-package_size": "1",
        "charges-0-tiers": '[{"up_to": 100, "unit_price": "1"}]',
    }

    response = staff_client.post(f"{PLAN_ADMIN}{metered_plan.id}/change/", data)

    assert response.status_code == 200  # the form again, with the error
    assert "open-ended" in response.content.decode()
    charge.refresh_from_db()
    assert charge.pricing_model == "per_unit"
    assert charge.tiers == []


# --- metrics ---------------------------------------------------------------------------


def test_metric_changelist_lists_metrics_with_their_event_types(staff_client, metered_plan):
    response = staff_client.get(METRIC_ADMIN)

    assert response.status_code == 200
    content = response.content.decode()
    assert "call_ended" in content
    assert "tokens_used" in content


def test_metric_changelist_sorts_by_plan_count(staff_client):
    popular, lonely = BillableMetricFactory(code="popular"), BillableMetricFactory(code="lonely")
    PlanChargeFactory.create_batch(2, metric=popular)

    response = staff_client.get(METRIC_ADMIN, {"o": "-6"})  # plan_count, descending

    assert response.status_code == 200
    content = response.content.decode()
    assert content.index(f"{popular.id}/change/") < content.index(f"{lonely.id}/change/")


def test_metric_change_form_shows_the_plans_charging_it_inline(staff_client, metered_plan):
    metric = BillableMetric.objects.get(code="minutes")

    response = staff_client.get(f"{METRIC_ADMIN}{metric.id}/change/")

    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="charges-TOTAL_FORMS"' in content
    assert 'name="charges-INITIAL_FORMS" value="1"' in content


def test_metric_add_form_opens(staff_client):
    assert staff_client.get(f"{METRIC_ADMIN}add/").status_code == 200


def autocomplete_metrics(client, term: str) -> list[str]:
    response = client.get(
        "/admin/autocomplete/",
        {"term": term, "app_label": "plans", "model_name": "plancharge", "field_name": "metric"},
    )
    assert response.status_code == 200
    return [row["text"] for row in response.json()["results"]]


def test_metric_autocomplete_for_the_charge_inline_finds_by_code(staff_client):
    assert autocomplete_metrics(staff_client, "tok") == ["tokens"]


@pytest.mark.filterwarnings("error::django.core.paginator.UnorderedObjectListWarning")
def test_metric_autocomplete_pages_through_metrics_in_code_order(staff_client):
    BillableMetricFactory(code="zeta")
    BillableMetricFactory(code="alpha")

    assert autocomplete_metrics(staff_client, "") == ["alpha", "requests", "tokens", "zeta"]


def test_metric_admin_creates_a_valid_metric(staff_client):
    response = staff_client.post(f"{METRIC_ADMIN}add/", metric_form())

    assert response.status_code == 302
    metric = BillableMetric.objects.get(code="sms")
    assert metric.event_types == ["sms_sent"]


def test_metric_admin_refuses_an_event_type_another_metric_counts(staff_client):
    response = staff_client.post(f"{METRIC_ADMIN}add/", metric_form(event_types='["api_call"]'))

    assert response.status_code == 200
    assert "Already counted by another metric" in response.content.decode()
    assert not BillableMetric.objects.filter(code="sms").exists()


# --- manage.py seed_demo -----------------------------------------------------------------


def seed_demo() -> None:
    call_command("seed_demo", "--i-know", stdout=StringIO())  # DEBUG is off in tests


def catalogue_state() -> tuple:
    return (
        sorted(Plan.objects.values_list("code", "price_cents", "is_default")),
        sorted(BillableMetric.objects.values_list("code", "event_types", "aggregation")),
        PlanCharge.objects.count(),
    )


def test_seed_demo_creates_the_pro_and_team_plans():
    seed_demo()

    pro = Plan.objects.get(code="pro")
    team = Plan.objects.get(code="team")
    assert (pro.price_cents, team.price_cents) == (2999, 9999)
    assert pro.features["usage_history"] is True
    expected = {"tokens", "requests", "call_minutes", "sms", "api_calls"}
    assert set(pro.charges.values_list("metric__code", flat=True)) == expected
    assert set(team.charges.values_list("metric__code", flat=True)) == expected


def test_seed_demo_creates_the_telephony_metrics():
    seed_demo()

    metrics = {m.code: m for m in BillableMetric.objects.filter(code__in=["call_minutes", "sms", "api_calls"])}
    assert {code: (m.event_types, m.aggregation) for code, m in metrics.items()} == {
        "call_minutes": (["call_completed"], "sum"),
        "sms": (["sms_sent"], "count"),
        "api_calls": (["telephony_api_request"], "count"),
    }


def test_seed_demo_plans_pass_validation():
    seed_demo()

    for plan in Plan.objects.filter(code__in=["pro", "team"]):
        plan.full_clean()
        for charge in plan.charges.all():
            charge.full_clean()
    for metric in BillableMetric.objects.all():
        metric.full_clean()


def test_seed_demo_keeps_the_free_plan_the_default(free_plan):
    seed_demo()
    assert list(Plan.objects.filter(is_default=True)) == [free_plan]


def test_seed_demo_is_idempotent():
    seed_demo()
    first = catalogue_state()

    seed_demo()

    assert catalogue_state() == first
    assert Plan.objects.filter(code="pro").count() == 1


def test_seed_demo_does_not_overwrite_an_edited_plan():
    seed_demo()
    Plan.objects.filter(code="pro").update(price_cents=4999)

    seed_demo()

    assert Plan.objects.get(code="pro").price_cents == 4999
