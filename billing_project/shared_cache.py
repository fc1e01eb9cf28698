"""The shared cache as the hot paths use it: calls that survive a cache outage (the
database is the truth), and the raw Redis view of an entry, so that a caller can read it
inside its own Redis call (see apikeys.authentication and usage.context)."""

from __future__ import annotations

import logging
import pickle

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)


def cache_call(what: str, method: str, *args, **kwargs):
    """`cache.<method>(...)`, or None (logged, naming `what`) while the cache is down."""
    try:
        return getattr(cache, method)(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - Redis down: carry on without the cache
        logger.warning("%s cache unavailable (%s)", what, exc.__class__.__name__)
        return None


def redis_key_of(cache_key: str) -> str | None:
    """The Redis key of a shared-cache entry, when that cache is the Redis the quota
    counters use (None otherwise: the entry cannot be read in the counters' call)."""
    if not settings.REDIS_URL or settings.QUOTA_REDIS_URL != settings.REDIS_URL:
        return None
    return cache.make_and_validate_key(cache_key)


def value_of_raw(blob: bytes):
    """A shared-cache entry's value from its raw Redis bytes (None if unreadable)."""
    try:
        return pickle.loads(blob)  # noqa: S301 - written by this app's own cache
    except Exception:  # noqa: BLE001
        return None
