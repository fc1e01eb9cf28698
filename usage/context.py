"""What the service endpoints need to know about an organization's billing, cached.

A usage report or a quota check needs the organization's plan, where its quota periods
start (the entitled subscription's billing anchor), and from when usage is accepted (the
usage cutoff, the live subscription's start). Reading those takes three queries, so the
answer is cached per organization in the shared cache, beside the API key's principal
(apikeys.authentication), and both are read in one round trip:

- a usage report reads the principal and the context with one MGET, once this process
  has seen the key (it then knows the key's organization: a key never changes it);
- a quota check names its counters from this process's memory of the context and reads
  the shared entries of the principal and the context in the same Redis call as the
  counters, and answers only if both still hold what it used (see
  usage.services.quota_check).

Whatever changes the context sends `subscriptions.signals.billing_context_changed` (or,
for the usage cutoff, calls `billing_context_forget` here): the entry is deleted at once
and again after commit. As with API keys, a cached context is trusted only until
`fresh_until` (BILLING_CONTEXT_CACHE_SECONDS after the read it came from), so a lost
delete is bounded too.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.dispatch import receiver

from apikeys.authentication import (
    ServicePrincipal,
    known_organization,
    principal_cache_key,
    principal_for_hash,
)
from billing_project.shared_cache import cache_call, redis_key_of, value_of_raw
from plans.selectors import plan_id_for_organization
from subscriptions.selectors import live_subscription
from subscriptions.signals import billing_context_changed

from .models import UsageCutoff

# Bump the version when BillingContext changes shape, so no process reads an old pickle.
_CACHE_PREFIX = "usage:context:v1:"
_PROVISIONAL_LIMIT = 10_000
_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class BillingContext:
    organization_id: str
    plan_id: str | None  # the entitled subscription's plan, or else the default plan
    usage_closed_before: datetime | None  # the usage cutoff: usage before it is invoiced
    period_anchor: datetime | None  # the entitled subscription's billing anchor (None: calendar months)
    subscription_started_at: datetime | None  # the live subscription's start, where its usage begins
    fresh_until: datetime = field(default=_EPOCH, compare=False)
    # False for a context taken from this process's memory, not yet confirmed against the
    # shared cache in this request.
    verified: bool = field(default=True, compare=False)


def _cache_key(organization_id) -> str:
    return f"{_CACHE_PREFIX}{organization_id}"


def _cache_call(method: str, *args, **kwargs):
    return cache_call("Billing-context", method, *args, **kwargs)


def _load(organization_id) -> BillingContext:
    fresh_until = datetime.now(UTC) + timedelta(seconds=settings.BILLING_CONTEXT_CACHE_SECONDS)
    cutoff = UsageCutoff.objects.filter(organization_id=organization_id).values_list("closed_before", flat=True).first()
    live = live_subscription(organization_id=organization_id)
    # At most one live subscription; the entitled one, if any, is it.
    anchor = live.billing_anchor if live is not None and live.is_entitled else None
    return BillingContext(
        organization_id=str(organization_id),
        plan_id=plan_id_for_organization(organization_id=organization_id),
        usage_closed_before=cutoff,
        period_anchor=anchor,
        subscription_started_at=live.started_at if live is not None else None,
        fresh_until=fresh_until,
    )


_provisional: dict[str, BillingContext] = {}


def _remember(context: BillingContext) -> BillingContext:
    if len(_provisional) >= _PROVISIONAL_LIMIT:
        _provisional.clear()
    _provisional[context.organization_id] = context
    return context


def _usable(cached) -> bool:
    return isinstance(cached, BillingContext) and cached.fresh_until > datetime.now(UTC)


_UNREAD = object()


def billing_context(*, organization_id, cached=_UNREAD) -> BillingContext:
    """The organization's context, from the shared cache while fresh, or else the database
    (then cached). `cached`: the cache entry, when the caller read it already."""
    if cached is _UNREAD:
        cached = _cache_call("get", _cache_key(organization_id))
    if _usable(cached):
        return _remember(cached)
    context = _load(organization_id)
    _cache_call("set", _cache_key(organization_id), context, timeout=settings.BILLING_CONTEXT_CACHE_SECONDS)
    return _remember(context)


def billing_context_forget(*, organization_ids) -> None:
    """Drop the cached context of these organizations, now and again after commit (a
    request may re-cache the old one before the change commits)."""
    keys = [_cache_key(org_id) for org_id in organization_ids]
    if not keys:
        return

    def forget():
        _cache_call("delete_many", keys)
        for org_id in organization_ids:
            _provisional.pop(str(org_id), None)

    forget()
    transaction.on_commit(forget)


@receiver(billing_context_changed, dispatch_uid="usage-billing-context-forget")
def _on_billing_context_changed(sender, *, organization_ids, **kwargs) -> None:
    billing_context_forget(organization_ids=organization_ids)


def principal_and_context(key_hash: str) -> tuple[ServicePrincipal | None, BillingContext | None]:
    """A key's principal and its organization's context: one cache round trip once this
    process knows the key's organization, two the first time."""
    organization_id = known_organization(key_hash)
    if organization_id is None:
        principal = principal_for_hash(key_hash)
        if principal is None:
            return None, None
        return principal, billing_context(organization_id=principal.organization_id)
    principal_key, context_key = principal_cache_key(key_hash), _cache_key(organization_id)
    found = _cache_call("get_many", [principal_key, context_key]) or {}
    principal = principal_for_hash(key_hash, cached=found.get(principal_key))
    if principal is None:
        return None, None
    return principal, billing_context(organization_id=principal.organization_id, cached=found.get(context_key))


# --- one Redis call for quota checks ---------------------------------------------------


def shared_cache_redis_key(organization_id) -> str | None:
    """The Redis key of a context in the shared cache (None when the cache is not the
    Redis the quota counters use)."""
    return redis_key_of(_cache_key(organization_id))


def provisional_context(organization_id) -> BillingContext:
    """This process's memory of the context when it can be confirmed in the caller's next
    Redis call; otherwise the verified context."""
    remembered = _provisional.get(str(organization_id))
    if remembered is not None and shared_cache_redis_key(organization_id) is not None:
        return replace(remembered, verified=False)
    return billing_context(organization_id=organization_id)


def confirm_context(provisional: BillingContext, blob: bytes | None) -> BillingContext:
    """The current context of an organization whose remembered one was used, given the
    raw shared-cache entry read in the same Redis call (None: missing, so ask again)."""
    if blob is not None:
        current = value_of_raw(blob)
        if _usable(current):
            return _remember(current)
    _provisional.pop(provisional.organization_id, None)
    return billing_context(organization_id=provisional.organization_id)
