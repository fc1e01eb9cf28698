"""Fixtures for the invoices tests. The world (`team`, `org`, the demo catalogue's `pro`
and `team_plan`, `demo`) is the shared one: root conftest.py, billing_project.tests.world
(`subscribe` there makes a subscription as after a paid checkout)."""

import pytest


@pytest.fixture(autouse=True)
def _media_in_tmp(media_in_tmp):
    """Rendered PDFs go to a temporary directory, never to the project's media/."""
