"""Fixtures for the usage tests: API keys of the shared world's organization (`org`, with
one member of each role: root conftest.py) as service clients, its owner signed in
(`people`), and extra metrics beyond the default tokens/requests."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from apikeys.models import Mode
from organizations.models import Role
from organizations.tests.factories import OrganizationFactory
from plans.models import BillableMetric
from plans.tests.factories import BillableMetricFactory, PlanChargeFactory

from .helpers import Service, new_service


@pytest.fixture
def make_service(db):
    """make_service(org, scopes=[...], mode="test") -> Service."""
    return new_service


@pytest.fixture
def service(org) -> Service:
    """A live key of `org` with every scope."""
    return new_service(org)


@pytest.fixture
def test_service(org) -> Service:
    """A test-mode key of `org` with every scope: events are stored, never counted."""
    return new_service(org, mode=Mode.TEST)


@pytest.fixture
def other_service(db) -> Service:
    """A live key of another organization."""
    return new_service(OrganizationFactory(name="Someone Else Ltd"))


@pytest.fixture
def owner(team):
    """The owner of `org`."""
    return team.users[Role.OWNER]


@pytest.fixture
def people(team) -> APIClient:
    """The owner of `org`, signed in, acting on `org`."""
    return team.client(Role.OWNER)


@pytest.fixture
def long_grace(settings):
    """Late usage is accepted 60 days back (BILLING_GRACE_SECONDS), so that a test may
    report usage of days ago whatever today's date (early in a month those days are in
    the previous quota period, closed after an hour by default)."""
    settings.BILLING_GRACE_SECONDS = 60 * 86400


@dataclass
class ExtraMetrics:
    peak: BillableMetric  # max of `memory_sampled` quantities, soft, 4096 included
    users: BillableMetric  # distinct metadata.user_id of `user_active`, hard, 3 included


@pytest.fixture
def extra_metrics(free_plan) -> ExtraMetrics:
    peak = BillableMetricFactory(
        code="peak_memory", name="Peak memory", unit="MB", event_types=["memory_sampled"], aggregation="max"
    )
    users = BillableMetricFactory(
        code="active_users",
        name="Active users",
        unit="user",
        event_types=["user_active"],
        aggregation="unique_count",
        aggregation_key="user_id",
    )
    PlanChargeFactory(plan=free_plan, metric=peak, included_quantity=4096, policy="soft", unit_price=0)
    PlanChargeFactory(plan=free_plan, metric=users, included_quantity=3, policy="hard", unit_price=0)
    return ExtraMetrics(peak=peak, users=users)
