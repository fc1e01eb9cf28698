"""Quota periods: the window over which a plan's included quantities apply."""

from __future__ import annotations

from datetime import UTC, date, datetime


def month_start(at: datetime) -> datetime:
    return datetime(at.year, at.month, 1, tzinfo=UTC)


def next_month_start(at: datetime) -> datetime:
    if at.month == 12:
        return datetime(at.year + 1, 1, 1, tzinfo=UTC)
    return datetime(at.year, at.month + 1, 1, tzinfo=UTC)


def quota_period(*, organization_id, at: datetime) -> tuple[datetime, datetime]:
    """The half-open period [start, end) containing `at`: the calendar month in UTC.

    Included quantities are monthly (API.md: `tokens_monthly`), and periods start at
    midnight UTC so they are whole days of the daily rollups.
    """
    at = at.astimezone(UTC)
    return month_start(at), next_month_start(at)


def day_of(at: datetime) -> date:
    return at.astimezone(UTC).date()
