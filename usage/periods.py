"""Quota periods: the window over which a plan's included quantities apply."""

from __future__ import annotations

from datetime import UTC, date, datetime

from billing_project.periods import calendar_month, period_containing


def quota_period(*, anchor: datetime | float | None, at: datetime) -> tuple[datetime, datetime]:
    """The half-open month [start, end) containing `at`: counted from the subscription's
    billing anchor (an aware datetime or epoch seconds), or the calendar month in UTC for
    an organization without a subscription.

    Included quantities are monthly (API.md: `tokens_monthly`), also on yearly plans, and
    periods start at midnight UTC so they are whole days of the daily rollups.
    """
    if anchor is None:
        return calendar_month(at)
    if not isinstance(anchor, datetime):
        anchor = datetime.fromtimestamp(anchor, tz=UTC)
    return period_containing(anchor, at, 1)


def day_of(at: datetime) -> date:
    return at.astimezone(UTC).date()
