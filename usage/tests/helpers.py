"""Assertions and small computations shared by the usage tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone
from rest_framework.test import APIClient

from apikeys.models import APIKey, Mode
from apikeys.tests.factories import APIKeyFactory
from billing_project.testing import assert_error, assert_ok  # noqa: F401 - re-exported
from billing_project.tests.world import people_client, service_client  # noqa: F401 - re-exported
from organizations.models import Organization
from usage.models import DailyUsage, UsageEvent
from usage.selectors import usage_totals

REPORT = "/api/v1/usage/report"
BATCH = "/api/v1/usage/batch-report"
QUOTA = "/api/v1/usage/quota-check"
USAGE = "/api/v1/usage"
HISTORY = "/api/v1/usage/history"
LIMITS = "/api/v1/usage/limits"

FREE_TOKENS = 10_000
FREE_REQUESTS = 1_000


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def iso_seconds(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def this_month() -> tuple[date, date]:
    """The first day of this month and of the next (UTC), computed without usage.periods."""
    today = timezone.now().astimezone(UTC).date()
    first = today.replace(day=1)
    following = date(first.year + 1, 1, 1) if first.month == 12 else date(first.year, first.month + 1, 1)
    return first, following


def last_month_moment() -> datetime:
    """Half an hour before this month began (UTC): late usage of the previous month that
    an organization without a subscription may still report (BILLING_GRACE_SECONDS)."""
    return datetime.combine(this_month()[0], time(0), tzinfo=UTC) - timedelta(minutes=30)


def earlier_today_or_yesterday() -> tuple[datetime, datetime]:
    """Two moments in the past, on different UTC days: a minute ago (or midnight, just after
    it) and noon yesterday, so that minutes around either stay on its day."""
    now = timezone.now().astimezone(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return max(now - timedelta(minutes=1), midnight), midnight - timedelta(hours=12)


def totals(organization, codes=None) -> dict[str, int]:
    """The organization's totals this month from the rollups."""
    start, end = this_month()
    return usage_totals(organization_id=organization.pk, start=start, end=end, metric_codes=codes)


def events_of(organization):
    return UsageEvent.objects.filter(organization=organization)


def rollups_of(organization, metric_code: str) -> dict[date, DailyUsage]:
    return {row.day: row for row in DailyUsage.objects.filter(organization=organization, metric__code=metric_code)}


@dataclass
class Service:
    """An API key of `org` and a client that sends it."""

    org: Organization
    key: APIKey
    secret: str
    client: APIClient

    def report(self, **event):
        return self.client.post(REPORT, event, format="json")

    def batch(self, events):
        return self.client.post(BATCH, {"events": events}, format="json")

    def quota(self, **params):
        return self.client.get(QUOTA, params)


def new_service(organization: Organization, *, scopes=None, mode: str = Mode.LIVE) -> Service:
    """A new key of `organization` (every scope unless given) and its client."""
    fields = {} if scopes is None else {"scopes": scopes}
    key = APIKeyFactory(organization=organization, mode=mode, **fields)
    return Service(org=organization, key=key, secret=key.secret, client=service_client(key.secret))
