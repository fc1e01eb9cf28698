"""Property: however events arrive (chunked, repeated, through the service or HTTP), the
rollups, the totals and GET /usage equal a plain recomputation over the distinct events."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.tests.factories import UserFactory
from apikeys.authentication import principal_for_secret
from organizations.models import Role
from organizations.tests.factories import MembershipFactory, OrganizationFactory
from usage.context import billing_context
from usage.models import DailyUsage
from usage.selectors import usage_totals
from usage.services import usage_batch_report

from .helpers import BATCH, REPORT, USAGE, assert_ok, iso, new_service, people_client, this_month

pytestmark = pytest.mark.django_db

# event type -> (metric code, aggregation)
METERS = {
    "tokens_used": ("tokens", "sum"),
    "api_call": ("requests", "count"),
    "memory_sampled": ("peak_memory", "max"),
    "user_active": ("active_users", "unique_count"),
}
INCLUDED = {"tokens": 10_000, "requests": 1_000, "peak_memory": 4_096, "active_users": 3}

# Timestamps: the last few days of this month, never ahead of the moment the module loads.
_NOW = timezone.now().replace(microsecond=0) - timedelta(minutes=1)
_BASE = max(datetime.combine(this_month()[0], time.min, tzinfo=UTC), _NOW - timedelta(days=3))
SPAN_SECONDS = max(int((_NOW - _BASE).total_seconds()), 0)

raw_events = st.lists(
    st.fixed_dictionaries(
        {
            "event_type": st.sampled_from(sorted(METERS)),
            "quantity": st.integers(0, 10**6),
            "offset": st.integers(0, SPAN_SECONDS),
            "key": st.none() | st.sampled_from([f"k-{i}" for i in range(10)]),
            "user": st.sampled_from(["ann", "bob", "cy", "dee", "eve"]),
        }
    ),
    min_size=1,
    max_size=40,
)


def as_payload(raw: dict) -> dict:
    event = {
        "event_type": raw["event_type"],
        "quantity": raw["quantity"],
        "timestamp": iso(_BASE + timedelta(seconds=raw["offset"])),
    }
    if raw["key"] is not None:
        event["idempotency_key"] = raw["key"]
    if raw["event_type"] == "user_active":
        event["metadata"] = {"user_id": raw["user"]}
    return event


def chunked(items: list, sizes: list[int]) -> list[list]:
    chunks, index, turn = [], 0, 0
    while index < len(items):
        size = sizes[turn % len(sizes)]
        chunks.append(items[index : index + size])
        index += size
        turn += 1
    return chunks


def distinct(events: list[dict]) -> list[dict]:
    """The events that count: the first occurrence of each idempotency key, and every keyless one."""
    seen, kept = set(), []
    for event in events:
        key = event.get("idempotency_key")
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        kept.append(event)
    return kept


def expected_totals(events: list[dict]) -> dict[str, int]:
    quantities = defaultdict(list)
    users = set()
    for event in events:
        quantities[METERS[event["event_type"]][0]].append(event["quantity"])
        if event["event_type"] == "user_active":
            users.add(event["metadata"]["user_id"])
    return {
        "tokens": sum(quantities["tokens"]),
        "requests": len(quantities["requests"]),
        "peak_memory": max(quantities["peak_memory"], default=0),
        "active_users": len(users),
    }


def expected_rollups(events: list[dict]) -> dict[tuple, tuple[int, int, int, int]]:
    """(day, metric code) -> (quantity, event_count, max_quantity, unique_count)."""
    by_bucket = defaultdict(list)
    for event in events:
        day = event["timestamp"][:10]
        by_bucket[(day, METERS[event["event_type"]][0])].append(event)
    rollups = {}
    for bucket, bucket_events in by_bucket.items():
        quantities = [event["quantity"] for event in bucket_events]
        users = {event["metadata"]["user_id"] for event in bucket_events if "metadata" in event}
        rollups[bucket] = (sum(quantities), len(quantities), max(quantities), len(users))
    return rollups


def stored_rollups(organization) -> dict[tuple, tuple[int, int, int, int]]:
    return {
        (f"{row.day}", row.metric.code): (row.quantity, row.event_count, row.max_quantity, row.unique_count)
        for row in DailyUsage.objects.filter(organization=organization).select_related("metric")
    }


def send(service, chunks: list[list[dict]], via: str) -> dict:
    """Send every chunk; returns the remaining quota of the last answer."""
    remaining = None
    for chunk in chunks:
        if via == "service":
            principal = principal_for_secret(service.secret)
            context = billing_context(organization_id=principal.organization_id)
            result = usage_batch_report(principal=principal, context=context, events=chunk)
            assert result.failed_count == 0, result.errors
            remaining = result.remaining_quota
        elif via == "batch":
            data = assert_ok(service.client.post(BATCH, {"events": chunk}, format="json"))
            assert data["failed_count"] == 0, data["errors"]
            remaining = data["remaining_quota"]
        else:
            for event in chunk:
                response = service.client.post(REPORT, event, format="json")
                assert response.status_code in (200, 201), response.content
                remaining = response.json()["data"]["remaining_quota"]
    return remaining


@pytest.fixture
def viewer(db):
    return UserFactory()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    raw=raw_events,
    sizes=st.lists(st.integers(1, 25), min_size=1, max_size=4),
    via=st.sampled_from(["service", "batch", "report"]),
)
def test_totals_and_rollups_equal_a_recomputation_over_distinct_events(extra_metrics, viewer, raw, sizes, via):
    organization = OrganizationFactory()  # a fresh one per example: the test's transaction is shared
    MembershipFactory(organization=organization, user=viewer, role=Role.MEMBER)
    service = new_service(organization)
    events = [as_payload(item) for item in raw]

    remaining = send(service, chunked(events, sizes), via)

    counted = distinct(events)
    expected = expected_totals(counted)
    start, end = this_month()
    assert usage_totals(organization_id=organization.pk, start=start, end=end) == expected
    overview = assert_ok(people_client(viewer, organization).get(USAGE))
    assert {code: metric["used"] for code, metric in overview["metrics"].items()} == expected
    assert (overview["tokens_used"], overview["requests_made"]) == (expected["tokens"], expected["requests"])
    assert stored_rollups(organization) == expected_rollups(counted)
    assert remaining == {code: max(INCLUDED[code] - expected[code], 0) for code in INCLUDED}
