"""Fixtures for the subscriptions tests: an organization with one member of each role,
and plans to subscribe to."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from rest_framework.test import APIClient

from accounts.services import token_pair_for
from accounts.tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from organizations.models import Organization, Role
from plans.models import BillableMetric, Plan
from plans.tests.factories import PlanChargeFactory, PlanFactory

ROLES = (Role.OWNER, Role.ADMIN, Role.BILLING, Role.MEMBER)


def people_client(user, organization: Organization | None = None) -> APIClient:
    """A client signed in as `user`, acting on `organization` (X-Current-Org) when given."""
    client = APIClient()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token_pair_for(user).token}"}
    if organization is not None:
        headers["HTTP_X_CURRENT_ORG"] = str(organization.pk)
    client.credentials(**headers)
    client.user = user
    return client


@dataclass
class Team:
    """An organization whose members are `users[role]`; `client(role)` signs one in."""

    org: Organization
    users: dict = field(default_factory=dict)

    def client(self, role: str = Role.OWNER) -> APIClient:
        return people_client(self.users[role], self.org)


@pytest.fixture
def team(db) -> Team:
    team = Team(org=OrganizationFactory(name="Subscribed Inc"))
    for role in ROLES:
        member = UserFactory()
        MembershipFactory(organization=team.org, user=member, role=role)
        team.users[role] = member
    return team


@pytest.fixture
def org(team) -> Organization:
    return team.org


@pytest.fixture
def free_plan(db) -> Plan:
    return Plan.objects.get(is_default=True)


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
