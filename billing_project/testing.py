"""Helpers shared by the test suites of every app."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.db import connection


def run_concurrently(calls: list[Callable[[], object]], *, timeout: float = 30) -> list:
    """Run each call in its own thread, all released at the same moment by a barrier.

    Returns the results in order; an exception in any call is raised here. Each thread
    closes its own database connection, so PostgreSQL sees real concurrent sessions.
    """
    barrier = threading.Barrier(len(calls))

    def run(call):
        try:
            barrier.wait(timeout=timeout)
            return call()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(run, call) for call in calls]
        return [future.result(timeout=timeout) for future in futures]


def assert_ok(response, status: int = 200):
    """The success envelope with `status`; returns its `data`."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is True
    return body["data"]


def assert_error(response, status: int, code: str) -> dict:
    """The error envelope with `status` and `error.code`; returns `error`."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def record_usage(organization, metric_code: str, at, amount: int) -> None:
    """Usage as ingestion stores it: events dated `at` and their rollups (a sum metric gets
    one event of `amount`, a count metric `amount` events), live, without an API call."""
    from datetime import UTC, datetime

    from plans.catalogue import catalogue
    from usage.events import ParsedEvent
    from usage.ingest import record_events
    from usage.periods import Buckets
    from usage.selectors import quota_anchor

    if not isinstance(at, datetime):
        at = datetime(at.year, at.month, at.day, 12, tzinfo=UTC)
    metric = catalogue().metrics_by_code[metric_code]
    event_type = metric_event_type(metric_code)
    sizes = [amount] if metric.aggregation in ("sum", "max") else [1] * amount
    events = [ParsedEvent(metric, event_type, size, at, None, "", "{}", None) for size in sizes]
    for offset in range(0, len(events), 1000):
        record_events(
            events[offset : offset + 1000],
            organization_id=organization.pk,
            api_key_id=None,
            livemode=True,
            received_at=at,
            buckets=Buckets.around(anchor=quota_anchor(organization_id=organization.pk), now=at),
        )


def metric_event_type(metric_code: str) -> str:
    from plans.models import BillableMetric

    return BillableMetric.objects.get(code=metric_code).event_types[0]
