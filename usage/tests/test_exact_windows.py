"""Usage windows are half-open intervals [start, end) on exact timestamps.

- usage_in_windows: what invoices bill, exact to the microsecond whatever the windows;
- rollup buckets split where a quota period starts during a day, so quota totals of a
  period that starts at 15:00 (a subscription bought then) leave out that day's earlier
  usage, through POST /usage/report, batch-report, quota-check and GET /usage;
- usage dated before the open billing window is refused with a 400 instead of being
  acknowledged and never invoiced.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import UserFactory
from organizations.models import Role
from organizations.tests.factories import MembershipFactory, OrganizationFactory
from plans.catalogue import catalogue
from plans.models import BillableMetric, PlanCharge
from plans.tests.factories import PlanChargeFactory, PlanFactory
from subscriptions.services import subscription_create
from usage import counters
from usage.events import parse_event
from usage.ingest import record_events
from usage.models import DailyUsage, UsageEvent, UsageUniqueValue
from usage.periods import Buckets
from usage.selectors import UsageWindow, usage_in_windows
from usage.services import usage_cutoff_advance

from .helpers import HISTORY, USAGE, assert_error, assert_ok, iso, new_service, people_client

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 3, 10, tzinfo=UTC)  # the day of the purchase in these tests
EVENTS_TABLE = UsageEvent._meta.db_table


def at(days: int, hour: int, minute: int = 0, second: int = 0, microsecond: int = 0) -> datetime:
    return DAY + timedelta(days=days, hours=hour, minutes=minute, seconds=second, microseconds=microsecond)


def ingest(organization, event_type: str, when: datetime, quantity: int = 1, *, livemode=True, anchor=None, **meta):
    """One event stored as ingestion stores it (parsed, bucketed for `anchor`'s periods)."""
    raw = {"event_type": event_type, "quantity": quantity, "timestamp": iso(when), "metadata": meta or None}
    event = parse_event(raw, now=when, catalogue=catalogue(), window=None)
    record_events(
        [event],
        organization_id=organization.pk,
        api_key_id=None,
        livemode=livemode,
        received_at=when,
        buckets=Buckets.around(anchor=anchor, now=when),
    )


def used(organization, start: datetime, end: datetime, codes=None) -> dict[str, int]:
    [totals] = usage_in_windows(windows=[UsageWindow(organization.pk, start, end)], metric_codes=codes)
    return totals


# --- usage_in_windows ------------------------------------------------------------------------


def test_a_window_starting_and_ending_mid_day_counts_exactly_the_events_inside_it(org):
    for when, quantity in [
        (at(0, 3), 400),
        (at(0, 14, 59, 59, 999_999), 5),
        (at(0, 15), 10),
        (at(1, 10), 7),
        (at(2, 14), 3),
        (at(2, 15), 20),
    ]:
        ingest(org, "tokens_used", when, quantity)

    assert used(org, at(0, 15), at(2, 15), ["tokens"]) == {"tokens": 20}
    assert used(org, at(0, 0), at(0, 15), ["tokens"]) == {"tokens": 405}
    assert used(org, at(0, 15), at(0, 15, 0, 0, 1), ["tokens"]) == {"tokens": 10}


def test_the_windows_of_one_organization_are_kept_apart(org, other_service):
    other = other_service.org
    ingest(org, "tokens_used", at(0, 3), 400)
    ingest(org, "tokens_used", at(0, 16), 10)
    ingest(org, "tokens_used", at(1, 12), 7)
    ingest(org, "tokens_used", at(2, 23), 2)
    ingest(other, "tokens_used", at(0, 16), 1000)

    windows = [
        UsageWindow(org.pk, at(0, 0), at(0, 15)),  # a plan segment until the change at 15:00
        UsageWindow(org.pk, at(0, 15), at(3, 0)),  # the next segment
        UsageWindow(other.pk, at(0, 0), at(3, 0)),
        UsageWindow(org.pk, at(1, 0), at(2, 0)),  # overlaps the second window
        UsageWindow(org.pk, at(1, 0), at(1, 0)),  # empty
        UsageWindow(str(org.pk), at(0, 15), at(3, 0)),  # the second again, the id as text
    ]
    results = usage_in_windows(windows=windows, metric_codes=["tokens"])

    assert [totals["tokens"] for totals in results] == [400, 19, 1000, 7, 0, 19]


def test_every_aggregation_is_exact_over_a_fringe_and_a_whole_day(org, extra_metrics):
    def day_of_usage(when, tokens, calls, memory, users):
        ingest(org, "tokens_used", when, tokens)
        for _ in range(calls):
            ingest(org, "api_call", when)
        ingest(org, "memory_sampled", when, memory)
        for user_id in users:
            ingest(org, "user_active", when, user_id=user_id)

    day_of_usage(at(0, 11), tokens=1000, calls=1, memory=5000, users=["c"])  # before the window
    day_of_usage(at(0, 13), tokens=30, calls=2, memory=900, users=["a", 7])  # its fringe
    day_of_usage(at(1, 9), tokens=12, calls=1, memory=700, users=["a", "7", "d"])  # a whole day
    day_of_usage(at(2, 0), tokens=99, calls=4, memory=9000, users=["e"])  # its end, excluded

    totals = used(org, at(0, 12), at(2, 0))

    # 7 and "7" are one value, as ingestion counts them; "a" is counted once across both parts.
    assert totals == {"tokens": 42, "requests": 3, "peak_memory": 900, "active_users": 3}
    assert used(org, at(0, 12), at(2, 0, 0, 0, 1))["active_users"] == 4
    assert used(org, at(0, 0), at(3, 0))["peak_memory"] == 9000


def test_test_mode_events_are_never_counted(org, extra_metrics):
    for when in (at(0, 13), at(1, 10)):
        ingest(org, "tokens_used", when, 5)
        ingest(org, "tokens_used", when, 100, livemode=False)
        ingest(org, "user_active", when, livemode=False, user_id="ghost")

    assert used(org, at(0, 12), at(2, 0), ["tokens", "active_users"]) == {"tokens": 10, "active_users": 0}


def test_every_active_metric_asked_for_is_answered_with_zero_when_unused(org, extra_metrics):
    extra_metrics.peak.is_active = False
    extra_metrics.peak.save()

    assert used(org, at(0, 12), at(2, 0)) == {"tokens": 0, "requests": 0, "active_users": 0}
    assert used(org, at(0, 12), at(2, 0), ["requests", "peak_memory", "nope"]) == {"requests": 0}
    assert usage_in_windows(windows=[], metric_codes=None) == []


def test_a_window_from_midnight_to_midnight_reads_the_rollups_only(org, extra_metrics):
    ingest(org, "tokens_used", at(0, 13), 30)
    ingest(org, "user_active", at(0, 13), user_id="a")
    catalogue()

    with CaptureQueriesContext(connection) as queries:
        totals = used(org, at(0, 0), at(1, 0), ["tokens", "active_users"])

    assert totals == {"tokens": 30, "active_users": 1}
    assert not [query for query in queries.captured_queries if EVENTS_TABLE in query["sql"]]


def test_fifty_windows_take_as_many_queries_as_two(extra_metrics, django_assert_max_num_queries):
    organizations = [OrganizationFactory() for _ in range(25)]
    for index, organization in enumerate(organizations):
        ingest(organization, "tokens_used", at(0, 10), index)
        ingest(organization, "tokens_used", at(0, 18), 1000)
        ingest(organization, "user_active", at(1, 12), user_id=f"u{index}")
    windows = []
    for organization in organizations:  # two plan segments each, split at 15:00
        windows += [
            UsageWindow(organization.pk, at(0, 9), at(0, 15)),
            UsageWindow(organization.pk, at(0, 15), at(2, 9)),
        ]
    catalogue()

    with CaptureQueriesContext(connection) as few:
        usage_in_windows(windows=windows[:2])
    with django_assert_max_num_queries(len(few.captured_queries)):
        results = usage_in_windows(windows=windows)

    assert len(few.captured_queries) <= 4
    assert [(totals["tokens"], totals["active_users"]) for totals in results[:6]] == [
        (0, 0),
        (1000, 1),
        (1, 0),
        (1000, 1),
        (2, 0),
        (1000, 1),
    ]


# --- the audit: free usage at 03:00, checkout at 15:00 ----------------------------------------


@pytest.fixture
def minutes(free_plan):
    """A `minutes` metric: 1,000 included on the free plan, 500 on Pro (hard quotas)."""
    metric = BillableMetric.objects.create(
        code="minutes", name="Minutes", unit="minute", event_types=["minutes_used"], aggregation="sum"
    )
    PlanCharge.objects.create(plan=free_plan, metric=metric, included_quantity=1000, policy="hard")
    pro = PlanFactory(code="pro_minutes", name="Pro", price_cents=2000, features={"usage_history": True})
    PlanChargeFactory(plan=pro, metric=metric, included_quantity=500, policy="hard")
    PlanChargeFactory(plan=pro, metric=BillableMetric.objects.get(code="tokens"), included_quantity=50_000)
    return pro


def minutes_remaining(service, needed: int = 0):
    return service.client.get("/api/v1/usage/quota-check", {"metric": "minutes", "quantity": needed})


def audit_case(org, pro):
    """400 free minutes at 03:00, a checkout at 15:00, 10 minutes at 16:00."""
    owner = UserFactory()
    MembershipFactory(organization=org, user=owner, role=Role.OWNER)
    with time_machine.travel(at(0, 3), tick=False) as clock:
        service = new_service(org)
        assert_ok(service.report(event_type="minutes_used", quantity=400), 201)
        clock.move_to(at(0, 15))
        subscription = subscription_create(organization=org, plan=pro, start=at(0, 15), status="active")
        clock.move_to(at(0, 16))
        data = assert_ok(service.report(event_type="minutes_used", quantity=10), 201)
        assert data["remaining_quota"]["minutes"] == 490

        assert used(org, at(0, 15), subscription.current_period_end, ["minutes"]) == {"minutes": 10}
        assert subscription.current_period_end == datetime(2026, 4, 10, 15, tzinfo=UTC)
        assert assert_ok(minutes_remaining(service, 490))["remaining"]["minutes"] == 490
        assert_error(minutes_remaining(service, 491), 429, "quota_exceeded")
        overview = assert_ok(people_client(owner, org).get(USAGE, {"group_by": "day"}))
        assert overview["metrics"]["minutes"]["used"] == 10
        assert overview["period_start"] == "2026-03-10T15:00:00Z"
        assert overview["series"][0]["metrics"] == {"minutes": 10}  # the first day from 15:00
    return service


def test_a_checkout_at_15_counts_and_bills_only_the_usage_after_it(org, minutes):
    audit_case(org, minutes)


@pytest.mark.postgres
@pytest.mark.redis
def test_a_checkout_at_15_counts_only_the_usage_after_it_on_postgresql_and_redis(org, minutes, settings):
    import redis

    service = audit_case(org, minutes)

    store = redis.Redis.from_url(settings.QUOTA_REDIS_URL)
    assert int(store.get(counters.key_for(str(org.pk), "minutes", at(0, 15)))) == 10
    assert int(store.get(counters.key_for(str(org.pk), "minutes", datetime(2026, 3, 1, tzinfo=UTC)))) == 400
    with time_machine.travel(at(0, 17), tick=False):
        assert assert_ok(minutes_remaining(service))["remaining"]["minutes"] == 490


# --- rollup buckets split at period starts ---------------------------------------------------


RENEWAL = datetime(2026, 4, 10, tzinfo=UTC)  # the subscription of DAY 15:00 renews at 15:00


def buckets_of(org, code: str, day) -> dict[str, int]:
    return {
        f"{row.starts_at.astimezone(UTC):%H:%M:%S}": row.quantity
        for row in DailyUsage.objects.filter(organization=org, metric__code=code, day=day)
    }


@pytest.fixture
def subscribed(org, minutes, extra_metrics):
    """`org` on Pro since DAY 15:00, with a live key and its owner."""
    owner = UserFactory()
    MembershipFactory(organization=org, user=owner, role=Role.OWNER)
    PlanChargeFactory(plan=minutes, metric=extra_metrics.users, included_quantity=10, policy="hard")
    with time_machine.travel(at(0, 15), tick=False):
        subscription_create(organization=org, plan=minutes, start=at(0, 15), status="active")
        service = new_service(org)
    return service, owner


def test_a_period_starting_mid_day_splits_that_days_rollups(subscribed, org):
    service, owner = subscribed
    with time_machine.travel(RENEWAL + timedelta(hours=10), tick=False) as clock:
        assert_ok(service.report(event_type="tokens_used", quantity=100), 201)  # the period before
        assert_ok(service.report(event_type="user_active", metadata={"user_id": "a"}), 201)
        clock.move_to(RENEWAL + timedelta(hours=16))
        data = assert_ok(
            service.batch(
                [
                    {
                        "event_type": "tokens_used",
                        "quantity": 5,
                        "timestamp": iso(RENEWAL + timedelta(seconds=54_000 - 1)),
                    },
                    {"event_type": "tokens_used", "quantity": 7, "timestamp": iso(RENEWAL + timedelta(hours=15))},
                    {"event_type": "tokens_used", "quantity": 11},
                ]
            )
        )
        assert data["processed_count"] == 3
        assert data["remaining_quota"]["tokens"] == 50_000 - 18
        for user_id in ("a", "b"):
            assert_ok(service.batch([{"event_type": "user_active", "metadata": {"user_id": user_id}}]))

        assert buckets_of(org, "tokens", RENEWAL.date()) == {"00:00:00": 105, "15:00:00": 18}
        assert sorted(
            (f"{row.starts_at.astimezone(UTC):%H:%M}", row.value)
            for row in UsageUniqueValue.objects.filter(organization=org, day=RENEWAL.date())
        ) == [("00:00", "a"), ("15:00", "a"), ("15:00", "b")]
        assert assert_ok(service.quota(tokens_needed=0))["remaining"] == {
            "minutes": 500,
            "tokens": 50_000 - 18,
            "active_users": 8,
        }
        people = people_client(owner, org)
        current = assert_ok(people.get(USAGE))
        assert (current["tokens_used"], current["metrics"]["active_users"]["used"]) == (18, 2)
        previous = assert_ok(people.get(USAGE, {"period": "previous_month"}))
        assert (previous["period_start"], previous["period_end"]) == ("2026-03-10T15:00:00Z", "2026-04-10T15:00:00Z")
        assert (previous["tokens_used"], previous["metrics"]["active_users"]["used"]) == (105, 1)
        day = f"{RENEWAL.date()}"
        [point] = assert_ok(people.get(HISTORY, {"start_date": day, "end_date": day}))
        assert point["metrics"] == {"tokens": 123, "active_users": 2}  # the day's distinct values, not 1 + 2
    assert usage_in_windows(
        windows=[
            UsageWindow(org.pk, at(0, 15), RENEWAL + timedelta(hours=15)),
            UsageWindow(org.pk, RENEWAL + timedelta(hours=15), datetime(2026, 5, 10, 15, tzinfo=UTC)),
        ],
        metric_codes=["tokens", "active_users"],
    ) == [{"tokens": 105, "active_users": 1}, {"tokens": 18, "active_users": 2}]


def test_an_event_just_past_the_period_end_goes_to_the_next_periods_bucket(subscribed, org):
    service, _owner = subscribed
    end = datetime(2026, 5, 10, 15, tzinfo=UTC)
    with time_machine.travel(end - timedelta(minutes=2), tick=False):
        assert_ok(service.report(event_type="tokens_used", quantity=3), 201)
        data = assert_ok(
            service.batch(
                [
                    {"event_type": "tokens_used", "quantity": 4, "timestamp": iso(end + timedelta(minutes=1))},
                    {"event_type": "tokens_used", "quantity": 6},
                ]
            )
        )
        assert data["remaining_quota"]["tokens"] == 50_000 - 9

    assert buckets_of(org, "tokens", end.date()) == {"00:00:00": 9, "15:00:00": 4}


# --- the open billing window -----------------------------------------------------------------


def test_far_past_usage_is_refused_with_when_usage_is_accepted(service):
    with time_machine.travel(at(0, 12), tick=False):
        response = service.report(event_type="tokens_used", quantity=5, timestamp="2023-01-01T00:00:00Z")

    error = assert_error(response, 400, "validation_error")
    [message] = error["details"]["timestamp"]
    assert "Usage is accepted from 2026-02-28T23:00:00Z on" in message
    assert "2026-03-01T00:00:00Z" in message  # the current period's start, less the grace window
    assert not UsageEvent.objects.exists()


def test_far_past_usage_in_a_batch_fails_alone(service):
    with time_machine.travel(at(0, 12), tick=False):
        data = assert_ok(
            service.batch(
                [
                    {"event_type": "tokens_used", "quantity": 5, "timestamp": "2019-06-01T10:00:00Z"},
                    {"event_type": "tokens_used", "quantity": 7, "idempotency_key": "kept"},
                ]
            )
        )

    assert (data["processed_count"], data["failed_count"]) == (1, 1)
    assert (data["errors"][0]["index"], data["errors"][0]["field"]) == (0, "timestamp")
    assert "Usage is accepted from 2026-02-28T23:00:00Z on" in data["errors"][0]["error"]
    assert list(UsageEvent.objects.values_list("idempotency_key", flat=True)) == ["kept"]


def test_late_usage_of_the_period_just_ended_is_accepted_within_the_grace_window(service, settings):
    settings.BILLING_GRACE_SECONDS = 3600
    month_start = datetime(2026, 3, 1, tzinfo=UTC)
    with time_machine.travel(month_start + timedelta(minutes=20), tick=False):
        late = {"event_type": "tokens_used", "quantity": 8, "timestamp": iso(month_start - timedelta(minutes=30))}
        assert_ok(service.report(**late), 201)
        too_late = {"event_type": "tokens_used", "quantity": 9, "timestamp": iso(month_start - timedelta(minutes=61))}
        assert_error(service.report(**too_late), 400, "validation_error")

    assert buckets_of(service.org, "tokens", (month_start - timedelta(days=1)).date()) == {"00:00:00": 8}


def test_usage_before_the_subscription_started_is_refused(subscribed):
    service, _owner = subscribed
    with time_machine.travel(at(0, 16), tick=False):
        before = service.report(event_type="tokens_used", quantity=1, timestamp=iso(at(0, 14, 59, 59)))
        years_ago = service.report(event_type="tokens_used", quantity=1, timestamp="2020-01-01T00:00:00Z")
        assert_ok(service.report(event_type="tokens_used", quantity=1, timestamp=iso(at(0, 15))), 201)

    for response in (before, years_ago):
        [message] = assert_error(response, 400, "validation_error")["details"]["timestamp"]
        assert "Usage is accepted from 2026-03-10T15:00:00Z on" in message
        assert "subscription started" in message
    assert UsageEvent.objects.count() == 1


def test_usage_before_the_cutoff_is_refused_as_invoiced(subscribed, org):
    service, _owner = subscribed
    with time_machine.travel(RENEWAL + timedelta(hours=16), tick=False):
        usage_cutoff_advance(organization_id=org.pk, closed_before=RENEWAL + timedelta(hours=15))
        response = service.report(event_type="tokens_used", timestamp=iso(RENEWAL + timedelta(hours=14)))
        assert_ok(service.report(event_type="tokens_used", timestamp=iso(RENEWAL + timedelta(hours=15))), 201)

    [message] = assert_error(response, 400, "validation_error")["details"]["timestamp"]
    assert "Usage is accepted from 2026-04-10T15:00:00Z on" in message
    assert "already invoiced" in message
