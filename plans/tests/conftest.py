"""Fixtures for the plans tests."""

from __future__ import annotations

import pytest

from plans.models import Plan

from .factories import PlanFactory


@pytest.fixture
def free_plan(db) -> Plan:
    """The free default plan that migration 0002 creates in every database."""
    return Plan.objects.get(code="free")


@pytest.fixture
def make_default_plan(db):
    """Make a new free plan the default one (the Free plan stops being the default
    first: only one default plan may exist)."""

    def make(**fields) -> Plan:
        Plan.objects.filter(is_default=True).update(is_default=False)
        return PlanFactory(is_default=True, **fields)

    return make
