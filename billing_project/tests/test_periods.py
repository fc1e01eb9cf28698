from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from billing_project.periods import add_months, calendar_month, period_bounds, period_containing, start_of_day


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_month_end_anchor_follows_the_calendar():
    anchor = utc(2026, 1, 31)
    assert [period_bounds(anchor, i, 1)[0] for i in range(4)] == [
        utc(2026, 1, 31),
        utc(2026, 2, 28),
        utc(2026, 3, 31),
        utc(2026, 4, 30),
    ]


def test_leap_year_february_has_29_days():
    assert add_months(utc(2028, 1, 31), 1) == utc(2028, 2, 29)


def test_yearly_period_from_leap_day():
    assert period_bounds(utc(2028, 2, 29), 1, 12) == (utc(2029, 2, 28), utc(2030, 2, 28))


def test_period_containing_finds_the_window():
    anchor = utc(2026, 1, 31)
    assert period_containing(anchor, utc(2026, 3, 15, 12)) == (utc(2026, 2, 28), utc(2026, 3, 31))
    assert period_containing(anchor, utc(2026, 3, 31)) == (utc(2026, 3, 31), utc(2026, 4, 30))


def test_calendar_month():
    assert calendar_month(utc(2026, 12, 31, 23, 59)) == (utc(2026, 12, 1), utc(2027, 1, 1))


def test_start_of_day_is_utc_midnight():
    assert start_of_day(utc(2026, 5, 5, 17, 3)) == utc(2026, 5, 5)


@given(
    anchor=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)).map(  # noqa: DTZ001 - hypothesis takes naive bounds
        lambda d: start_of_day(d.replace(tzinfo=UTC))
    ),
    offset=st.integers(min_value=0, max_value=3650 * 24 * 3600),
    months=st.sampled_from([1, 12]),
)
def test_every_instant_after_the_anchor_is_in_exactly_one_period(anchor, offset, months):
    at = anchor + timedelta(seconds=offset)
    start, end = period_containing(anchor, at, months)
    assert start <= at < end
    assert start.hour == start.minute == 0
