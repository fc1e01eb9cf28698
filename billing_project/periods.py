"""Calendar arithmetic for billing and quota periods.

Periods are half-open [start, end), in UTC, and start at midnight so they are whole days
of the daily usage rollups. Month lengths follow the calendar from a fixed anchor: a
subscription anchored on Jan 31 renews Feb 28 (29 in leap years), then Mar 31, Apr 30.
Each boundary is computed from the anchor, never from the previous boundary, so a short
month does not pull every later date earlier.
"""

from __future__ import annotations

from datetime import UTC, datetime

from dateutil.relativedelta import relativedelta


def start_of_day(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    return datetime(at.year, at.month, at.day, tzinfo=UTC)


def add_months(anchor: datetime, months: int) -> datetime:
    """`anchor` plus whole months, the day clamped to the month's length."""
    return anchor + relativedelta(months=months)


def period_bounds(anchor: datetime, index: int, months: int) -> tuple[datetime, datetime]:
    """The `index`-th period of `months` months counted from `anchor` (index 0 starts there)."""
    return add_months(anchor, index * months), add_months(anchor, (index + 1) * months)


def period_index(anchor: datetime, at: datetime, months: int) -> int:
    """Which period (counted from 0 at `anchor`) contains `at`; negative before the anchor."""
    at = at.astimezone(UTC)
    index = ((at.year - anchor.year) * 12 + at.month - anchor.month) // months
    while add_months(anchor, index * months) > at:
        index -= 1
    while add_months(anchor, (index + 1) * months) <= at:
        index += 1
    return index


def period_containing(anchor: datetime, at: datetime, months: int = 1) -> tuple[datetime, datetime]:
    return period_bounds(anchor, period_index(anchor, at, months), months)


def calendar_month(at: datetime) -> tuple[datetime, datetime]:
    """The calendar month (UTC) containing `at`."""
    at = at.astimezone(UTC)
    return period_containing(datetime(2000, 1, 1, tzinfo=UTC), at, 1)
