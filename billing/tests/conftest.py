"""Fixtures for the billing tests. The world (`customer`, `demo`, `pro`, `team_plan`,
`team`, `org`, `owner`, `other_team`, `staff_client`, `clock`) is the shared one: root
conftest.py, billing_project.tests.world; the fake gateway servers and gateway settings
(`fake_xendit`, `sandbox_off`, ...) are payments.tests.fixtures, a plugin the root
conftest.py registers."""

import pytest


@pytest.fixture(autouse=True)
def _media_in_tmp(media_in_tmp):
    """Invoices and credit notes render PDFs: into a temporary directory."""
