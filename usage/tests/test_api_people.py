"""GET /api/v1/usage, /usage/history and /usage/limits: what the people of an organization see."""

import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone

from accounts.tests.factories import UserFactory
from organizations.models import Role
from organizations.tests.factories import MembershipFactory, OrganizationFactory
from plans.models import BillableMetric

from .helpers import (
    FREE_REQUESTS,
    FREE_TOKENS,
    HISTORY,
    LIMITS,
    USAGE,
    assert_error,
    assert_ok,
    iso,
    iso_seconds,
    last_month_moment,
    people_client,
    this_month,
)

pytestmark = pytest.mark.django_db

PEOPLE_ENDPOINTS = [USAGE, HISTORY, LIMITS]


def at_noon(day) -> datetime:
    return datetime.combine(day, time(12), tzinfo=UTC)


def report(service, event_type: str, quantity: int = 1, when: datetime | None = None, **extra) -> None:
    event = {"event_type": event_type, "quantity": quantity, **extra}
    if when is not None:
        event["timestamp"] = iso(when)
    assert_ok(service.report(**event), 201)


# --- GET /usage ---------------------------------------------------------------------------


def test_usage_shows_this_months_totals_against_the_plan(service, people, free_plan):
    report(service, "tokens_used", 1_200)
    report(service, "tokens_used", 300)
    report(service, "api_call")
    start, end = this_month()

    data = assert_ok(people.get(USAGE))

    assert data == {
        "period_start": f"{start:%Y-%m-%d}T00:00:00Z",
        "period_end": f"{end:%Y-%m-%d}T00:00:00Z",
        "plan": {"id": str(free_plan.id), "code": "free", "name": "Free"},
        "tokens_used": 1_500,
        "requests_made": 1,
        "quota": {"tokens": FREE_TOKENS, "requests": FREE_REQUESTS},
        "metrics": {
            "tokens": {
                "used": 1_500,
                "included": FREE_TOKENS,
                "remaining": FREE_TOKENS - 1_500,
                "unit": "token",
                "policy": "hard",
            },
            "requests": {
                "used": 1,
                "included": FREE_REQUESTS,
                "remaining": FREE_REQUESTS - 1,
                "unit": "request",
                "policy": "hard",
            },
        },
    }


def test_usage_of_a_new_organization_is_zero(people):
    data = assert_ok(people.get(USAGE))

    assert (data["tokens_used"], data["requests_made"]) == (0, 0)
    assert data["metrics"]["tokens"]["remaining"] == FREE_TOKENS
    assert "series" not in data


def test_usage_remaining_never_goes_below_zero(service, people):
    report(service, "tokens_used", FREE_TOKENS + 123)

    tokens = assert_ok(people.get(USAGE))["metrics"]["tokens"]

    assert (tokens["used"], tokens["remaining"]) == (FREE_TOKENS + 123, 0)


def test_usage_lists_every_metric_by_its_aggregation(service, people, extra_metrics):
    for quantity in (512, 2_048, 1_024):
        report(service, "memory_sampled", quantity)
    for user_id in ("u1", "u2", "u1"):
        report(service, "user_active", metadata={"user_id": user_id})

    metrics = assert_ok(people.get(USAGE))["metrics"]

    assert metrics["peak_memory"] == {
        "used": 2_048,
        "included": 4_096,
        "remaining": 2_048,
        "unit": "MB",
        "policy": "soft",
    }
    assert metrics["active_users"] == {"used": 2, "included": 3, "remaining": 1, "unit": "user", "policy": "hard"}


def test_usage_shows_a_metric_without_charge_as_unlimited(service, people):
    BillableMetric.objects.create(code="storage_gb", name="Storage", unit="GB", event_types=["stored"])
    report(service, "stored", 40)

    metric = assert_ok(people.get(USAGE))["metrics"]["storage_gb"]

    assert metric == {"used": 40, "included": None, "remaining": None, "unit": "GB", "policy": None}


def test_usage_leaves_out_other_organizations_and_test_mode(service, test_service, other_service, people):
    report(service, "tokens_used", 10)
    report(test_service, "tokens_used", 1_000)
    report(other_service, "tokens_used", 2_000)

    assert assert_ok(people.get(USAGE))["tokens_used"] == 10


def test_usage_grouped_by_day_adds_a_series_up_to_today(service, people):
    now = timezone.now()
    report(service, "tokens_used", 40)  # now
    report(service, "api_call")
    start, _ = this_month()

    data = assert_ok(people.get(USAGE, {"group_by": "day"}))

    series = data["series"]
    assert [point["date"] for point in series] == [
        f"{start + timedelta(days=offset):%Y-%m-%d}" for offset in range((now.date() - start).days + 1)
    ]
    assert series[-1] == {"date": f"{now.date():%Y-%m-%d}", "metrics": {"tokens": 40, "requests": 1}}
    assert all(point["metrics"] == {} for point in series[:-1])


def test_usage_of_the_previous_month(service, people):
    late = last_month_moment()
    report(service, "tokens_used", 70, when=late)
    report(service, "tokens_used", 5)

    data = assert_ok(people.get(USAGE, {"period": "previous_month"}))

    assert data["period_start"] == f"{late.date().replace(day=1):%Y-%m-%d}T00:00:00Z"
    assert data["period_end"] == f"{this_month()[0]:%Y-%m-%d}T00:00:00Z"
    assert data["tokens_used"] == 70


@pytest.mark.parametrize(
    "params, field",
    [({"period": "last_year"}, "period"), ({"group_by": "hour"}, "group_by")],
    ids=["period", "group_by"],
)
def test_usage_with_a_bad_query_is_400(people, params, field):
    error = assert_error(people.get(USAGE, params), 400, "validation_error")

    assert field in error["details"]


# --- GET /usage/history ----------------------------------------------------------------------


def test_history_is_in_every_plan_even_the_free_one(service, people, free_plan):
    """Every plan sees its own usage history: the Free plan, whose features do not name
    `usage_history`, gets its points (issue 14), not 403 `feature_not_in_plan`."""
    assert free_plan.features["usage_history"] is False
    report(service, "tokens_used", 40)

    data = assert_ok(people.get(HISTORY, {"limit": 100}))

    assert data[-1] == {
        "date": f"{timezone.now().date()}",
        "tokens_used": 40,
        "requests_made": 0,
        "metrics": {"tokens": 40},
    }


def test_history_gives_one_point_per_day_oldest_first(service, people, long_grace):
    today = timezone.now().date()
    days = [today - timedelta(days=2), today - timedelta(days=1), today]
    report(service, "tokens_used", 100, when=at_noon(days[0]))
    report(service, "tokens_used", 50, when=at_noon(days[0]) + timedelta(hours=1))
    report(service, "api_call")  # now

    data = assert_ok(people.get(HISTORY, {"start_date": f"{days[0]}", "end_date": f"{today}"}))

    assert data == [
        {"date": f"{days[0]}", "tokens_used": 150, "requests_made": 0, "metrics": {"tokens": 150}},
        {"date": f"{days[1]}", "tokens_used": 0, "requests_made": 0, "metrics": {}},
        {"date": f"{today}", "tokens_used": 0, "requests_made": 1, "metrics": {"requests": 1}},
    ]


def test_history_defaults_to_the_last_30_days(people):
    today = timezone.now().date()

    response = people.get(HISTORY, {"limit": 100})

    data = assert_ok(response)
    assert len(data) == 30
    assert (data[0]["date"], data[-1]["date"]) == (f"{today - timedelta(days=29)}", f"{today}")
    assert response.json()["meta"] == {"total": 30, "limit": 100, "offset": 0}


def test_history_is_paginated(people):
    today = timezone.now().date()

    response = people.get(HISTORY, {"limit": 5, "offset": 10})

    data = assert_ok(response)
    assert [point["date"] for point in data] == [f"{today - timedelta(days=29 - i)}" for i in range(10, 15)]
    assert response.json()["meta"] == {"total": 30, "limit": 5, "offset": 10}


def test_history_gives_monthly_points(service, people, extra_metrics):
    late = last_month_moment()
    report(service, "tokens_used", 300, when=late)
    report(service, "memory_sampled", 900, when=late)
    report(service, "user_active", when=late, metadata={"user_id": "a"})
    report(service, "tokens_used", 20)
    report(service, "memory_sampled", 700)
    for user_id in ("a", "b"):
        report(service, "user_active", metadata={"user_id": user_id})
    first_of_last_month = late.date().replace(day=1)

    data = assert_ok(
        people.get(
            HISTORY,
            {"start_date": f"{first_of_last_month}", "end_date": f"{timezone.now().date()}", "granularity": "monthly"},
        )
    )

    assert data == [
        {
            "date": f"{first_of_last_month}",
            "tokens_used": 300,
            "requests_made": 0,
            "metrics": {"tokens": 300, "peak_memory": 900, "active_users": 1},
        },
        {
            "date": f"{this_month()[0]}",
            "tokens_used": 20,
            "requests_made": 0,
            "metrics": {"tokens": 20, "peak_memory": 700, "active_users": 2},
        },
    ]


def test_monthly_history_counts_distinct_values_over_the_month(service, people, extra_metrics):
    today = timezone.now().date()
    if today.day < 2:
        pytest.skip("needs two days of this month")
    for when in (at_noon(today - timedelta(days=1)), None):  # yesterday, now
        for user_id in ("a", "b"):
            report(service, "user_active", when=when, metadata={"user_id": user_id})

    daily = assert_ok(people.get(HISTORY, {"start_date": f"{today - timedelta(days=1)}", "end_date": f"{today}"}))
    monthly = assert_ok(
        people.get(HISTORY, {"start_date": f"{today}", "end_date": f"{today}", "granularity": "monthly"})
    )
    whole = assert_ok(
        people.get(HISTORY, {"start_date": f"{this_month()[0]}", "end_date": f"{today}", "granularity": "monthly"})
    )

    assert [point["metrics"]["active_users"] for point in daily] == [2, 2]
    assert monthly[0]["metrics"]["active_users"] == 2  # only today's window
    assert whole[0]["metrics"]["active_users"] == 2  # not 4: distinct over the month


@pytest.mark.parametrize(
    "params, field",
    [
        ({"start_date": "2026-02-30"}, "start_date"),
        ({"end_date": "tomorrow"}, "end_date"),
        ({"granularity": "hourly"}, "granularity"),
        ({"start_date": "2026-03-02", "end_date": "2026-03-01"}, "start_date"),
        ({"start_date": "2025-01-01", "end_date": "2026-01-02"}, "start_date"),
        ({"start_date": "2020-01-01", "end_date": "2026-01-01", "granularity": "monthly"}, "start_date"),
    ],
    ids=["impossible date", "not a date", "granularity", "start after end", "367 daily days", "6 years monthly"],
)
def test_history_with_a_bad_query_is_400(people, params, field):
    error = assert_error(people.get(HISTORY, params), 400, "validation_error")

    assert field in error["details"]


def test_history_of_exactly_366_daily_days_is_allowed(people):
    response = people.get(HISTORY, {"start_date": "2024-01-01", "end_date": "2024-12-31"})

    assert_ok(response)
    assert response.json()["meta"]["total"] == 366


# --- GET /usage/limits ---------------------------------------------------------------------------


def test_limits_show_the_plans_monthly_quantities(people, free_plan):
    data = assert_ok(people.get(LIMITS))

    assert data == {
        "plan": {"id": str(free_plan.id), "code": "free", "name": "Free"},
        "limits": {"tokens_monthly": FREE_TOKENS, "requests_monthly": FREE_REQUESTS},
    }


def test_limits_list_every_charged_metric(people, extra_metrics):
    limits = assert_ok(people.get(LIMITS))["limits"]

    assert limits == {
        "tokens_monthly": FREE_TOKENS,
        "requests_monthly": FREE_REQUESTS,
        "peak_memory_monthly": 4_096,
        "active_users_monthly": 3,
    }


# --- who may read -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PEOPLE_ENDPOINTS)
def test_people_endpoints_need_authentication(api_client, path):
    assert_error(api_client.get(path), 401, "not_authenticated")


@pytest.mark.parametrize("path", PEOPLE_ENDPOINTS)
def test_people_endpoints_refuse_an_api_key(service, path):
    assert_error(service.client.get(path), 401, "authentication_failed")


@pytest.mark.parametrize("path", PEOPLE_ENDPOINTS)
def test_people_endpoints_hide_a_foreign_organization(owner, other_service, path):
    other_service.report(event_type="tokens_used", quantity=10)

    response = people_client(owner, other_service.org).get(path)

    assert_error(response, 404, "not_found")
    assert "tokens" not in response.content.decode()


@pytest.mark.parametrize("path", PEOPLE_ENDPOINTS)
def test_people_endpoints_hide_a_nonexistent_organization(owner, path):
    client = people_client(owner)

    assert_error(client.get(path, HTTP_X_CURRENT_ORG=str(uuid.uuid4())), 404, "not_found")
    assert_error(client.get(path, HTTP_X_CURRENT_ORG="not-a-uuid"), 404, "not_found")


@pytest.mark.parametrize("path", PEOPLE_ENDPOINTS)
def test_a_member_can_read_usage(org, service, path):
    member = UserFactory()
    MembershipFactory(organization=org, user=member, role=Role.MEMBER)
    report(service, "tokens_used", 25)

    data = assert_ok(people_client(member, org).get(path, {"limit": 100} if path == HISTORY else {}))

    if path == USAGE:
        assert data["tokens_used"] == 25
    elif path == HISTORY:
        assert data[-1]["tokens_used"] == 25
    else:
        assert data["limits"]["tokens_monthly"] == FREE_TOKENS


def test_usage_defaults_to_the_personal_organization(service, owner):
    """Without X-Current-Org the caller's personal organization answers, not `org`."""
    report(service, "tokens_used", 25)

    data = assert_ok(people_client(owner).get(USAGE))

    assert data["tokens_used"] == 0


def test_usage_in_an_organization_the_caller_joined_later(service):
    user = UserFactory()
    team = OrganizationFactory()
    MembershipFactory(organization=team, user=user, role=Role.BILLING)

    assert_ok(people_client(user, team).get(USAGE))
    assert_error(people_client(user, service.org).get(USAGE), 404, "not_found")


def test_usage_period_bounds_are_utc_midnights(people):
    data = assert_ok(people.get(USAGE))

    start = datetime.fromisoformat(data["period_start"])
    assert start == datetime.combine(this_month()[0], time.min, tzinfo=UTC)
    assert iso_seconds(start) == data["period_start"]
