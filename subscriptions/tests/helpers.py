"""Assertions and small helpers shared by the subscriptions tests."""

from __future__ import annotations

from datetime import UTC, datetime

from billing_project.testing import assert_error, assert_ok  # noqa: F401 - re-exported

SUBSCRIPTION = "/api/v1/subscriptions"
ENTITLEMENTS = "/api/v1/entitlements"
LIMITS = "/api/v1/usage/limits"
USAGE = "/api/v1/usage"
REPORT = "/api/v1/usage/report"
QUOTA = "/api/v1/usage/quota-check"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
