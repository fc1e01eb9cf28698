"""Fixtures for the idempotency tests. The world (`team`, `org`, `other_team`, the demo's
paid `pro` and `team_plan`) is the shared one: root conftest.py, billing_project.tests.world."""

import pytest
from rest_framework.test import APIClient


@pytest.fixture(autouse=True)
def _media_in_tmp(media_in_tmp):
    """Checkout and payment finalize invoices, which render PDFs: into a temporary directory."""


@pytest.fixture
def owner(team) -> APIClient:
    """The team's owner, signed in, acting on the team's organization."""
    return team.owner
