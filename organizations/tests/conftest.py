"""Fixtures for the organizations tests. The team (`team`: one member of each role, each
signed in as `team.clients[role]`) is the shared world's (root conftest.py)."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tests.factories import UserFactory
from organizations.models import Organization, Role

TOKEN_IN_EMAIL = re.compile(r"token=([A-Za-z0-9_-]+)")


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
