"""Quota periods: the window over which a plan's included quantities apply."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from billing_project.periods import calendar_month, period_containing, start_of_day


def quota_period(*, anchor: datetime | None, at: datetime) -> tuple[datetime, datetime]:
    """The half-open month [start, end) containing `at`: counted from the subscription's
    billing anchor, or the calendar month in UTC for an organization without a
    subscription.

    Included quantities are monthly (API.md: `tokens_monthly`), also on yearly plans.
    Periods start at the anchor's time of day (the moment of purchase); the rollups split
    the day a period starts on there (see `Buckets`).
    """
    if anchor is None:
        return calendar_month(at)
    return period_containing(anchor, at, 1)


def day_of(at: datetime) -> date:
    return at.astimezone(UTC).date()


@dataclass(frozen=True)
class Buckets:
    """Where the rollup bucket of an event starts: midnight UTC of its day, or later that
    day when one of the organization's quota periods starts then, so that every period is
    a whole number of buckets. Built around `now` from the organization's anchor: the
    periods before, at and after now are known exactly (the SQL path uses those three);
    an event older than that is bucketed by computing its period."""

    anchor: datetime | None
    previous_start: datetime
    start: datetime
    end: datetime

    @classmethod
    def around(cls, *, anchor: datetime | None, now: datetime) -> Buckets:
        start, end = quota_period(anchor=anchor, at=now)
        previous_start, _ = quota_period(anchor=anchor, at=start - timedelta(microseconds=1))
        return cls(anchor, previous_start, start, end)

    def start_of(self, at: datetime) -> datetime:
        midnight = start_of_day(at)
        if at >= self.end:
            period_start = self.end
        elif at >= self.start:
            period_start = self.start
        elif at >= self.previous_start:
            period_start = self.previous_start
        else:
            period_start = quota_period(anchor=self.anchor, at=at)[0]
        return max(midnight, period_start)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class OpenWindow:
    """From when an organization's usage may still be reported (the open billing window),
    and why not earlier. Usage dated before `since` would be acknowledged and never
    invoiced, so it is refused."""

    since: datetime | None  # None: no bound
    reason: str = ""  # "invoiced", "subscription" or "period"
    period_start: datetime | None = None  # for "period": the current quota period's start

    def refusal(self) -> str:
        """The client's explanation of a refused timestamp."""
        since = _stamp(self.since)
        if self.reason == "invoiced":
            why = "usage before then is already invoiced"
        elif self.reason == "subscription":
            why = "that is when the subscription started; usage before it belongs to none of its billing periods"
        else:
            grace = int((self.period_start - self.since).total_seconds())
            why = (
                f"the current usage period started at {_stamp(self.period_start)}, and late usage of the "
                f"period before is accepted for its last {grace} seconds only"
            )
        return (
            f"Usage is accepted from {since} on ({why}); this event is outside the open billing "
            "window and was not recorded."
        )


def open_window(
    *,
    closed_before: datetime | None,
    subscription_started_at: datetime | None,
    period_start: datetime,
    grace_seconds: int,
) -> OpenWindow:
    """The open billing window of an organization whose usage is invoiced up to
    `closed_before` (the usage cutoff): with a live subscription it starts
    at the later of the cutoff and the subscription's start (usage before the purchase is
    no period's); without one, at the later of the cutoff and the start of the current
    quota period less `grace_seconds`, so the last moments of the period just ended still
    count and a date long past does not."""
    if subscription_started_at is not None:
        floor, reason = subscription_started_at, "subscription"
    else:
        floor, reason = period_start - timedelta(seconds=grace_seconds), "period"
    if closed_before is not None and closed_before >= floor:
        return OpenWindow(closed_before, "invoiced")
    return OpenWindow(floor, reason, period_start)
