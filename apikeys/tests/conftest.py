"""Fixtures for the apikeys tests. The team (`team`: one member of each role, each signed
in as `team.clients[role]` without naming an organization, so requests name the team with
X-Current-Org) is the shared world's (root conftest.py)."""

from __future__ import annotations

import pytest

from organizations.models import Organization


@pytest.fixture
def personal_org(user) -> Organization:
    return user.memberships.get().organization
