"""Usage for tests, consistent with what ingestion stores.

- `record_usage` (usage.testing): events dated at a moment and their rollups, through
  usage.ingest, as an API report would store them; what quota checks and the cutoff see.
- `DailyUsageFactory` / `add_rollup`: usage written straight to a day's rollup bucket
  (events and quantity alike, so it reads the same for sum and count metrics), without
  events: what the invoice builder rates for whole days. `add_rollup` adds to that day's
  bucket when there is one.
"""

from __future__ import annotations

from datetime import date, datetime

import factory
from django.utils import timezone

from plans.models import BillableMetric
from usage.models import DailyUsage
from usage.testing import record_usage  # noqa: F401 - re-exported: events and rollups


class DailyUsageFactory(factory.django.DjangoModelFactory):
    """Today's whole-day bucket of a new organization and a new sum metric: `quantity`
    units in as many events."""

    class Meta:
        model = DailyUsage

    organization = factory.SubFactory("organizations.tests.factories.OrganizationFactory")
    metric = factory.SubFactory("plans.tests.factories.BillableMetricFactory")
    day = factory.LazyFunction(lambda: timezone.now().date())
    quantity = 1
    event_count = factory.LazyAttribute(lambda o: o.quantity)
    max_quantity = factory.LazyAttribute(lambda o: o.quantity)


def add_rollup(organization, metric_code: str, day: date | datetime, units: int) -> DailyUsage:
    """Add `units` (events and quantity alike) to the organization's whole-day bucket of
    `metric_code` on `day` (a datetime: its date)."""
    if isinstance(day, datetime):
        day = day.date()
    row, _ = DailyUsage.objects.get_or_create(
        organization=organization, metric=BillableMetric.objects.get(code=metric_code), day=day
    )
    row.quantity += units
    row.event_count += units
    row.max_quantity = max(row.max_quantity, units)
    row.save()
    return row
