"""API-key authentication for the service endpoints (usage reporting, quota checks, spends).

Only service views list this class, and it refuses anything that is not an API key, so a
user's JWT never works there; a key sent to a people endpoint fails JWT parsing there.

The database is the truth; the cache (Redis, shared by every server) holds each key's
principal so that a request needs no query. A change to a key (revoke, rotate, new scopes)
is written to the database first and then deleted from the cache, so it takes effect at
once on every server that reads that cache. The delete can be lost (the changing server
cannot reach Redis at that moment, or loses a race with a request that read the old row),
so a cached principal is also only trusted for APIKEY_CACHE_SECONDS after the database
read it came from (`fresh_until`, checked on every read, and the Redis TTL): whatever
Redis does, a change takes effect everywhere within that bound. The cost is one database
read per key every APIKEY_CACHE_SECONDS for the whole fleet.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed

from billing_project.shared_cache import cache_call, redis_key_of, value_of_raw

KEY_PREFIXES = ("sk_live_", "sk_test_")
# Bump the version when ServicePrincipal changes shape, so no process reads an old pickle.
_CACHE_PREFIX = "apikey:v6:"
_MISSING = "missing"


@dataclass(frozen=True)
class ServicePrincipal:
    """Who is calling a service endpoint: an API key of one organization, with what the key
    itself allows (scopes, mode, expiry). What the organization's billing says (its plan,
    quota periods, usage cutoff) is the usage app's, cached beside it (usage.context)."""

    key_id: str
    organization_id: str
    scopes: frozenset[str]
    livemode: bool
    expires_at: datetime | None
    key_hash: str = ""
    # Until when the principal may be used without asking the database: the moment of the
    # database read plus APIKEY_CACHE_SECONDS.
    fresh_until: datetime = field(default=datetime.min.replace(tzinfo=UTC), compare=False)
    # False for a principal taken from this process's memory, not yet confirmed against
    # the shared cache in this request (see `provisional_principal`).
    verified: bool = field(default=True, compare=False)

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    pk = None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def _cache_key(key_hash: str) -> str:
    return _CACHE_PREFIX + key_hash


def principal_cache_key(key_hash: str) -> str:
    """The shared-cache key of a principal, for a caller reading it together with its own
    entries in one round trip (`principal_for_hash(cached=...)`)."""
    return _cache_key(key_hash)


def _cache_call(method: str, *args, **kwargs):
    return cache_call("API-key", method, *args, **kwargs)


def forget_cached_key(key_hash: str) -> None:
    _cache_call("delete", _cache_key(key_hash))


def _is_fresh(principal: ServicePrincipal) -> bool:
    return principal.fresh_until > datetime.now(UTC)


def _load(key_hash: str) -> ServicePrincipal | None:
    from .models import APIKey, Mode

    # Taken before the read: the bound runs from the row the principal reflects.
    fresh_until = datetime.now(UTC) + timedelta(seconds=settings.APIKEY_CACHE_SECONDS)
    key = (
        APIKey.objects.filter(key_hash=key_hash, revoked_at__isnull=True)
        .values("id", "organization_id", "scopes", "mode", "expires_at")
        .first()
    )
    if key is None:
        return None
    return ServicePrincipal(
        key_id=str(key["id"]),
        organization_id=str(key["organization_id"]),
        scopes=frozenset(key["scopes"]),
        livemode=key["mode"] == Mode.LIVE,
        expires_at=key["expires_at"],
        key_hash=key_hash,
        fresh_until=fresh_until,
    )


def hash_of(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def principal_for_secret(secret: str) -> ServicePrincipal | None:
    return principal_for_hash(hash_of(secret))


_UNREAD = object()


def principal_for_hash(key_hash: str, *, cached=_UNREAD) -> ServicePrincipal | None:
    """The principal of a key, from the shared cache while fresh, or else the database (then
    cached). `cached`: the cache entry, when the caller read it already."""
    if cached is _UNREAD:
        cached = _cache_call("get", _cache_key(key_hash))
    if cached == _MISSING:
        return None
    if isinstance(cached, ServicePrincipal) and _is_fresh(cached):
        _remember(key_hash, cached)
        return cached
    principal = _load(key_hash)
    if principal is None:
        _cache_call("set", _cache_key(key_hash), _MISSING, timeout=settings.APIKEY_NEGATIVE_CACHE_SECONDS)
    else:
        _cache_call("set", _cache_key(key_hash), principal, timeout=settings.APIKEY_CACHE_SECONDS)
        _remember(key_hash, principal)
    return principal


# --- one round trip for quota checks -------------------------------------------------
# A quota check needs the key's principal and the organization's counters, both in Redis.
# To fetch them in one round trip, the organization must be known before the principal is
# read: this process remembers principals it has verified, uses one *provisionally* to
# name the counter keys, and reads the shared cache entry in the same Redis call. The
# answer is only given if that entry still holds the same principal; a revoked, rotated
# or changed key is caught in that same call (see usage.services.quota_check).

_PROVISIONAL_LIMIT = 10_000
_provisional: dict[str, ServicePrincipal] = {}


def _remember(key_hash: str, principal: ServicePrincipal) -> None:
    if len(_provisional) >= _PROVISIONAL_LIMIT:
        _provisional.clear()
    _provisional[key_hash] = principal


def shared_cache_redis_key(key_hash: str) -> str | None:
    """The Redis key of a principal in the shared cache (None when the cache is not the
    Redis the quota counters use)."""
    return redis_key_of(_cache_key(key_hash))


def provisional_principal(secret: str) -> ServicePrincipal | None:
    """This process's memory of the key when it can be confirmed in the caller's next Redis
    call; otherwise the verified principal (None: unknown or revoked)."""
    key_hash = hash_of(secret)
    remembered = _provisional.get(key_hash)
    if remembered is not None and shared_cache_redis_key(key_hash) is not None:
        return replace(remembered, verified=False)
    return principal_for_hash(key_hash)


def confirm_principal(provisional: ServicePrincipal, blob: bytes | None) -> ServicePrincipal | None:
    """The current principal of a provisionally used key, given the raw shared-cache entry
    read in the same Redis call (None: the entry was missing, so ask the database)."""
    if blob is not None:
        current = value_of_raw(blob)
        if isinstance(current, ServicePrincipal) and _is_fresh(current):
            _remember(provisional.key_hash, current)
            return current
        if current == _MISSING:
            _provisional.pop(provisional.key_hash, None)
            return None
    _provisional.pop(provisional.key_hash, None)
    return principal_for_hash(provisional.key_hash)


_last_touch: dict[str, float] = {}


def _touch(principal: ServicePrincipal) -> None:
    """Record `last_used_at`, at most once a minute per key and process."""
    now = time.monotonic()
    if now - _last_touch.get(principal.key_id, -3600.0) < settings.APIKEY_TOUCH_SECONDS:
        return
    _last_touch[principal.key_id] = now
    from .models import APIKey

    APIKey.objects.filter(pk=principal.key_id).update(last_used_at=timezone.now())


def known_organization(key_hash: str) -> str | None:
    """The organization of a key this process has verified before (a key never changes
    organization), so a caller can name the organization's cache entries before reading
    the principal; None when unknown here."""
    remembered = _provisional.get(key_hash)
    return remembered.organization_id if remembered is not None else None


def check_not_expired(principal: ServicePrincipal) -> None:
    if principal.expires_at is not None and principal.expires_at <= datetime.now(UTC):
        raise AuthenticationFailed("This API key has expired.")


class APIKeyAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, secret = header.partition(" ")
        secret = secret.strip()
        if scheme != self.keyword or not secret:
            raise AuthenticationFailed("Send the API key as 'Authorization: Bearer sk_live_...'.")
        if not secret.startswith(KEY_PREFIXES):
            raise AuthenticationFailed("This endpoint needs an API key (sk_live_... or sk_test_...), not a user token.")
        principal = self.lookup(secret, request)
        if principal is None:
            raise AuthenticationFailed("Invalid or revoked API key.")
        check_not_expired(principal)
        _touch(principal)
        return principal, principal

    def lookup(self, secret: str, request) -> ServicePrincipal | None:
        return principal_for_secret(secret)

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api-key"'


class ProvisionalAPIKeyAuthentication(APIKeyAuthentication):
    """For read-only endpoints that confirm the principal in their own Redis call
    (quota-check): may return an unverified principal; see `provisional_principal`."""

    def lookup(self, secret: str, request) -> ServicePrincipal | None:
        return provisional_principal(secret)
