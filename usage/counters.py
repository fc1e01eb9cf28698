"""Quota counters in Redis: per organization, metric and quota period.

A counter is a lower bound of what the database rollups hold for its period: every write
only *raises* it to a total that the database had (or will have once the writer
commits) - the period total the writer's own statement saw plus its own new events. So
a counter never counts an event twice and never refuses a request the rollups would
allow; a counter that fell behind (an increment lost to an outage, two writers racing)
catches up at the next write, and `reconcile` rewrites them all from the rollups.

Quota checks read counters without touching the database. A counter that does not exist
(a new period, a flushed Redis) is rebuilt from the rollups on first read. When Redis
cannot be reached the callers use the rollups; a raise that failed marks the
organization, and its counters are dropped at the next successful contact so they are
rebuilt rather than served short.

unique_count metrics are not kept here (a distinct count is not a running total); their
quota is always read from the database.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import redis
from django.conf import settings

from plans.models import Aggregation

logger = logging.getLogger(__name__)

COUNTED = frozenset({Aggregation.SUM, Aggregation.COUNT, Aggregation.MAX})

# ARGV[1] is the TTL of counters this call creates; then (kind, value) per key:
#   raise: set the counter to max(counter, value), creating it if missing; returns it
#   get:   the counter, or -1 when it does not exist
#   raw:   the key's value as stored, or nil (the caller's API-key principal, so a
#          quota check confirms its key in the same round trip)
_SCRIPT = """
local ttl = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local kind = ARGV[2 * i]
  local value = tonumber(ARGV[2 * i + 1])
  if kind == 'raw' then
    out[i] = redis.call('GET', key)
  elseif kind == 'raise' then
    local current = tonumber(redis.call('GET', key))
    if current == nil then
      redis.call('SET', key, value, 'EX', ttl)
      current = value
    elseif value > current then
      redis.call('SET', key, value, 'KEEPTTL')
      current = value
    end
    out[i] = current
  else
    local current = redis.call('GET', key)
    if current then out[i] = tonumber(current) else out[i] = -1 end
  end
end
return out
"""

_client: redis.Redis | None = None
_client_lock = threading.Lock()
_script = None
_down_until = 0.0
_stale_orgs: set[str] = set()


def enabled() -> bool:
    return bool(settings.QUOTA_REDIS_URL)


def _redis() -> redis.Redis | None:
    """The counters' Redis client, or None while Redis is known to be down."""
    global _client, _script
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
                _script = _client.register_script(_SCRIPT)
    return _client


def _mark_down(exc: Exception) -> None:
    """Skip Redis for a few seconds after a failure, so an outage costs no timeouts."""
    global _down_until
    _down_until = time.monotonic() + settings.QUOTA_REDIS_RETRY_SECONDS
    logger.warning("Quota counters unavailable (%s); using the database", exc.__class__.__name__)


def reset_client() -> None:
    """Forget the client and any outage state (settings changed, tests).

    The organizations marked stale stay marked: their counters in Redis still lack the
    raises that failed, whichever client reaches Redis next.
    """
    global _client, _script, _down_until
    _client = None
    _script = None
    _down_until = 0.0


def _period_tag(period_start: datetime) -> str:
    """A period by its start to the second: two periods may start on one day (cancel at
    10:00, resubscribe at 12:00), and their counters must not be one."""
    return period_start.astimezone(UTC).strftime("%Y%m%dT%H%M%S")


def key_for(organization_id, metric_code: str, period_start: datetime) -> str:
    return f"{settings.CACHE_KEY_PREFIX}:quota:{organization_id}:{metric_code}:{_period_tag(period_start)}"


def ttl_for(period_end: datetime, now: datetime) -> int:
    return max(int((period_end - now).total_seconds()) + int(timedelta(days=35).total_seconds()), 60)


def _flush_stale(client: redis.Redis) -> None:
    for organization_id in list(_stale_orgs):
        keys = list(client.scan_iter(match=f"{settings.CACHE_KEY_PREFIX}:quota:{organization_id}:*", count=500))
        if keys:
            client.delete(*keys)
        _stale_orgs.discard(organization_id)


def run(organization_id, operations: list[tuple[str, str, int]], *, ttl: int) -> dict | None:
    """Run (key, kind, value) operations in one round trip (see _SCRIPT). Returns the
    counters' values (only those that exist) and the raw values; None when Redis is
    unavailable, in which case an organization whose counters should have been raised
    is marked stale."""
    client = _redis()
    raises = any(kind == "raise" for _, kind, _ in operations)
    if client is None:
        if enabled() and raises:
            _stale_orgs.add(str(organization_id))
        return None
    if not operations:
        return {}
    try:
        if _stale_orgs:
            _flush_stale(client)
        args: list = [ttl]
        for _, kind, value in operations:
            args += [kind, value]
        values = _script(keys=[key for key, _, _ in operations], args=args, client=client)
    except redis.RedisError as exc:
        if raises:
            _stale_orgs.add(str(organization_id))
        _mark_down(exc)
        return None
    result: dict = {}
    for (key, kind, _), value in zip(operations, values, strict=True):
        if kind == "raw":
            result[key] = value or None
        elif int(value) >= 0:
            result[key] = int(value)
    return result


def overwrite(values: dict[str, int], *, ttl: int) -> None:
    """Set counters to values read from the database (reconcile)."""
    client = _redis()
    if client is None or not values:
        return
    try:
        pipe = client.pipeline(transaction=False)
        for key, value in values.items():
            pipe.set(key, value, ex=ttl)
        pipe.execute()
    except redis.RedisError as exc:
        _mark_down(exc)


def drop_period(period_start: datetime, *, keep) -> int:
    """Delete the period's counters whose keys are not in `keep` (they are rebuilt from the
    database when next read); returns how many. Used by reconcile, for counters of
    organizations and metrics without rollups in the period."""
    client = _redis()
    if client is None:
        return 0
    try:
        pattern = f"{settings.CACHE_KEY_PREFIX}:quota:*:{_period_tag(period_start)}"
        extra = [key for key in client.scan_iter(match=pattern, count=1000) if key.decode() not in keep]
        if extra:
            client.delete(*extra)
    except redis.RedisError as exc:
        _mark_down(exc)
        return 0
    return len(extra)
