"""Quota counters in Redis: per organization, metric and quota period.

Ingestion adds to them after the events are committed; quota checks read them without
touching the database. The database rollups stay the truth: a counter that does not
exist (a new period, a flushed or restarted Redis) is rebuilt from the rollups when it
is first read, `reconcile` rebuilds them all, and when Redis cannot be reached the
callers fall back to the rollups. An increment that could not be applied marks the
organization stale in this process; its counters are dropped at the next successful
contact, so they are rebuilt from the rollups instead of staying short.

unique_count metrics are not kept here (a distinct count cannot be incremented); their
quota is always read from the database.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

COUNTED = frozenset({"sum", "count", "max"})

# For each key: add to it (sum/count), raise it to the value (max) or just read it (get),
# only if the counter exists; -1 where the counter did not exist. "raw" returns any
# key's value as stored (nil when missing): the caller's API-key principal, so a quota
# check confirms its key in the same round trip.
_APPLY = """
local out = {}
for i, key in ipairs(KEYS) do
  local kind = ARGV[2 * i - 1]
  local value = tonumber(ARGV[2 * i])
  if kind == 'raw' then
    out[i] = redis.call('GET', key)
  elseif redis.call('EXISTS', key) == 1 then
    if kind == 'get' then
      out[i] = tonumber(redis.call('GET', key))
    elseif kind == 'max' then
      local current = tonumber(redis.call('GET', key))
      if value > current then
        redis.call('SET', key, value, 'KEEPTTL')
        current = value
      end
      out[i] = current
    else
      out[i] = redis.call('INCRBY', key, value)
    end
  else
    out[i] = -1
  end
end
return out
"""

_client: redis.Redis | None = None
_client_lock = threading.Lock()
_apply_script = None
_down_until = 0.0
_stale_orgs: set[str] = set()


def enabled() -> bool:
    return bool(settings.QUOTA_REDIS_URL)


def _redis() -> redis.Redis | None:
    """The counters' Redis client, or None while Redis is known to be down."""
    global _client, _apply_script
    if not enabled() or time.monotonic() < _down_until:
        return None
    if _client is None:
        with _client_lock:
            if _client is None:
                _client = redis.Redis.from_url(
                    settings.QUOTA_REDIS_URL,
                    socket_connect_timeout=settings.QUOTA_REDIS_TIMEOUT,
                    socket_timeout=settings.QUOTA_REDIS_TIMEOUT,
                    health_check_interval=30,
                )
                _apply_script = _client.register_script(_APPLY)
    return _client


def _mark_down(exc: Exception) -> None:
    """Skip Redis for a few seconds after a failure, so an outage costs no timeouts."""
    global _down_until
    _down_until = time.monotonic() + settings.QUOTA_REDIS_RETRY_SECONDS
    logger.warning("Quota counters unavailable (%s); using the database", exc.__class__.__name__)


def reset_client() -> None:
    """Forget the client and any outage state (settings changed, tests).

    The organizations marked stale stay marked: their counters in Redis still lack the
    increments that failed, whichever client reaches Redis next.
    """
    global _client, _apply_script, _down_until
    _client = None
    _apply_script = None
    _down_until = 0.0


def key_for(organization_id, metric_code: str, period_start: datetime) -> str:
    return f"{settings.CACHE_KEY_PREFIX}:quota:{organization_id}:{metric_code}:{period_start:%Y%m%d}"


def _ttl(period_end: datetime, now: datetime) -> int:
    return max(int((period_end - now).total_seconds()) + int(timedelta(days=35).total_seconds()), 60)


def _flush_stale(client: redis.Redis) -> None:
    if not _stale_orgs:
        return
    for organization_id in list(_stale_orgs):
        keys = list(client.scan_iter(match=f"{settings.CACHE_KEY_PREFIX}:quota:{organization_id}:*", count=500))
        if keys:
            client.delete(*keys)
        _stale_orgs.discard(organization_id)


def apply(organization_id, increments: list[tuple[str, str, int]]) -> dict[str, int] | None:
    """Apply (key, kind, value) operations, kind "add", "max", "get" or "raw", in one round
    trip; return the values of the counters that exist (missing ones are for the caller to
    rebuild from the database) and the raw values asked for. None when Redis is unavailable."""
    client = _redis()
    if client is None:
        if enabled():
            _stale_orgs.add(str(organization_id))
        return None
    if not increments:
        return {}
    try:
        _flush_stale(client)
        keys = [key for key, _, _ in increments]
        args: list = []
        for _, kind, value in increments:
            args += [kind, value]
        values = _apply_script(keys=keys, args=args, client=client)
    except redis.RedisError as exc:
        _stale_orgs.add(str(organization_id))
        _mark_down(exc)
        return None
    result: dict = {}
    for (key, kind, _), value in zip(increments, values, strict=True):
        if kind == "raw":
            result[key] = value or None
        elif int(value) >= 0:
            result[key] = int(value)
    return result


def read(keys: list[str]) -> list[int | None] | None:
    """Current values (None for missing counters), or None when Redis is unavailable."""
    client = _redis()
    if client is None:
        return None
    try:
        _flush_stale(client)
        values = client.mget(keys) if keys else []
    except redis.RedisError as exc:
        _mark_down(exc)
        return None
    return [None if value is None else int(value) for value in values]


def drop_period(period_start: datetime, *, keep) -> int:
    """Delete the period's counters whose keys are not in `keep` (they are rebuilt from the
    database when next read); returns how many. Used by reconcile, for counters of
    organizations and metrics without rollups in the period."""
    client = _redis()
    if client is None:
        return 0
    try:
        pattern = f"{settings.CACHE_KEY_PREFIX}:quota:*:{period_start:%Y%m%d}"
        extra = [key for key in client.scan_iter(match=pattern, count=1000) if key.decode() not in keep]
        if extra:
            client.delete(*extra)
    except redis.RedisError as exc:
        _mark_down(exc)
        return 0
    return len(extra)


def store(values: dict[str, int], *, period_end: datetime, now: datetime, overwrite: bool = False) -> None:
    """Set counters rebuilt from the database (only where still missing, unless `overwrite`)."""
    client = _redis()
    if client is None or not values:
        return
    ttl = _ttl(period_end, now)
    try:
        pipe = client.pipeline(transaction=False)
        for key, value in values.items():
            pipe.set(key, value, ex=ttl, nx=not overwrite)
        pipe.execute()
    except redis.RedisError as exc:
        _mark_down(exc)
