"""Many services reporting the same and different events at once (PostgreSQL): every
event counts exactly once, no request fails, no deadlock."""

from __future__ import annotations

import random
from functools import partial

import pytest
from django.db.models import Sum
from django.utils import timezone

from billing_project.testing import run_concurrently
from organizations.tests.factories import OrganizationFactory
from usage.models import DailyUsage, UsageEvent

from .helpers import BATCH, REPORT, new_service, service_client, totals

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 8
KEYS = 500
CHUNK = 100


@pytest.fixture
def service(transactional_db):
    """A key of a new organization (the default catalogue is back: root conftest.py)."""
    return new_service(OrganizationFactory())


def shared_events() -> list[dict]:
    """500 events with fixed keys: even ones are tokens, odd ones API calls."""
    return [
        {"event_type": "tokens_used", "quantity": i % 7 + 1, "idempotency_key": f"shared-{i:03d}"}
        if i % 2 == 0
        else {"event_type": "api_call", "idempotency_key": f"shared-{i:03d}"}
        for i in range(KEYS)
    ]


def expected_of(events: list[dict]) -> dict[str, int]:
    return {
        "tokens": sum(e["quantity"] for e in events if e["event_type"] == "tokens_used"),
        "requests": sum(1 for e in events if e["event_type"] == "api_call"),
    }


def send_all(secret: str, events: list[dict], *, seed: int, singles: int) -> list[tuple[int, int]]:
    """Report `events` from one thread: the first `singles` of a shuffled order one by one,
    the rest as batches of CHUNK (shuffled for odd seeds). Returns (status, new events) per call."""
    client = service_client(secret)
    order = list(events)
    if seed % 2:
        random.Random(seed).shuffle(order)
    outcomes = []
    for event in order[:singles]:
        response = client.post(REPORT, event, format="json")
        outcomes.append((response.status_code, int(response.status_code == 201)))
    rest = order[singles:]
    for start in range(0, len(rest), CHUNK):
        response = client.post(BATCH, {"events": rest[start : start + CHUNK]}, format="json")
        new = response.json()["data"]["processed_count"] if response.status_code == 200 else 0
        outcomes.append((response.status_code, new))
    return outcomes


@pytest.mark.parametrize("round_", range(2))
def test_eight_threads_sending_the_same_500_keys_count_each_once(service, round_):
    events = shared_events()
    calls = [partial(send_all, service.secret, events, seed=seed, singles=seed * 3) for seed in range(THREADS)]

    results = run_concurrently(calls, timeout=120)

    outcomes = [outcome for thread in results for outcome in thread]
    assert {status for status, _ in outcomes} <= {200, 201}
    assert sum(new for _, new in outcomes) == KEYS  # exactly one caller recorded each key
    assert UsageEvent.objects.filter(organization=service.org).count() == KEYS
    assert totals(service.org) == expected_of(events)
    rows = DailyUsage.objects.filter(organization=service.org).aggregate(events=Sum("event_count"))
    assert rows["events"] == KEYS


def test_concurrent_batches_with_disjoint_keys_all_count(service):
    per_thread = [
        [
            {"event_type": "tokens_used", "quantity": 3, "idempotency_key": f"t{thread}-{i}"}
            if i % 3
            else {"event_type": "api_call", "idempotency_key": f"t{thread}-{i}"}
            for i in range(2 * CHUNK)
        ]
        for thread in range(THREADS)
    ]
    calls = [partial(send_all, service.secret, events, seed=0, singles=0) for events in per_thread]

    results = run_concurrently(calls, timeout=120)

    outcomes = [outcome for thread in results for outcome in thread]
    assert {status for status, _ in outcomes} == {200}
    assert sum(new for _, new in outcomes) == THREADS * 2 * CHUNK
    everything = [event for events in per_thread for event in events]
    assert totals(service.org) == expected_of(everything)


def test_concurrent_keyless_reports_all_count(service):
    def report_many():
        client = service_client(service.secret)
        return [
            client.post(REPORT, {"event_type": "tokens_used", "quantity": 2}, format="json").status_code
            for _ in range(25)
        ]

    results = run_concurrently([report_many] * THREADS, timeout=120)

    assert {status for thread in results for status in thread} == {201}
    assert totals(service.org)["tokens"] == THREADS * 25 * 2


def _counter_values(org) -> dict[str, int | None]:
    from usage import counters
    from usage.periods import quota_period

    start, _ = quota_period(anchor=None, at=timezone.now())
    client = counters._redis()
    return {
        code: (None if (raw := client.get(counters.key_for(org.pk, code, start))) is None else int(raw))
        for code in ("tokens", "requests")
    }


@pytest.mark.redis
def test_counters_never_exceed_the_rollups_under_races_and_catch_up_at_the_next_write(service):
    events = shared_events()
    calls = [partial(send_all, service.secret, events, seed=seed, singles=seed * 3) for seed in range(THREADS)]
    run_concurrently(calls, timeout=120)

    truth = totals(service.org)
    during = _counter_values(service.org)
    assert during["tokens"] <= truth["tokens"]
    assert during["requests"] <= truth["requests"]

    client = service_client(service.secret)
    client.post(REPORT, {"event_type": "tokens_used", "quantity": 5}, format="json")
    client.post(REPORT, {"event_type": "api_call"}, format="json")

    assert _counter_values(service.org) == {"tokens": truth["tokens"] + 5, "requests": truth["requests"] + 1}
