"""Storing usage events and their daily rollups in as few statements as possible.

One multi-row INSERT ... ON CONFLICT DO NOTHING RETURNING stores a whole batch and says
which idempotency keys were new; one upsert adds the new events to the daily rollups.
Rows are written in a fixed order (by idempotency key, then by metric and day), so two
concurrent batches that share keys or rollup rows wait for each other instead of
deadlocking; the unique index decides which of two racing copies of one key counts.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime

from django.db import connection, transaction

from .events import ParsedEvent
from .models import DailyUsage, UsageEvent, UsageUniqueValue
from .periods import day_of

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


def _insert_unique_values(organization_id, values: list[tuple[str, date, str]]) -> dict[tuple[str, date], int]:
    """Insert distinct values per (metric, day); return how many were new per (metric, day)."""
    new: dict[tuple[str, date], int] = defaultdict(int)
    if not values:
        return new
    org = _uuid(organization_id)
    placeholders = ",".join(["(%s,%s,%s,%s)"] * len(values))
    params: list = []
    for metric_id, day, value in values:
        params += [org, _uuid(metric_id), _date(day), value]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {UNIQUE} (organization_id, metric_id, day, value) VALUES {placeholders}
            ON CONFLICT DO NOTHING RETURNING metric_id, day
            """,
            params,
        )
        for metric_id, day in cursor.fetchall():
            if isinstance(day, str):
                day = date.fromisoformat(day)
            new[(str(uuid.UUID(str(metric_id))), day)] += 1
    return new


_UPSERT_SET = f"""
    quantity = {DAILY}.quantity + excluded.quantity,
    event_count = {DAILY}.event_count + excluded.event_count,
    max_quantity = CASE WHEN excluded.max_quantity > {DAILY}.max_quantity
                        THEN excluded.max_quantity ELSE {DAILY}.max_quantity END,
    unique_count = {DAILY}.unique_count + excluded.unique_count,
    updated_at = excluded.updated_at
"""


def _upsert_rollups(organization_id, deltas: dict[tuple[str, date], list[int]], now: datetime) -> None:
    """deltas: (metric id, day) -> [quantity, events, max quantity, new distinct values]."""
    org = _uuid(organization_id)
    ordered = sorted(deltas.items())
    placeholders = ",".join(["(%s,%s,%s,%s,%s,%s,%s,%s)"] * len(ordered))
    params: list = []
    stamp = _dt(now)
    for (metric_id, day), (quantity, events, largest, unique) in ordered:
        params += [org, _uuid(metric_id), _date(day), quantity, events, largest, unique, stamp]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {DAILY} (organization_id, metric_id, day, quantity, event_count, max_quantity,
                                 unique_count, updated_at)
            VALUES {placeholders}
            ON CONFLICT (organization_id, metric_id, day) DO UPDATE SET {_UPSERT_SET}
            """,
            params,
        )


def _record_in_one_statement(
    rows: Sequence[ParsedEvent], *, organization_id, api_key_id, received_at: datetime
) -> set[str | None]:
    """PostgreSQL, live events without distinct values: insert the events and add the new
    ones to the daily rollups in a single statement, so a report costs one round trip and
    commits atomically on its own."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH ins AS (
                INSERT INTO {EVENTS} (organization_id, metric_id, event_type, quantity, "timestamp",
                    received_at, idempotency_key, endpoint, metadata, api_key_id, livemode)
                SELECT %(org)s, m, e, q, t, %(now)s, k, ep, md::jsonb, %(key)s, true
                FROM unnest(%(m)s::uuid[], %(e)s::text[], %(q)s::bigint[], %(t)s::timestamptz[], %(k)s::text[],
                            %(ep)s::text[], %(md)s::text[]) AS u(m, e, q, t, k, ep, md)
                ON CONFLICT DO NOTHING
                RETURNING metric_id, "timestamp", quantity, idempotency_key
            ), rollup AS (
                INSERT INTO {DAILY} (organization_id, metric_id, day, quantity, event_count, max_quantity,
                                     unique_count, updated_at)
                SELECT %(org)s, metric_id, ("timestamp" AT TIME ZONE 'UTC')::date, sum(quantity)::bigint,
                       count(*), max(quantity), 0, %(now)s
                FROM ins GROUP BY 2, 3 ORDER BY 2, 3
                ON CONFLICT (organization_id, metric_id, day) DO UPDATE SET {_UPSERT_SET}
            )
            SELECT idempotency_key FROM ins
            """,
            {
                "org": str(organization_id),
                "now": received_at,
                "key": str(api_key_id) if api_key_id else None,
                "m": [row.metric.id for row in rows],
                "e": [row.event_type for row in rows],
                "q": [row.quantity for row in rows],
                "t": [row.timestamp for row in rows],
                "k": [row.idempotency_key for row in rows],
                "ep": [row.endpoint for row in rows],
                "md": [row.metadata for row in rows],
            },
        )
        return {key for (key,) in cursor.fetchall()}


def record_events(
    events: Sequence[ParsedEvent], *, organization_id, api_key_id, livemode: bool, received_at: datetime
) -> list[bool]:
    """Store events once each; return, per event, whether it was new (False: its
    idempotency key was seen before, in this batch or earlier). Test-mode events are
    stored but not rolled up."""
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
        return is_new
    candidates.sort(key=lambda i: events[i].idempotency_key or "")
    rows = [events[i] for i in candidates]

    if _is_postgres() and livemode and not any(row.unique_value is not None for row in rows):
        inserted_keys = _record_in_one_statement(
            rows, organization_id=organization_id, api_key_id=api_key_id, received_at=received_at
        )
        for index in candidates:
            key = events[index].idempotency_key
            is_new[index] = key is None or key in inserted_keys
        return is_new

    with transaction.atomic():
        inserted_keys = _insert_events(
            rows, organization_id=organization_id, api_key_id=api_key_id, livemode=livemode, received_at=received_at
        )
        deltas: dict[tuple[str, date], list[int]] = {}
        unique_values: list[tuple[str, date, str]] = []
        for index in candidates:
            event = events[index]
            if event.idempotency_key is not None and event.idempotency_key not in inserted_keys:
                continue
            is_new[index] = True
            if not livemode:
                continue
            bucket = (event.metric.id, day_of(event.timestamp))
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
    return is_new
