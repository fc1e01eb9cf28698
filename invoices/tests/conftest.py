"""Fixtures for the invoices tests: the demo catalogue (`pro`, `team` and the telephony
metrics), an organization with a member of each role, and PDFs kept out of the repository."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from rest_framework.test import APIClient

from accounts.services import token_pair_for
from accounts.tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from organizations.models import Organization, Role
from plans.demo import demo_catalogue_ensure
from plans.models import Plan
from subscriptions.models import Status, Subscription
from subscriptions.services import subscription_create

ROLES = (Role.OWNER, Role.ADMIN, Role.BILLING, Role.MEMBER)


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Rendered PDFs go to a temporary directory, never to the project's media/."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


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
    org: Organization
    users: dict = field(default_factory=dict)

    def client(self, role: str = Role.OWNER) -> APIClient:
        return people_client(self.users[role], self.org)


@pytest.fixture
def demo(db):
    demo_catalogue_ensure()


@pytest.fixture
def pro(demo) -> Plan:
    return Plan.objects.get(code="pro")


@pytest.fixture
def team_plan(demo) -> Plan:
    return Plan.objects.get(code="team")


@pytest.fixture
def team(db) -> Team:
    team = Team(org=OrganizationFactory(name="Dial Tone Ltd"))
    for role in ROLES:
        member = UserFactory()
        MembershipFactory(organization=team.org, user=member, role=role)
        team.users[role] = member
    return team


@pytest.fixture
def org(team) -> Organization:
    return team.org


def subscribe(organization, plan, start, *, trial_days: int = 0, status: str = Status.ACTIVE) -> Subscription:
    return subscription_create(organization=organization, plan=plan, start=start, status=status, trial_days=trial_days)
