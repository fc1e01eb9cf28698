"""Fixtures for the apikeys tests: a team with one member of each role."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from organizations.models import Organization, Role

ROLES = (Role.OWNER, Role.ADMIN, Role.BILLING, Role.MEMBER)


@dataclass
class Team:
    """An organization whose members are `users[role]`, each with a signed-in `clients[role]`.
    Each member also has a personal organization, so requests name the team with X-Current-Org."""

    org: Organization
    users: dict[str, User] = field(default_factory=dict)
    clients: dict[str, APIClient] = field(default_factory=dict)


@pytest.fixture
def team(db, make_auth_client) -> Team:
    team = Team(org=OrganizationFactory(name="Acme Team"))
    for role in ROLES:
        member = UserFactory()
        MembershipFactory(organization=team.org, user=member, role=role)
        team.users[role] = member
        team.clients[role] = make_auth_client(member)
    return team


@pytest.fixture
def personal_org(user) -> Organization:
    return user.memberships.get().organization
