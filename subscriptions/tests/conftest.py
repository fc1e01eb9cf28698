"""Fixtures for the subscriptions tests: plans to subscribe to. The organization with one
member of each role (`team`, `org`) and the free default plan (`free_plan`) are the
shared world's (root conftest.py)."""

from __future__ import annotations

import pytest

from plans.models import BillableMetric, Plan
from plans.tests.factories import PlanChargeFactory, PlanFactory


@pytest.fixture
def plan(db) -> Plan:
    """A $20 monthly plan without a trial."""
    return PlanFactory(code="starter", name="Starter", price_cents=2000)


@pytest.fixture
def yearly_plan(db) -> Plan:
    return PlanFactory(code="starter_yearly", name="Starter yearly", price_cents=20_000, interval="year")


@pytest.fixture
def trial_plan(db) -> Plan:
    return PlanFactory(code="tryme", name="Try me", price_cents=2000, trial_days=14)


@pytest.fixture
def scale_plan(db) -> Plan:
    """A paid plan that lifts the default plan's hard 10,000-token quota to 50,000 and
    has its own features and key allowance."""
    plan = PlanFactory(
        code="scale",
        name="Scale",
        price_cents=4900,
        features={"analytics": True, "api_keys": 10},
    )
    PlanChargeFactory(
        plan=plan,
        metric=BillableMetric.objects.get(code="tokens"),
        included_quantity=50_000,
        policy="hard",
        unit_price=0,
    )
    PlanChargeFactory(
        plan=plan,
        metric=BillableMetric.objects.get(code="requests"),
        included_quantity=5_000,
        policy="hard",
        unit_price=0,
    )
    return plan
