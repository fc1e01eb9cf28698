"""POST /api/v1/usage/batch-report: up to 1000 events, valid ones kept, duplicates counted once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apikeys.models import Scope
from usage.models import UsageEvent

from .helpers import (
    BATCH,
    FREE_REQUESTS,
    FREE_TOKENS,
    USAGE,
    assert_error,
    assert_ok,
    earlier_today_or_yesterday,
    events_of,
    iso,
    last_month_moment,
    rollups_of,
    totals,
)

pytestmark = pytest.mark.django_db


def tokens(quantity: int, key: str | None = None, **extra) -> dict:
    event = {"event_type": "tokens_used", "quantity": quantity, **extra}
    if key is not None:
        event["idempotency_key"] = key
    return event


def test_batch_records_every_valid_event(service):
    events = [tokens(10, "a"), tokens(20, "b"), {"event_type": "api_call", "idempotency_key": "c"}]

    data = assert_ok(service.batch(events))

    assert data == {
        "processed_count": 3,
        "duplicate_count": 0,
        "failed_count": 0,
        "errors": [],
        "remaining_quota": {"tokens": FREE_TOKENS - 30, "requests": FREE_REQUESTS - 1},
    }
    assert events_of(service.org).count() == 3
    assert totals(service.org) == {"tokens": 30, "requests": 1}


def test_batch_accepts_1000_events(service):
    events = [tokens(1, f"k-{i}") for i in range(1000)]

    data = assert_ok(service.batch(events))

    assert data["processed_count"] == 1000
    assert events_of(service.org).count() == 1000
    assert totals(service.org)["tokens"] == 1000


def test_batch_keeps_valid_events_and_lists_the_invalid_ones_by_index(service):
    events = [
        tokens(10, "ok-0"),
        {"event_type": "coffee_brewed"},
        tokens(20, "ok-2"),
        tokens(-5, "bad-3"),
        "not an object",
        tokens(30, "ok-5", timestamp=iso(timezone.now() + timedelta(hours=1))),
    ]

    data = assert_ok(service.batch(events))

    assert (data["processed_count"], data["duplicate_count"], data["failed_count"]) == (2, 0, 4)
    assert [(error["index"], error["field"]) for error in data["errors"]] == [
        (1, "event_type"),
        (3, "quantity"),
        (4, "non_field_errors"),
        (5, "timestamp"),
    ]
    assert all(error["error"] for error in data["errors"])
    assert set(events_of(service.org).values_list("idempotency_key", flat=True)) == {"ok-0", "ok-2"}
    assert totals(service.org)["tokens"] == 30
    assert data["remaining_quota"]["tokens"] == FREE_TOKENS - 30


def test_batch_of_only_invalid_events_stores_nothing(service):
    data = assert_ok(service.batch([tokens(1.5), {"quantity": 3}]))

    assert (data["processed_count"], data["failed_count"]) == (0, 2)
    assert data["remaining_quota"] == {"tokens": FREE_TOKENS, "requests": FREE_REQUESTS}
    assert not events_of(service.org).exists()


def test_duplicates_within_one_batch_count_once(service):
    events = [tokens(100, "same"), tokens(100, "same"), tokens(5, "other"), tokens(999, "same")]

    data = assert_ok(service.batch(events))

    assert (data["processed_count"], data["duplicate_count"]) == (2, 2)
    assert events_of(service.org).count() == 2
    assert totals(service.org)["tokens"] == 105


def test_duplicates_across_batches_count_once(service, people):
    assert_ok(service.batch([tokens(100, "a"), tokens(200, "b")]))

    data = assert_ok(service.batch([tokens(200, "b"), tokens(300, "c"), tokens(100, "a")]))

    assert (data["processed_count"], data["duplicate_count"]) == (1, 2)
    assert events_of(service.org).count() == 3
    [rollup] = rollups_of(service.org, "tokens").values()
    assert (rollup.quantity, rollup.event_count) == (600, 3)
    assert assert_ok(people.get(USAGE))["tokens_used"] == 600


def test_a_key_first_reported_singly_is_a_duplicate_in_a_batch(service):
    assert_ok(service.report(event_type="tokens_used", quantity=7, idempotency_key="x"), 201)

    data = assert_ok(service.batch([tokens(7, "x"), tokens(8, "y")]))

    assert (data["processed_count"], data["duplicate_count"]) == (1, 1)
    assert totals(service.org)["tokens"] == 15


def test_batch_of_1001_events_is_refused_and_stores_nothing(service):
    events = [tokens(1, f"k-{i}") for i in range(1001)]

    error = assert_error(service.batch(events), 400, "validation_error")

    assert "events" in error["details"]
    assert not events_of(service.org).exists()


@pytest.mark.parametrize(
    "body",
    [{}, {"events": None}, {"events": {"event_type": "api_call"}}, {"events": "api_call"}, {"events": []}],
    ids=["missing", "null", "an object", "a string", "empty"],
)
def test_batch_without_a_list_of_events_is_400(service, body):
    error = assert_error(service.client.post(BATCH, body, format="json"), 400, "validation_error")

    assert "events" in error["details"]
    assert not UsageEvent.objects.exists()


def test_batch_body_that_is_a_list_is_400(service):
    error = assert_error(service.client.post(BATCH, [tokens(1)], format="json"), 400, "validation_error")

    assert "events" in error["details"]
    assert not UsageEvent.objects.exists()


def test_events_of_different_days_land_in_different_daily_rollups(service, long_grace):
    recent, day_before = earlier_today_or_yesterday()
    events = [
        tokens(10, "a", timestamp=iso(recent)),
        tokens(20, "b", timestamp=iso(day_before)),
        tokens(40, "c", timestamp=iso(day_before - timedelta(minutes=5))),
    ]

    assert_ok(service.batch(events))

    rollups = rollups_of(service.org, "tokens")
    assert {day: (row.quantity, row.event_count, row.max_quantity) for day, row in rollups.items()} == {
        recent.date(): (10, 1, 10),
        day_before.date(): (60, 2, 40),
    }


def test_late_events_of_last_month_are_kept_in_last_month(service, people):
    late = last_month_moment()

    data = assert_ok(service.batch([tokens(250, "late-1", timestamp=iso(late)), tokens(5, "now-1")]))

    assert (data["processed_count"], data["failed_count"]) == (2, 0)
    assert data["remaining_quota"]["tokens"] == FREE_TOKENS - 5  # last month is not this month's quota
    assert rollups_of(service.org, "tokens")[late.date()].quantity == 250
    assert assert_ok(people.get(USAGE, {"period": "previous_month"}))["tokens_used"] == 250
    assert assert_ok(people.get(USAGE))["tokens_used"] == 5


def test_batch_refuses_events_before_the_cutoff_but_keeps_the_rest(service, long_grace):
    from usage.services import usage_cutoff_advance

    usage_cutoff_advance(organization_id=service.org.pk, closed_before=timezone.now() - timedelta(days=1))

    data = assert_ok(
        service.batch([tokens(1, "old", timestamp=iso(timezone.now() - timedelta(days=2))), tokens(2, "new")])
    )

    assert data["failed_count"] == 1
    assert data["errors"][0]["index"] == 0
    assert data["errors"][0]["field"] == "timestamp"
    assert list(events_of(service.org).values_list("idempotency_key", flat=True)) == ["new"]


def test_batch_with_a_test_mode_key_stores_but_does_not_count(test_service):
    data = assert_ok(test_service.batch([tokens(10, "a"), tokens(20, "b")]))

    assert data["processed_count"] == 2
    assert data["remaining_quota"] == {"tokens": FREE_TOKENS, "requests": FREE_REQUESTS}
    assert set(events_of(test_service.org).values_list("livemode", flat=True)) == {False}
    assert not rollups_of(test_service.org, "tokens")


def test_batch_without_credentials_is_401(api_client, org):
    assert_error(api_client.post(BATCH, {"events": [tokens(1)]}, format="json"), 401, "not_authenticated")


def test_batch_with_a_key_lacking_usage_write_is_403(org, make_service):
    reader = make_service(org, scopes=[Scope.USAGE_READ, Scope.CREDITS_WRITE])

    assert_error(reader.batch([tokens(1)]), 403, "permission_denied")

    assert not events_of(org).exists()
