"""The billing context of the service endpoints (usage.context): cached per organization
beside the key's principal, read with it in one cache round trip, and dropped at once
when a subscription changes it, on this server and on one that only remembers it."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.core.cache import caches
from django.utils import timezone

from apikeys.authentication import ServicePrincipal
from plans.models import BillableMetric, Plan, PlanCharge
from subscriptions.services import subscription_create
from usage import context as billing_contexts

from .helpers import assert_error, assert_ok

pytestmark = pytest.mark.django_db


@pytest.fixture
def big_plan(db) -> Plan:
    plan = Plan.objects.create(
        code="big", name="Big", price_cents=1000, currency="USD", interval="month", features={}, trial_days=0
    )
    PlanCharge.objects.create(
        plan=plan, metric=BillableMetric.objects.get(code="tokens"), included_quantity=1_000_000, policy="hard"
    )
    return plan


def tokens_included_left(service) -> int:
    return assert_ok(service.quota(tokens_needed=0))["remaining"]["tokens"]


class CacheCalls:
    """Counts the default cache's reads by its callers (a spy: the calls still reach the
    cache; a backend's get_many made of gets counts once, as Redis' MGET is one)."""

    def __init__(self, monkeypatch):
        self.calls: list[str] = []
        self.depth = 0
        backend = caches["default"]
        for name in ("get", "get_many"):
            original = getattr(backend, name)
            monkeypatch.setattr(backend, name, self._spy(name, original))

    def _spy(self, name, original):
        def spy(*args, **kwargs):
            if not self.depth:
                self.calls.append(name)
            self.depth += 1
            try:
                return original(*args, **kwargs)
            finally:
                self.depth -= 1

        return spy


def test_the_principal_holds_key_facts_only(service):
    principal = billing_contexts.principal_and_context(service.key.key_hash)[0]
    assert isinstance(principal, ServicePrincipal)
    assert {"plan_id", "period_anchor", "usage_closed_before"}.isdisjoint(vars(principal))
    assert principal.expires_at is None or principal.expires_at.tzinfo is not None


def test_a_report_reads_key_and_context_in_one_cache_call(service, monkeypatch):
    assert_ok(service.report(event_type="api_call", quantity=1), 201)  # this process learns the key
    calls = CacheCalls(monkeypatch)
    assert_ok(service.report(event_type="api_call", quantity=1), 201)
    assert calls.calls == ["get_many"]


def test_a_new_subscription_changes_the_quota_at_once(service, big_plan):
    free_left = tokens_included_left(service)
    assert tokens_included_left(service) == free_left  # remembered and cached
    subscription_create(organization=service.org, plan=big_plan, status="active")
    assert tokens_included_left(service) == 1_000_000


@pytest.mark.redis
def test_a_remembered_context_is_confirmed_in_the_quota_checks_redis_call(service, big_plan):
    """With Redis, quota-check names its counters from this process's memory of the
    context and confirms it in the same Redis call: a change made on another server
    (which drops the shared entry, not this process's memory) is noticed at once."""
    tokens_included_left(service)
    tokens_included_left(service)
    organization_id = str(service.org.pk)
    remembered = billing_contexts._provisional[organization_id]
    subscription_create(organization=service.org, plan=big_plan, status="active")
    billing_contexts._provisional[organization_id] = remembered  # this process did not hear of it
    assert tokens_included_left(service) == 1_000_000


def test_a_lost_invalidation_lasts_at_most_the_cache_bound(service, big_plan, monkeypatch):
    free_left = tokens_included_left(service)
    cache_call = billing_contexts._cache_call

    def deletes_lost(method, *args, **kwargs):
        return None if method == "delete_many" else cache_call(method, *args, **kwargs)

    monkeypatch.setattr(billing_contexts, "_cache_call", deletes_lost)
    monkeypatch.setattr(billing_contexts, "_provisional", {})
    subscription_create(organization=service.org, plan=big_plan, status="active")
    assert tokens_included_left(service) == free_left  # the stale context, for now
    later = timezone.now() + timedelta(seconds=settings.BILLING_CONTEXT_CACHE_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        assert tokens_included_left(service) == 1_000_000


def test_an_expired_key_is_refused(service):
    service.key.expires_at = timezone.now() + timedelta(minutes=1)
    service.key.save(update_fields=["expires_at"])
    assert_ok(service.quota(tokens_needed=0))
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert_error(service.quota(tokens_needed=0), 401, "authentication_failed")
