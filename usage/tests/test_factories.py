"""Usage for tests: a rollup bucket written directly is a whole UTC day's, and add_rollup
adds to it; record_usage stores events and their rollups as ingestion does."""

from datetime import UTC, date, datetime

import pytest

from organizations.tests.factories import OrganizationFactory
from usage.models import DailyUsage, UsageEvent
from usage.tests.factories import DailyUsageFactory, add_rollup, record_usage

pytestmark = pytest.mark.django_db


def test_a_daily_usage_row_is_a_whole_days_bucket():
    row = DailyUsageFactory(quantity=7, day=date(2026, 3, 5))

    row.full_clean()
    assert row.starts_at == datetime(2026, 3, 5, tzinfo=UTC)
    assert (row.quantity, row.event_count, row.max_quantity) == (7, 7, 7)


def test_add_rollup_adds_to_the_days_bucket():
    organization = OrganizationFactory()

    add_rollup(organization, "tokens", date(2026, 3, 5), 100)
    row = add_rollup(organization, "tokens", datetime(2026, 3, 5, 12, tzinfo=UTC), 50)

    assert DailyUsage.objects.filter(organization=organization).count() == 1
    assert (row.quantity, row.event_count, row.max_quantity) == (150, 150, 100)


def test_record_usage_stores_the_events_and_their_rollup():
    organization = OrganizationFactory()

    record_usage(organization, "requests", datetime(2026, 3, 5, 12, tzinfo=UTC), 3)

    assert UsageEvent.objects.filter(organization=organization).count() == 3
    assert DailyUsage.objects.get(organization=organization).event_count == 3
