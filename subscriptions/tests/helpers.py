"""Assertions and small helpers shared by the subscriptions tests."""

from __future__ import annotations

from billing_project.testing import assert_error, assert_ok  # noqa: F401 - re-exported
from billing_project.tests.world import iso, utc  # noqa: F401 - re-exported

SUBSCRIPTION = "/api/v1/subscriptions"
ENTITLEMENTS = "/api/v1/entitlements"
LIMITS = "/api/v1/usage/limits"
USAGE = "/api/v1/usage"
REPORT = "/api/v1/usage/report"
QUOTA = "/api/v1/usage/quota-check"
