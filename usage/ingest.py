"""Storing usage events and their rollups in as few statements as possible.

One multi-row INSERT ... ON CONFLICT DO NOTHING RETURNING stores a whole batch and says
which idempotency keys were new; one upsert adds the new events to the rollup buckets
(per organization, metric and UTC day, split where a quota period starts during a day:
see usage.periods.Buckets). Rows are written in a fixed order (by idempotency key, then
by metric and bucket), so two concurrent batches that share keys or rollup rows wait for
each other instead of deadlocking; the unique index decides which of two racing copies
of one key counts.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import psycopg
from django.db import connection, transaction

from .events import ParsedEvent
from .models import DailyUsage, UsageEvent, UsageUniqueValue
from .periods import Buckets

EVENTS = UsageEvent._meta.db_table
DAILY = DailyUsage._meta.db_table
UNIQUE = UsageUniqueValue._meta.db_table


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


def _uuid(value):
    """UUIDs as the backend stores them: native on PostgreSQL, 32 hex digits on SQLite."""
    text = str(value)
    return text if _is_postgres() else text.replace("-", "")


def _dt(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _date(value: date):
    return connection.ops.adapt_datefield_value(value)


def _insert_events(
    rows: Sequence[ParsedEvent], *, organization_id, api_key_id, livemode: bool, received_at: datetime
) -> set[str] | None:
    """Insert; return the idempotency keys that were new (None entries for keyless events)."""
    org = _uuid(organization_id)
    key_id = _uuid(api_key_id) if api_key_id else None
    with connection.cursor() as cursor:
        if _is_postgres():
            cursor.execute(
                f"""
                INSERT INTO {EVENTS} (organization_id, metric_id, event_type, quantity, "timestamp",
                    received_at, idempotency_key, endpoint, metadata, api_key_id, livemode)
                SELECT %s, m, e, q, t, %s, k, ep, md::jsonb, %s, %s
                FROM unnest(%s::uuid[], %s::text[], %s::bigint[], %s::timestamptz[], %s::text[],
                            %s::text[], %s::text[]) AS u(m, e, q, t, k, ep, md)
                ON CONFLICT DO NOTHING
                RETURNING idempotency_key
                """,
                [
                    org,
                    received_at,
                    key_id,
                    livemode,
                    [row.metric.id for row in rows],
                    [row.event_type for row in rows],
                    [row.quantity for row in rows],
                    [row.timestamp for row in rows],
                    [row.idempotency_key for row in rows],
                    [row.endpoint for row in rows],
                    [row.metadata for row in rows],
                ],
            )
        else:
            received = _dt(received_at)
            values = ",".join(["(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"] * len(rows))
            params: list = []
            for row in rows:
                params += [
                    org,
                    _uuid(row.metric.id),
                    row.event_type,
                    row.quantity,
                    _dt(row.timestamp),
                    received,
                    row.idempotency_key,
                    row.endpoint,
                    row.metadata,
                    key_id,
                    livemode,
                ]
            cursor.execute(
                f"""
                INSERT INTO {EVENTS} (organization_id, metric_id, event_type, quantity, "timestamp",
                    received_at, idempotency_key, endpoint, metadata, api_key_id, livemode)
                VALUES {values}
                ON CONFLICT DO NOTHING
                RETURNING idempotency_key
                """,
                params,
            )
        return {key for (key,) in cursor.fetchall()}


def _insert_unique_values(organization_id, values: list[tuple[str, datetime, str]]) -> dict[tuple[str, datetime], int]:
    """Insert distinct values per (metric, bucket); return how many were new per (metric, bucket)."""
    new: dict[tuple[str, datetime], int] = defaultdict(int)
    if not values:
        return new
    org = _uuid(organization_id)
    placeholders = ",".join(["(%s,%s,%s,%s,%s)"] * len(values))
    params: list = []
    for metric_id, starts_at, value in values:
        params += [org, _uuid(metric_id), _date(starts_at.date()), _dt(starts_at), value]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {UNIQUE} (organization_id, metric_id, day, starts_at, value) VALUES {placeholders}
            ON CONFLICT DO NOTHING RETURNING metric_id, starts_at
            """,
            params,
        )
        for metric_id, starts_at in cursor.fetchall():
            new[(str(uuid.UUID(str(metric_id))), _aware(starts_at))] += 1
    return new


def _aware(value) -> datetime:
    """A datetime as the backend returned it (SQLite: text), aware in UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


_UPSERT_SET = f"""
    quantity = {DAILY}.quantity + excluded.quantity,
    event_count = {DAILY}.event_count + excluded.event_count,
    max_quantity = CASE WHEN excluded.max_quantity > {DAILY}.max_quantity
                        THEN excluded.max_quantity ELSE {DAILY}.max_quantity END,
    unique_count = {DAILY}.unique_count + excluded.unique_count,
    updated_at = excluded.updated_at
"""


def _upsert_rollups(organization_id, deltas: dict[tuple[str, datetime], list[int]], now: datetime) -> None:
    """deltas: (metric id, bucket start) -> [quantity, events, max quantity, new distinct values]."""
    org = _uuid(organization_id)
    ordered = sorted(deltas.items())
    placeholders = ",".join(["(%s,%s,%s,%s,%s,%s,%s,%s,%s)"] * len(ordered))
    params: list = []
    stamp = _dt(now)
    for (metric_id, starts_at), (quantity, events, largest, unique) in ordered:
        params += [
            org,
            _uuid(metric_id),
            _date(starts_at.date()),
            _dt(starts_at),
            quantity,
            events,
            largest,
            unique,
            stamp,
        ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {DAILY} (organization_id, metric_id, day, starts_at, quantity, event_count, max_quantity,
                                 unique_count, updated_at)
            VALUES {placeholders}
            ON CONFLICT (organization_id, metric_id, starts_at) DO UPDATE SET {_UPSERT_SET}
            """,
            params,
        )


# The rows of the insert: one event as plain values (cheaper to execute than unnest), a
# batch as arrays unnested on the server.
_ONE_ROW = "VALUES (%(org)s, %(m1)s, %(e1)s, %(q1)s, %(t1)s, %(now)s, %(k1)s, %(ep1)s, %(md1)s::jsonb, %(key)s, true)"
_MANY_ROWS = """
    SELECT %(org)s, m, e, q, t, %(now)s, k, ep, md::jsonb, %(key)s, true
    FROM unnest(%(m)s::uuid[], %(e)s::text[], %(q)s::bigint[], %(t)s::timestamptz[], %(k)s::text[],
                %(ep)s::text[], %(md)s::text[]) AS u(m, e, q, t, k, ep, md)
"""


def _row_params(rows: Sequence[ParsedEvent]) -> dict:
    if len(rows) == 1:
        row = rows[0]
        return {
            "m1": row.metric.id,
            "e1": row.event_type,
            "q1": row.quantity,
            "t1": row.timestamp,
            "k1": row.idempotency_key,
            "ep1": row.endpoint,
            "md1": row.metadata,
        }
    return {
        "m": [row.metric.id for row in rows],
        "e": [row.event_type for row in rows],
        "q": [row.quantity for row in rows],
        "t": [row.timestamp for row in rows],
        "k": [row.idempotency_key for row in rows],
        "ep": [row.endpoint for row in rows],
        "md": [row.metadata for row in rows],
    }


# The bucket of an event (see usage.periods.Buckets), in SQL: midnight of its UTC day, or
# the start of the quota period (previous, current or next) that begins later that day.
_DAY = """(date_trunc('day', "timestamp" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"""
_BUCKET = f"""CASE
    WHEN "timestamp" >= %(b_end)s THEN greatest({_DAY}, %(b_end)s)
    WHEN "timestamp" >= %(b_start)s THEN greatest({_DAY}, %(b_start)s)
    WHEN "timestamp" >= %(b_prev)s THEN greatest({_DAY}, %(b_prev)s)
    ELSE {_DAY} END"""


def _record_in_one_statement(
    rows: Sequence[ParsedEvent], *, organization_id, api_key_id, received_at: datetime, period, buckets: Buckets
) -> tuple[set[str | None], dict[str, tuple[int, int, int]]]:
    """PostgreSQL, live events without distinct values: insert the events, add the new
    ones to their rollup buckets and read the period's totals of the metrics involved, in
    a single statement (one round trip, committed atomically on its own).

    The totals are those the statement's snapshot saw plus this statement's own new
    events: never more than the truth once it commits (see usage.counters).
    """
    start, end = period if period else (received_at, received_at)
    # A plain psycopg cursor: parameters bound on the server (Django's cursor interpolates
    # them client-side, costly for arrays) and a prepared statement, planned once per
    # connection instead of on every report.
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            f"""
            WITH ins AS (
                INSERT INTO {EVENTS} (organization_id, metric_id, event_type, quantity, "timestamp",
                    received_at, idempotency_key, endpoint, metadata, api_key_id, livemode)
                {_ONE_ROW if len(rows) == 1 else _MANY_ROWS}
                ON CONFLICT DO NOTHING
                RETURNING metric_id, "timestamp", quantity, idempotency_key
            ), bucketed AS (
                SELECT metric_id, {_BUCKET} AS starts_at, quantity FROM ins
            ), rollup AS (
                INSERT INTO {DAILY} (organization_id, metric_id, day, starts_at, quantity, event_count,
                                     max_quantity, unique_count, updated_at)
                SELECT %(org)s, metric_id, (starts_at AT TIME ZONE 'UTC')::date, starts_at, sum(quantity)::bigint,
                       count(*), max(quantity), 0, %(now)s
                FROM bucketed GROUP BY metric_id, starts_at ORDER BY metric_id, starts_at
                ON CONFLICT (organization_id, metric_id, starts_at) DO UPDATE SET {_UPSERT_SET}
            ), before AS (
                SELECT metric_id, sum(quantity)::bigint AS q, sum(event_count)::bigint AS c,
                       max(max_quantity) AS mx
                FROM {DAILY}
                WHERE organization_id = %(org)s AND metric_id = ANY(%(touched)s::uuid[])
                  AND starts_at >= %(start)s AND starts_at < %(end)s
                GROUP BY metric_id
            ), mine AS (
                SELECT metric_id, sum(quantity)::bigint AS q, count(*) AS c, max(quantity) AS mx
                FROM ins WHERE %(with_totals)s AND "timestamp" >= %(start)s AND "timestamp" < %(end)s
                GROUP BY metric_id
            )
            SELECT 'k', idempotency_key, NULL::bigint, NULL::bigint, NULL::bigint FROM ins
            UNION ALL
            SELECT 't', coalesce(b.metric_id, m.metric_id)::text, coalesce(b.q, 0) + coalesce(m.q, 0),
                   coalesce(b.c, 0) + coalesce(m.c, 0), greatest(coalesce(b.mx, 0), coalesce(m.mx, 0))
            FROM before b FULL OUTER JOIN mine m ON b.metric_id = m.metric_id
            """,
            {
                "org": str(organization_id),
                "now": received_at,
                "key": str(api_key_id) if api_key_id else None,
                **_row_params(rows),
                "touched": sorted({row.metric.id for row in rows}) if period else [],
                "with_totals": bool(period),
                "start": start,
                "end": end,
                "b_prev": buckets.previous_start,
                "b_start": buckets.start,
                "b_end": buckets.end,
            },
            prepare=True,
        )
        inserted: set[str | None] = set()
        totals: dict[str, tuple[int, int, int]] = {}
        for kind, value, quantity, count, largest in cursor.fetchall():
            if kind == "k":
                inserted.add(value)
            else:
                totals[value] = (quantity, count, largest)
        return inserted, totals


def _totals_after_commit(organization_id, metric_ids, period) -> dict[str, tuple[int, int, int]]:
    """The period's totals of `metric_ids`, read after the events were committed."""
    from django.db.models import Max, Sum

    start, end = period
    rows = (
        DailyUsage.objects.filter(
            organization_id=organization_id, metric_id__in=metric_ids, starts_at__gte=start, starts_at__lt=end
        )
        .values("metric_id")
        .annotate(q=Sum("quantity"), c=Sum("event_count"), mx=Max("max_quantity"))
    )
    return {str(row["metric_id"]): (row["q"] or 0, row["c"] or 0, row["mx"] or 0) for row in rows}


@dataclass
class Recorded:
    """What `record_events` did: per event, whether it was new (False: its idempotency key
    was seen before), and, when a period was asked for, that period's totals (sum of
    quantities, events, largest quantity) of the metrics involved, by metric id."""

    is_new: list[bool]
    totals: dict[str, tuple[int, int, int]] = field(default_factory=dict)


def record_events(
    events: Sequence[ParsedEvent],
    *,
    organization_id,
    api_key_id,
    livemode: bool,
    received_at: datetime,
    period: tuple[datetime, datetime] | None = None,
    buckets: Buckets | None = None,
) -> Recorded:
    """Store events once each (a repeated idempotency key, in this batch or earlier, is a
    duplicate). Live events are rolled up into the buckets `buckets` says (default: whole
    UTC days of calendar months); test-mode events are only stored. With `period`, also
    report its totals of the metrics involved (for the quota counters).

    `buckets` comes from the anchor the caller's principal holds, which may be up to
    APIKEY_CACHE_SECONDS old: an event ingested with the anchor from before a purchase at
    15:00 lands in that day's midnight bucket, which the new period's totals (buckets
    starting at or after 15:00) leave out. Quota totals then under-count it, so counters
    stay lower bounds; invoices read exact windows (usage.selectors.usage_in_windows)
    and bill it anyway."""
    buckets = buckets or Buckets.around(anchor=None, now=received_at)
    is_new = [False] * len(events)
    first_index: dict[str, int] = {}
    candidates: list[int] = []
    for index, event in enumerate(events):
        key = event.idempotency_key
        if key is None:
            candidates.append(index)
        elif key not in first_index:
            first_index[key] = index
            candidates.append(index)
    if not candidates:
        return Recorded(is_new)
    candidates.sort(key=lambda i: events[i].idempotency_key or "")
    rows = [events[i] for i in candidates]

    # The statement buckets events of the previous, current and next quota periods; an
    # older event (a lagging cutoff lets it in) is bucketed here, in Python.
    one_statement = _is_postgres() and livemode
    if one_statement:
        oldest = buckets.previous_start
        one_statement = not any(row.unique_value is not None or row.timestamp < oldest for row in rows)
    if one_statement:
        inserted_keys, totals = _record_in_one_statement(
            rows,
            organization_id=organization_id,
            api_key_id=api_key_id,
            received_at=received_at,
            period=period,
            buckets=buckets,
        )
        for index in candidates:
            key = events[index].idempotency_key
            is_new[index] = key is None or key in inserted_keys
        return Recorded(is_new, totals)

    with transaction.atomic():
        inserted_keys = _insert_events(
            rows, organization_id=organization_id, api_key_id=api_key_id, livemode=livemode, received_at=received_at
        )
        deltas: dict[tuple[str, datetime], list[int]] = {}
        unique_values: list[tuple[str, datetime, str]] = []
        for index in candidates:
            event = events[index]
            if event.idempotency_key is not None and event.idempotency_key not in inserted_keys:
                continue
            is_new[index] = True
            if not livemode:
                continue
            bucket = (event.metric.id, buckets.start_of(event.timestamp))
            delta = deltas.get(bucket)
            if delta is None:
                deltas[bucket] = [event.quantity, 1, event.quantity, 0]
            else:
                delta[0] += event.quantity
                delta[1] += 1
                if event.quantity > delta[2]:
                    delta[2] = event.quantity
            if event.unique_value is not None:
                unique_values.append((event.metric.id, bucket[1], event.unique_value))
        if deltas:
            for bucket, count in _insert_unique_values(organization_id, sorted(set(unique_values))).items():
                deltas[bucket][3] += count
            _upsert_rollups(organization_id, deltas, received_at)
    if period and livemode:
        return Recorded(is_new, _totals_after_commit(organization_id, {row.metric.id for row in rows}, period))
    return Recorded(is_new)
