"""Fixtures for the credit tests: the shared world's organization (`org`, USD, with one
member of each role: root conftest.py), its owner signed in, an API-key client, and an
organization billed in another currency."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from organizations.models import Organization, Role
from organizations.tests.factories import OrganizationFactory

from .helpers import Service, new_key, service_client


@pytest.fixture
def other_org(db) -> Organization:
    return OrganizationFactory(name="Someone Else Ltd", currency="EUR")


@pytest.fixture
def owner(team):
    """The owner of `org`."""
    return team.users[Role.OWNER]


@pytest.fixture
def people(team) -> APIClient:
    """The owner of `org`, signed in, acting on `org`."""
    return team.client(Role.OWNER)


@pytest.fixture
def service(org) -> Service:
    """A live key of `org` with the credits:write scope."""
    secret = new_key(org)
    return Service(org=org, secret=secret, client=service_client(secret))
