"""Fixtures for the payments tests. The world (`team`, `org`, `owner`, `pro`, `team_plan`,
`staff_client`, ...) is the shared one: root conftest.py, billing_project.tests.world; the
fake gateway servers and gateway settings (`fake_stripe`, `stripe_ready`, ...) are
payments.tests.fixtures, a plugin the root conftest.py registers."""

import pytest


@pytest.fixture(autouse=True)
def _media_in_tmp(media_in_tmp):
    """Payments finalize and pay invoices, which render PDFs: into a temporary directory."""
