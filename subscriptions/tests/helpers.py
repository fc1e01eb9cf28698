"""Assertions and small helpers shared by the subscriptions tests."""

from __future__ import annotations

from datetime import UTC, datetime

SUBSCRIPTION = "/api/v1/subscriptions"
ENTITLEMENTS = "/api/v1/entitlements"
LIMITS = "/api/v1/usage/limits"
USAGE = "/api/v1/usage"
REPORT = "/api/v1/usage/report"
QUOTA = "/api/v1/usage/quota-check"


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


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
