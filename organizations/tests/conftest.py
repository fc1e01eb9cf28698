"""Fixtures for the organizations tests: a team with one member of each role."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest
from django.core import mail
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from organizations.models import Organization, Role

ROLES = (Role.OWNER, Role.ADMIN, Role.BILLING, Role.MEMBER)

TOKEN_IN_EMAIL = re.compile(r"token=([A-Za-z0-9_-]+)")


@dataclass
class Team:
    """An organization whose members are `users[role]`, each with a signed-in `clients[role]`."""

    org: Organization
    users: dict[str, User] = field(default_factory=dict)
    clients: dict[str, APIClient] = field(default_factory=dict)

    def url(self, suffix: str = "") -> str:
        return f"/api/v1/orgs/{self.org.id}{suffix}"


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
def outsider(db) -> User:
    """A user who belongs to none of the team's organizations."""
    return UserFactory()


@pytest.fixture
def outsider_client(outsider, make_auth_client) -> APIClient:
    return make_auth_client(outsider)


@pytest.fixture
def invite(django_capture_on_commit_callbacks):
    """POST an invitation and run its on-commit email task; returns (response, token or None)."""

    def do_invite(client: APIClient, org: Organization, email: str, role: str = Role.MEMBER):
        sent_before = len(mail.outbox)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/api/v1/orgs/{org.id}/invite", {"email": email, "role": role}, format="json")
        new_mail = mail.outbox[sent_before:]
        token = None
        if new_mail:
            match = TOKEN_IN_EMAIL.search(new_mail[-1].body)
            token = match.group(1) if match else None
        return response, token

    return do_invite
