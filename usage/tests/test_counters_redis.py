"""Quota counters in Redis (REDIS_URL set): they mirror the rollups, answer quota checks
without the database, are rebuilt when missing or wrong, and an outage loses nothing."""

from __future__ import annotations

import pytest
import redis
from django.utils import timezone

from billing_project.periods import calendar_month
from usage import counters
from usage.services import quota_counters_reconcile

from .helpers import FREE_REQUESTS, FREE_TOKENS, assert_ok, events_of, iso, last_month_moment, totals

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

UNREACHABLE = "redis://127.0.0.1:1/0"


@pytest.fixture
def store(settings):
    """A direct connection to the counters' Redis."""
    connection = redis.Redis.from_url(settings.QUOTA_REDIS_URL, decode_responses=True)
    yield connection
    connection.close()


def key(service, code: str) -> str:
    return counters.key_for(str(service.org.pk), code, calendar_month(timezone.now())[0])


def counter(store, service, code: str) -> int | None:
    value = store.get(key(service, code))
    return None if value is None else int(value)


def use(service, tokens: int = 0, requests: int = 0) -> None:
    events = [{"event_type": "tokens_used", "quantity": tokens}] if tokens else []
    events += [{"event_type": "api_call"}] * requests
    data = assert_ok(service.batch(events))
    assert data["processed_count"] == len(events)


def remaining(service) -> dict:
    return assert_ok(service.quota(tokens_needed=0, requests_needed=0))["remaining"]


@pytest.fixture
def outage(settings):
    """`outage.begin()` points the counters at a port nobody listens on; `outage.end()`
    points them back (each resets the client, as a settings change needs)."""
    reachable = settings.QUOTA_REDIS_URL

    class Outage:
        @staticmethod
        def begin():
            settings.QUOTA_REDIS_URL = UNREACHABLE
            counters.reset_client()

        @staticmethod
        def end():
            settings.QUOTA_REDIS_URL = reachable
            counters.reset_client()

    return Outage


# --- the counters mirror the rollups ---------------------------------------------------------


def test_counters_hold_the_rollup_totals_after_reports(service, store):
    assert_ok(service.report(event_type="tokens_used", quantity=100), 201)
    use(service, tokens=250, requests=3)
    assert_ok(service.report(event_type="api_call", idempotency_key="once"), 201)
    assert_ok(service.report(event_type="api_call", idempotency_key="once"), 200)

    assert totals(service.org) == {"tokens": 350, "requests": 4}
    assert counter(store, service, "tokens") == 350
    assert counter(store, service, "requests") == 4


def test_counter_of_a_max_metric_holds_the_largest_quantity(service, store, extra_metrics):
    for quantity in (300, 900, 200):
        assert_ok(service.report(event_type="memory_sampled", quantity=quantity), 201)

    assert counter(store, service, "peak_memory") == 900


def test_unique_count_metrics_have_no_counter(service, store, extra_metrics):
    assert_ok(service.report(event_type="user_active", metadata={"user_id": "a"}), 201)

    assert counter(store, service, "active_users") is None
    assert remaining(service)["active_users"] == 2


def test_test_mode_events_leave_the_counters_alone(service, test_service, store):
    use(service, tokens=10)

    use(test_service, tokens=5_000, requests=50)

    assert counter(store, service, "tokens") == 10
    assert counter(store, service, "requests") == 0


def test_late_events_leave_this_months_counters_alone(service, store):
    use(service, tokens=10)

    assert_ok(service.batch([{"event_type": "tokens_used", "quantity": 700, "timestamp": iso(last_month_moment())}]))

    assert counter(store, service, "tokens") == 10


# --- quota checks read Redis -----------------------------------------------------------------


def test_quota_check_answers_from_the_counters(service, store):
    use(service, tokens=100)
    store.set(key(service, "tokens"), FREE_TOKENS - 1)  # only Redis says so

    assert remaining(service)["tokens"] == 1


def test_warm_quota_check_makes_no_database_query(service, django_assert_num_queries):
    use(service, tokens=1_234, requests=2)
    remaining(service)  # warms the key's principal and the counters

    with django_assert_num_queries(0):
        response = service.quota(tokens_needed=10, requests_needed=1)

    assert assert_ok(response)["remaining"] == {"tokens": FREE_TOKENS - 1_234, "requests": FREE_REQUESTS - 2}


def test_a_deleted_counter_is_rebuilt_from_the_rollups(service, store):
    use(service, tokens=400, requests=7)
    store.delete(key(service, "tokens"), key(service, "requests"))

    assert remaining(service) == {"tokens": FREE_TOKENS - 400, "requests": FREE_REQUESTS - 7}
    assert counter(store, service, "tokens") == 400
    assert counter(store, service, "requests") == 7
    assert store.ttl(key(service, "tokens")) > 0


def test_a_deleted_counter_is_rebuilt_by_the_next_report(service, store):
    use(service, tokens=400)
    store.delete(key(service, "tokens"))

    use(service, tokens=5)

    assert counter(store, service, "tokens") == 405


# --- reconcile -----------------------------------------------------------------------------------


def test_reconcile_makes_corrupted_counters_equal_the_rollups(service, other_service, store):
    use(service, tokens=300, requests=4)
    use(other_service, tokens=20, requests=1)
    store.set(key(service, "tokens"), 9_999)
    store.set(key(service, "requests"), 0)
    store.set(key(other_service, "tokens"), 1)

    rebuilt = quota_counters_reconcile()

    assert rebuilt == 4
    assert (counter(store, service, "tokens"), counter(store, service, "requests")) == (300, 4)
    assert counter(store, other_service, "tokens") == 20
    assert remaining(service) == {"tokens": FREE_TOKENS - 300, "requests": FREE_REQUESTS - 4}


def test_reconcile_resets_a_corrupted_counter_of_a_metric_without_usage(service, store):
    use(service, tokens=300)  # creates the requests counter at 0 as well
    store.set(key(service, "requests"), FREE_REQUESTS)

    quota_counters_reconcile()

    assert remaining(service) == {"tokens": FREE_TOKENS - 300, "requests": FREE_REQUESTS}


# --- Redis unreachable -------------------------------------------------------------------------------


def test_reports_are_recorded_while_redis_is_unreachable(service, outage):
    outage.begin()

    responses = [service.report(event_type="tokens_used", quantity=10) for _ in range(3)]

    assert [response.status_code for response in responses] == [201, 201, 201]
    assert responses[-1].json()["data"]["remaining_quota"]["tokens"] == FREE_TOKENS - 30
    assert events_of(service.org).count() == 3
    assert totals(service.org)["tokens"] == 30


def test_batches_are_recorded_while_redis_is_unreachable(service, outage):
    outage.begin()

    data = assert_ok(service.batch([{"event_type": "api_call", "idempotency_key": f"k{i}"} for i in range(20)]))

    assert data["processed_count"] == 20
    assert data["remaining_quota"]["requests"] == FREE_REQUESTS - 20
    assert totals(service.org)["requests"] == 20


def test_quota_check_answers_from_the_database_while_redis_is_unreachable(service, outage):
    use(service, tokens=FREE_TOKENS - 5)  # the counters exist
    outage.begin()
    use(service, tokens=1)

    assert remaining(service)["tokens"] == 4
    assert assert_ok(service.quota(tokens_needed=4))["allowed"] is True
    assert service.quota(tokens_needed=5).status_code == 429


def test_counters_that_missed_increments_are_not_served_when_redis_returns(service, store, outage):
    use(service, tokens=100)  # the counter exists: 100
    outage.begin()
    use(service, tokens=50)  # recorded; the counter missed it

    outage.end()

    assert remaining(service)["tokens"] == FREE_TOKENS - 150
    assert counter(store, service, "tokens") == 150


def test_reconcile_repairs_counters_another_process_left_short(service, store, outage):
    use(service, tokens=100)
    outage.begin()
    use(service, tokens=50)
    outage.end()
    counters._stale_orgs.clear()  # a process that never saw the outage knows of nothing stale
    assert counter(store, service, "tokens") == 100

    quota_counters_reconcile()

    assert counter(store, service, "tokens") == 150
    assert remaining(service)["tokens"] == FREE_TOKENS - 150
