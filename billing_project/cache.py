"""Django's Redis cache, with one client object per process instead of one per call, and a
fallback to process memory while Redis cannot be reached.

Django's RedisCacheClient builds a new `redis.Redis` for every cache operation. With
redis-py 8 that construction registers ~170 response callbacks, about 100 µs, which is
more than the network round trip on the hot paths. The client is thread-safe (it takes
connections from the pool), so one per pool is enough.

Django's Redis cache raises when Redis is down, and every caller of the cache (DRF's
throttles, the login limiter, the API-key cache) would answer 500. `ResilientRedisCache`
turns an unreachable Redis into a degraded cache instead: see its docstring.
"""

from __future__ import annotations

import logging
import threading
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


class ReusingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client


class ReusingRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient


class _Outages:
    """When each Redis location is being skipped, shared by the threads of a process (Django
    makes one cache object per thread), and when an outage was last logged."""

    def __init__(self):
        self.lock = threading.Lock()
        self.down_until: dict[str, float] = {}
        self.since: dict[str, float] = {}
        self.logged_at: dict[str, float] = {}


_outages = _Outages()
LOG_EVERY_SECONDS = 60.0


def reset_outages() -> None:
    """Forget every outage this process saw (tests)."""
    with _outages.lock:
        _outages.down_until.clear()
        _outages.since.clear()
        _outages.logged_at.clear()


class ResilientRedisCache(ReusingRedisCache):
    """A Redis cache that keeps answering when Redis does not.

    An operation that fails with a Redis error (refused, timed out, read-only, loading...)
    is served by a local-memory cache of this process instead, and Redis is then skipped
    for OPTIONS["failover_seconds"] (a circuit breaker: an outage costs one short timeout
    per process every few seconds, not one per request). Meanwhile reads, writes, counters
    and deletes all go to process memory, so throttles and the login limiter keep counting
    (per process) rather than failing open, and a delete is never silently lost for this
    process. What other processes cached in Redis is *not* invalidated by a delete made
    during an outage: anything whose staleness matters (API keys) must bound it with a
    short TTL of its own. One warning is logged when an outage starts, at most one a
    minute while it lasts, and one when Redis answers again.

    OPTIONS: `failover_seconds` (default 5) and `failover_max_entries` (default 10000);
    the rest goes to redis-py as usual (keep socket_connect_timeout / socket_timeout
    short: they are what a request pays when Redis stops answering).
    """

    def __init__(self, server, params):
        options = dict(params.get("OPTIONS") or {})
        self._failover_seconds = float(options.pop("failover_seconds", 5.0))
        max_entries = int(options.pop("failover_max_entries", 10_000))
        super().__init__(server, {**params, "OPTIONS": options})
        self._location = ",".join(self._servers)
        self._local = LocMemCache(
            f"redis-failover:{self._location}",
            {
                "TIMEOUT": params.get("TIMEOUT", 300),
                "KEY_PREFIX": params.get("KEY_PREFIX", ""),
                "VERSION": params.get("VERSION", 1),
                "KEY_FUNCTION": params.get("KEY_FUNCTION"),
                "OPTIONS": {"MAX_ENTRIES": max_entries},
            },
        )

    # --- the circuit breaker ----------------------------------------------------------

    def redis_skipped(self) -> bool:
        """True while Redis is being skipped after a failure (this process serves from memory)."""
        return time.monotonic() < _outages.down_until.get(self._location, 0.0)

    def _failed(self, operation: str, exc: RedisError) -> None:
        now = time.monotonic()
        with _outages.lock:
            _outages.down_until[self._location] = now + self._failover_seconds
            started = self._location not in _outages.since
            if started:
                _outages.since[self._location] = now
            due = now - _outages.logged_at.get(self._location, -LOG_EVERY_SECONDS) >= LOG_EVERY_SECONDS
            if due:
                _outages.logged_at[self._location] = now
        if started or due:
            logger.warning(
                "Redis cache unreachable (%s on %s: %s); serving the cache from this process's memory, "
                "trying Redis again every %.0f s",
                exc.__class__.__name__,
                operation,
                exc,
                self._failover_seconds,
            )

    def _answered(self) -> None:
        if self._location not in _outages.since:
            return
        with _outages.lock:
            since = _outages.since.pop(self._location, None)
            _outages.logged_at.pop(self._location, None)
        if since is not None:
            logger.warning("Redis cache reachable again after %.1f s", time.monotonic() - since)

    def _run(self, operation: str, *args, **kwargs):
        if self.redis_skipped():
            return getattr(self._local, operation)(*args, **kwargs)
        try:
            result = getattr(super(), operation)(*args, **kwargs)
        except RedisError as exc:
            self._failed(operation, exc)
            return getattr(self._local, operation)(*args, **kwargs)
        self._answered()
        return result

    # --- the cache API (BaseCache builds get_or_set, decr, *_version on these) ------------

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._run("add", key, value, timeout, version)

    def get(self, key, default=None, version=None):
        return self._run("get", key, default, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._run("set", key, value, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._run("touch", key, timeout, version)

    def delete(self, key, version=None):
        return self._run("delete", key, version)

    def get_many(self, keys, version=None):
        return self._run("get_many", keys, version)

    def has_key(self, key, version=None):
        return self._run("has_key", key, version)

    def incr(self, key, delta=1, version=None):
        return self._run("incr", key, delta, version)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._run("set_many", data, timeout, version)

    def delete_many(self, keys, version=None):
        return self._run("delete_many", keys, version)

    def clear(self):
        return self._run("clear")
