"""Test helpers for usage that other apps' suites use too."""

from __future__ import annotations

from datetime import UTC, datetime

from plans.catalogue import catalogue
from plans.models import BillableMetric

from .events import ParsedEvent
from .ingest import record_events
from .periods import Buckets
from .selectors import quota_anchor


def record_usage(organization, metric_code: str, at, amount: int) -> None:
    """Usage as ingestion stores it: events dated `at` and their rollups (a sum metric gets
    one event of `amount`, a count metric `amount` events), live, without an API call."""
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
    return BillableMetric.objects.get(code=metric_code).event_types[0]
