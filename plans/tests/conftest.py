"""Fixtures for the plans tests (the free default plan, `free_plan`, is the shared world's:
root conftest.py)."""

from __future__ import annotations

import pytest

from plans.models import Plan

from .factories import PlanFactory


@pytest.fixture
def make_default_plan(db):
    """Make a new free plan the default one (the Free plan stops being the default
    first: only one default plan may exist)."""

    def make(**fields) -> Plan:
        Plan.objects.filter(is_default=True).update(is_default=False)
        return PlanFactory(is_default=True, **fields)

    return make
