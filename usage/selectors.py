"""Reads over usage: period totals from the daily rollups, history, limits."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.db.models import Case, Count, DateField, F, IntegerField, Max, Q, Sum, Value, When

from plans.catalogue import catalogue
from plans.models import Aggregation
from plans.selectors import plan_terms_for_organization
from subscriptions.selectors import entitled_subscription

from .events import distinct_value
from .models import DailyUsage, UsageCutoff, UsageEvent, UsageUniqueValue


def quota_anchor(*, organization_id) -> datetime | None:
    """Where the organization's monthly quota windows are counted from (None: calendar months)."""

    subscription = entitled_subscription(organization_id=organization_id)
    return subscription.billing_anchor if subscription else None


def usage_closed_before(*, organization_id) -> datetime | None:
    return UsageCutoff.objects.filter(organization_id=organization_id).values_list("closed_before", flat=True).first()


def usage_totals_between(*, organization_id, start: datetime, end: datetime, metric_codes=None) -> dict[str, int]:
    """Each metric's aggregate over the rollup buckets that start in [start, end): a quota
    period's total (periods start where buckets do; see DailyUsage). Events ingested
    with a stale anchor may sit in a bucket that started earlier: they are left out,
    which keeps quota counters lower bounds (invoices use `usage_in_windows`)."""
    metrics = catalogue().metrics_by_code
    wanted = {code: metrics[code] for code in (metric_codes or metrics) if code in metrics}
    totals = dict.fromkeys(wanted, 0)
    by_id = {info.id: info for info in wanted.values()}
    rows = (
        DailyUsage.objects.filter(
            organization_id=organization_id, starts_at__gte=start, starts_at__lt=end, metric_id__in=list(by_id)
        )
        .values("metric_id")
        .annotate(total=Sum("quantity"), events=Sum("event_count"), largest=Max("max_quantity"))
    )
    for row in rows:
        info = by_id[str(row["metric_id"])]
        value = {"sum": row["total"], "count": row["events"], "max": row["largest"]}.get(info.aggregation)
        if value is not None:
            totals[info.code] = value
    unique_ids = [info.id for info in wanted.values() if info.aggregation == Aggregation.UNIQUE_COUNT]
    if unique_ids:
        distinct = (
            UsageUniqueValue.objects.filter(
                organization_id=organization_id, starts_at__gte=start, starts_at__lt=end, metric_id__in=unique_ids
            )
            .values("metric_id")
            .annotate(n=Count("value", distinct=True))
        )
        for row in distinct:
            totals[by_id[str(row["metric_id"])].code] = row["n"]
    return totals


@dataclass(frozen=True)
class UsageWindow:
    """The usage of one organization in [start, end), to the microsecond."""

    organization_id: object
    start: datetime  # aware, inclusive
    end: datetime  # aware, exclusive


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass
class _Piece:
    """A stretch of time of one organization that no window boundary cuts: the windows
    of one organization are unions of its pieces, and its pieces never overlap."""

    org: str
    start: datetime
    end: datetime
    days: tuple[date, date] | None = None  # the whole UTC days inside, [first, last)
    fringes: list[tuple[datetime, datetime]] = field(default_factory=list)  # partial days

    def __post_init__(self) -> None:
        start, end = self.start, self.end
        first = start.date() if start == _midnight(start.date()) else start.date() + timedelta(days=1)
        last = end.date()
        if first >= last:
            self.fringes = [(start, end)]
            return
        self.days = (first, last)
        if start < _midnight(first):
            self.fringes.append((start, _midnight(first)))
        if _midnight(last) < end:
            self.fringes.append((_midnight(last), end))


def _org_key(organization_id) -> str:
    return str(organization_id).replace("-", "").lower()


def _pieces(windows: Sequence[UsageWindow]) -> tuple[list[_Piece], list[list[int]]]:
    """The pieces of the windows' organizations, and each window's pieces (by index)."""
    spans: dict[str, list[tuple[int, datetime, datetime]]] = {}  # organization -> its windows
    for index, window in enumerate(windows):
        start, end = window.start.astimezone(UTC), window.end.astimezone(UTC)
        if start < end:
            spans.setdefault(_org_key(window.organization_id), []).append((index, start, end))
    pieces: list[_Piece] = []
    members: list[list[int]] = [[] for _window in windows]
    for org, own in spans.items():
        moments = sorted({moment for _index, start, end in own for moment in (start, end)})
        for start, end in itertools.pairwise(moments):
            inside = [index for index, window_start, window_end in own if window_start <= start and end <= window_end]
            if inside:
                for index in inside:
                    members[index].append(len(pieces))
                pieces.append(_Piece(org, start, end))
    return pieces, members


def usage_in_windows(*, windows: Sequence[UsageWindow], metric_codes=None) -> list[dict[str, int]]:
    """Each window's usage per metric, of the organization's live events dated
    start <= timestamp < end: the sum of quantities, the count of events, the largest
    quantity, or the distinct values of the metric's key over the whole window. One dict
    per window, in order, with every active metric of `metric_codes` (default: all), 0
    when unused. What invoices bill: exact to the microsecond whatever the windows.

    Whole UTC days inside a window are read from the rollups and the partial days at its
    edges from the events (a window from midnight to midnight reads no event). At most
    four queries whatever the number of windows: rollups, edge events, and for
    unique_count metrics their distinct values in each. Windows of one organization may
    abut or overlap (plan segments, two invoices): their boundaries cut its time into
    pieces that are read apart and summed per window.
    """
    metrics = catalogue().metrics_by_code
    codes = metrics if metric_codes is None else metric_codes
    wanted = {code: metrics[code] for code in codes if code in metrics}
    results = [dict.fromkeys(wanted, 0) for _window in windows]
    if not wanted or not windows:
        return results
    pieces, members = _pieces(windows)
    if not pieces:
        return results
    by_id = {info.id: info for info in wanted.values()}
    counted_ids = [info.id for info in wanted.values() if info.aggregation != "unique_count"]
    unique_ids = [info.id for info in wanted.values() if info.aggregation == Aggregation.UNIQUE_COUNT]
    locate = _Locator(pieces)
    per_piece: dict[tuple[int, str], list[int]] = {}  # (piece, metric id) -> [quantity, events, largest]
    if counted_ids:
        for piece, metric_id, quantity, events, largest in _rollup_rows(locate, counted_ids):
            _add(per_piece, (piece, metric_id), quantity, events, largest)
        for piece, metric_id, quantity, events, largest in _edge_rows(locate, counted_ids):
            _add(per_piece, (piece, metric_id), quantity, events, largest)
    values: dict[tuple[int, str], set[str]] = {}
    if unique_ids:
        for piece, metric_id, value in _distinct_values(locate, unique_ids, by_id):
            values.setdefault((piece, metric_id), set()).add(value)
    for index, piece_indexes in enumerate(members):
        totals = results[index]
        for info in wanted.values():
            if info.aggregation == Aggregation.UNIQUE_COUNT:
                seen: set[str] = set()
                for piece in piece_indexes:
                    seen |= values.get((piece, info.id), set())
                totals[info.code] = len(seen)
                continue
            for piece in piece_indexes:
                found = per_piece.get((piece, info.id))
                if found is None:
                    continue
                if info.aggregation == Aggregation.SUM:
                    totals[info.code] += found[0]
                elif info.aggregation == Aggregation.COUNT:
                    totals[info.code] += found[1]
                else:
                    totals[info.code] = max(totals[info.code], found[2])
    return results


def _add(per_piece: dict, key, quantity, events, largest) -> None:
    found = per_piece.get(key)
    if found is None:
        per_piece[key] = [quantity or 0, events or 0, largest or 0]
    else:
        found[0] += quantity or 0
        found[1] += events or 0
        found[2] = max(found[2], largest or 0)


class _Locator:
    """Which piece a rollup row or an event belongs to. Most organizations have one piece
    in a call (one window each): their rows are grouped by organization alone. The rows
    of an organization with several pieces are also grouped by day (rollups) or told
    apart by their piece's bounds (events), so its pieces never mix."""

    def __init__(self, pieces: list[_Piece]):
        self.pieces = pieces
        self.of_org: dict[str, list[int]] = {}
        for index, piece in enumerate(pieces):
            self.of_org.setdefault(piece.org, []).append(index)
        self.several = [org for org, indexes in self.of_org.items() if len(indexes) > 1]

    def org_ids(self, orgs) -> list[str]:
        return [str(uuid.UUID(org)) for org in orgs]

    def whole_days(self) -> Q:
        where = Q()
        for piece in self.pieces:
            if piece.days:
                where |= Q(organization_id=piece.org, day__gte=piece.days[0], day__lt=piece.days[1])
        return where

    def edges(self) -> Q:
        where = Q()
        for piece in self.pieces:
            for start, end in piece.fringes:
                where |= Q(organization_id=piece.org, timestamp__gte=start, timestamp__lt=end)
        return where

    def day_split(self):
        """Each row's day when its organization has several pieces, else NULL."""
        if not self.several:
            return Value(None, output_field=DateField())
        return Case(
            When(organization_id__in=self.org_ids(self.several), then=F("day")),
            default=Value(None),
            output_field=DateField(),
        )

    def edge_split(self):
        """The piece of an event of an organization with several pieces, else NULL."""
        whens = [
            When(Q(organization_id=org, timestamp__gte=start, timestamp__lt=end), then=Value(index))
            for org in self.several
            for index in self.of_org[org]
            for start, end in self.pieces[index].fringes
        ]
        if not whens:
            return Value(None, output_field=IntegerField())
        return Case(
            When(
                organization_id__in=self.org_ids(self.several),
                then=Case(*whens, default=Value(None), output_field=IntegerField()),
            ),
            default=Value(None),
            output_field=IntegerField(),
        )

    def by_day(self, org_id, day) -> int | None:
        indexes = self.of_org.get(_org_key(org_id))
        if not indexes:
            return None
        if day is None:
            return indexes[0] if len(indexes) == 1 else None
        if isinstance(day, str):
            day = date.fromisoformat(day[:10])
        for index in indexes:
            days = self.pieces[index].days
            if days and days[0] <= day < days[1]:
                return index
        return None

    def by_edge(self, org_id, piece) -> int | None:
        if piece is not None:
            return int(piece)
        indexes = self.of_org.get(_org_key(org_id))
        return indexes[0] if indexes and len(indexes) == 1 else None


def _rollup_rows(locate: _Locator, metric_ids):
    where = locate.whole_days()
    if not where:
        return
    rows = (
        DailyUsage.objects.filter(where, metric_id__in=metric_ids)
        .annotate(split=locate.day_split())
        .values("organization_id", "metric_id", "split")
        .annotate(total=Sum("quantity"), events=Sum("event_count"), largest=Max("max_quantity"))
        .order_by()
    )
    for row in rows:
        piece = locate.by_day(row["organization_id"], row["split"])
        if piece is not None:
            yield piece, str(row["metric_id"]), row["total"], row["events"], row["largest"]


def _edge_rows(locate: _Locator, metric_ids):
    where = locate.edges()
    if not where:
        return
    rows = (
        UsageEvent.objects.filter(where, livemode=True, metric_id__in=metric_ids)
        .annotate(split=locate.edge_split())
        .values("organization_id", "metric_id", "split")
        .annotate(total=Sum("quantity"), events=Count("id"), largest=Max("quantity"))
        .order_by()
    )
    for row in rows:
        piece = locate.by_edge(row["organization_id"], row["split"])
        if piece is not None:
            yield piece, str(row["metric_id"]), row["total"], row["events"], row["largest"]


def _distinct_values(locate: _Locator, metric_ids, by_id):
    """(piece, metric id, value) of unique_count metrics: the rollups' distinct values of
    whole days, and the values of the events at the edges, taken from their metadata as
    ingestion takes them (usage.events.distinct_value)."""
    where = locate.whole_days()
    if where:
        rows = (
            UsageUniqueValue.objects.filter(where, metric_id__in=metric_ids)
            .annotate(split=locate.day_split())
            .values_list("organization_id", "metric_id", "split", "value")
            .distinct()
            .order_by()
        )
        for org_id, metric_id, split, value in rows.iterator(chunk_size=5000):
            piece = locate.by_day(org_id, split)
            if piece is not None:
                yield piece, str(metric_id), value
    where = locate.edges()
    if where:
        rows = (
            UsageEvent.objects.filter(where, livemode=True, metric_id__in=metric_ids)
            .annotate(split=locate.edge_split())
            .values_list("organization_id", "metric_id", "split", "metadata")
            .order_by()
        )
        for org_id, metric_id, split, metadata in rows.iterator(chunk_size=5000):
            piece = locate.by_edge(org_id, split)
            value = (metadata or {}).get(by_id[str(metric_id)].aggregation_key) if isinstance(metadata, dict) else None
            if piece is not None and value is not None and not isinstance(value, (dict, list)):
                yield piece, str(metric_id), distinct_value(value)


def usage_totals(*, organization_id, start: date, end: date, metric_codes=None) -> dict[str, int]:
    """Each metric's aggregate over the days [start, end), from the rollups.

    sum: total quantity; count: number of events; max: the largest quantity;
    unique_count: distinct values over the whole period (not a sum of daily counts).
    """
    return usage_totals_many(organization_ids=[organization_id], start=start, end=end, metric_codes=metric_codes)[
        str(organization_id)
    ]


def usage_totals_many(*, organization_ids, start: date, end: date, metric_codes=None) -> dict[str, dict[str, int]]:
    """`usage_totals` of many organizations over the same days, in one query per kind of
    aggregation (the billing cycle rates thousands of periods at once)."""
    metrics = catalogue().metrics_by_code
    wanted = {code: metrics[code] for code in (metric_codes or metrics) if code in metrics}
    org_ids = [str(org_id) for org_id in organization_ids]
    totals = {org_id: dict.fromkeys(wanted, 0) for org_id in org_ids}
    by_id = {info.id: info for info in wanted.values()}
    rows = (
        DailyUsage.objects.filter(organization_id__in=org_ids, day__gte=start, day__lt=end, metric_id__in=list(by_id))
        .values("organization_id", "metric_id")
        .annotate(total=Sum("quantity"), events=Sum("event_count"), largest=Max("max_quantity"))
    )
    for row in rows:
        info = by_id[str(row["metric_id"])]
        value = {"sum": row["total"], "count": row["events"], "max": row["largest"]}.get(info.aggregation)
        if value is not None:
            totals[str(row["organization_id"])][info.code] = value
    unique_ids = [info.id for info in wanted.values() if info.aggregation == Aggregation.UNIQUE_COUNT]
    if unique_ids:
        distinct = (
            UsageUniqueValue.objects.filter(
                organization_id__in=org_ids, day__gte=start, day__lt=end, metric_id__in=unique_ids
            )
            .values("organization_id", "metric_id")
            .annotate(n=Count("value", distinct=True))
        )
        for row in distinct:
            totals[str(row["organization_id"])][by_id[str(row["metric_id"])].code] = row["n"]
    return totals


def daily_series(
    *, organization_id, start: date, end: date, within: tuple[datetime, datetime] | None = None
) -> dict[date, dict[str, int]]:
    """Per day in [start, end): each metric's value that day (unique_count: that day's
    distinct count), over the day's rollup buckets; with `within` (a quota period), only
    the buckets that start inside it, so a period starting at 15:00 shows its first day
    from 15:00."""
    metrics = {info.id: info for info in catalogue().metrics_by_code.values()}
    series: dict[date, dict[str, int]] = {}
    bounds = Q(organization_id=organization_id, day__gte=start, day__lt=end)
    if within is not None:
        bounds &= Q(starts_at__gte=within[0], starts_at__lt=within[1])
    rows = (
        DailyUsage.objects.filter(bounds)
        .values("day", "metric_id")
        .annotate(total=Sum("quantity"), events=Sum("event_count"), largest=Max("max_quantity"))
        .order_by()
    )
    for row in rows:
        info = metrics.get(str(row["metric_id"]))
        if info is None or info.aggregation == Aggregation.UNIQUE_COUNT:
            continue
        value = {"sum": row["total"], "count": row["events"], "max": row["largest"]}[info.aggregation]
        series.setdefault(row["day"], {})[info.code] = value
    unique_ids = [info.id for info in metrics.values() if info.aggregation == Aggregation.UNIQUE_COUNT]
    if unique_ids:
        distinct = (
            UsageUniqueValue.objects.filter(bounds, metric_id__in=unique_ids)
            .values("day", "metric_id")
            .annotate(n=Count("value", distinct=True))
            .order_by()
        )
        for row in distinct:
            series.setdefault(row["day"], {})[metrics[str(row["metric_id"])].code] = row["n"]
    return series


def _month_bounds(day: date) -> tuple[date, date]:
    start = day.replace(day=1)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def usage_overview(*, organization_id, period: str, now: datetime, with_series: bool) -> dict:
    """`GET /usage`: a quota period's totals per metric against the plan's included quantities.

    `current_month` is the quota period containing now (counted from the subscription's
    billing anchor, or the calendar month without one); `previous_month` the one before.
    """

    from .periods import quota_period

    anchor = quota_anchor(organization_id=organization_id)
    start_at, end_at = quota_period(anchor=anchor, at=now)
    if period == "previous_month":
        start_at, end_at = quota_period(anchor=anchor, at=start_at - timedelta(seconds=1))
    start, end = start_at.date(), end_at.date()
    if end_at > datetime.combine(end, datetime.min.time(), tzinfo=end_at.tzinfo):
        end += timedelta(days=1)  # a period ending during a day shows that day in its series
    plan = plan_terms_for_organization(organization_id=organization_id)
    totals = usage_totals_between(organization_id=organization_id, start=start_at, end=end_at)
    metrics = {}
    for code, info in catalogue().metrics_by_code.items():
        charge = plan.charges.get(code) if plan else None
        included = charge.included if charge else None
        used = totals.get(code, 0)
        metrics[code] = {
            "used": used,
            "included": included,
            "remaining": None if included is None else max(included - used, 0),
            "unit": info.unit,
            "policy": charge.policy if charge else None,
        }
    overview = {
        "period_start": start_at,
        "period_end": end_at,
        "plan": {"id": plan.id, "code": plan.code, "name": plan.name} if plan else None,
        "tokens_used": totals.get("tokens", 0),
        "requests_made": totals.get("requests", 0),
        "quota": {
            "tokens": metrics.get("tokens", {}).get("included"),
            "requests": metrics.get("requests", {}).get("included"),
        },
        "metrics": metrics,
    }
    if with_series:
        series = daily_series(organization_id=organization_id, start=start, end=end, within=(start_at, end_at))
        last = min(end, now.date() + timedelta(days=1))
        overview["series"] = [
            {"date": start + timedelta(days=offset), "metrics": series.get(start + timedelta(days=offset), {})}
            for offset in range((last - start).days)
        ]
    return overview


def usage_history(*, organization_id, start: date, end: date, granularity: str) -> list[dict]:
    """`GET /usage/history`: one point per day (or month) in [start, end], oldest first.

    Monthly points sum daily values for sum and count metrics, take the largest for max
    metrics, and count distinct values over the month for unique_count metrics.
    """
    stop = end + timedelta(days=1)
    if granularity == "daily":
        series = daily_series(organization_id=organization_id, start=start, end=stop)
        days = (start + timedelta(days=offset) for offset in range((stop - start).days))
        points = [(day, series.get(day, {})) for day in days]
    else:
        points = []
        month_start = start.replace(day=1)
        while month_start < stop:
            month_first, month_end = _month_bounds(month_start)
            window_start, window_end = max(month_first, start), min(month_end, stop)
            points.append(
                (month_first, usage_totals(organization_id=organization_id, start=window_start, end=window_end))
            )
            month_start = month_end
    return [
        {
            "date": day,
            "tokens_used": values.get("tokens", 0),
            "requests_made": values.get("requests", 0),
            "metrics": {code: value for code, value in values.items() if value},
        }
        for day, values in points
    ]


def usage_limits(*, organization_id) -> dict:
    """`GET /usage/limits`: the plan's included quantities per month."""

    plan = plan_terms_for_organization(organization_id=organization_id)
    limits = {f"{code}_monthly": charge.included for code, charge in (plan.charges.items() if plan else [])}
    return {"plan": {"id": plan.id, "code": plan.code, "name": plan.name} if plan else None, "limits": limits}
