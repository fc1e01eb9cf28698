"""Fixtures for the usage tests: an organization with API keys (service clients), a
signed-in owner (people client), and extra metrics beyond the default tokens/requests."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import pytest
from django.apps import apps as django_apps
from rest_framework.test import APIClient

from accounts.services import token_pair_for
from accounts.tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from apikeys.models import APIKey, Mode, Scope
from apikeys.services import apikey_create
from organizations.models import Organization, Role
from plans.models import BillableMetric, Plan, PlanCharge

from .helpers import BATCH, QUOTA, REPORT

ALL_SCOPES = list(Scope.values)


@dataclass
class Service:
    """An API key of `org` and a client that sends it."""

    org: Organization
    key: APIKey
    secret: str
    client: APIClient

    def report(self, **event):
        return self.client.post(REPORT, event, format="json")

    def batch(self, events):
        return self.client.post(BATCH, {"events": events}, format="json")

    def quota(self, **params):
        return self.client.get(QUOTA, params)


def service_client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def people_client(user, organization: Organization | None = None) -> APIClient:
    """A client signed in as `user`, acting on `organization` (X-Current-Org) when given."""
    client = APIClient()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token_pair_for(user).token}"}
    if organization is not None:
        headers["HTTP_X_CURRENT_ORG"] = str(organization.pk)
    client.credentials(**headers)
    client.user = user
    return client


def new_service(organization: Organization, *, scopes=None, mode: str = Mode.LIVE) -> Service:
    key, secret = apikey_create(
        organization=organization,
        created_by=None,
        name=f"{mode} key",
        scopes=ALL_SCOPES if scopes is None else scopes,
        mode=mode,
    )
    return Service(org=organization, key=key, secret=secret, client=service_client(secret))


def ensure_default_catalogue() -> None:
    """Recreate the default metrics and Free plan of the data migration. Transactional
    tests flush the database afterwards, taking the migration's rows with them."""
    migration = importlib.import_module("plans.migrations.0002_default_catalogue")
    migration.create_defaults(django_apps, None)
    from plans.catalogue import invalidate

    invalidate()


@pytest.fixture
def org(db) -> Organization:
    return OrganizationFactory(name="Metered Inc")


@pytest.fixture
def make_service(db):
    """make_service(org, scopes=[...], mode="test") -> Service."""
    return new_service


@pytest.fixture
def service(org) -> Service:
    """A live key of `org` with every scope."""
    return new_service(org)


@pytest.fixture
def test_service(org) -> Service:
    """A test-mode key of `org` with every scope: events are stored, never counted."""
    return new_service(org, mode=Mode.TEST)


@pytest.fixture
def other_service(db) -> Service:
    """A live key of another organization."""
    return new_service(OrganizationFactory(name="Someone Else Ltd"))


@pytest.fixture
def owner(org):
    user = UserFactory()
    MembershipFactory(organization=org, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def people(owner, org) -> APIClient:
    """The owner of `org`, signed in, acting on `org`."""
    return people_client(owner, org)


@pytest.fixture
def long_grace(settings):
    """Late usage is accepted 60 days back (BILLING_GRACE_SECONDS), so that a test may
    report usage of days ago whatever today's date (early in a month those days are in
    the previous quota period, closed after an hour by default)."""
    settings.BILLING_GRACE_SECONDS = 60 * 86400


@pytest.fixture
def free_plan(db) -> Plan:
    return Plan.objects.get(is_default=True)


@pytest.fixture
def history_plan(free_plan) -> Plan:
    """The default plan, granting usage_history."""
    free_plan.features = {**free_plan.features, "usage_history": True}
    free_plan.save()
    return free_plan


@dataclass
class ExtraMetrics:
    peak: BillableMetric  # max of `memory_sampled` quantities, soft, 4096 included
    users: BillableMetric  # distinct metadata.user_id of `user_active`, hard, 3 included


@pytest.fixture
def extra_metrics(free_plan) -> ExtraMetrics:
    peak = BillableMetric.objects.create(
        code="peak_memory", name="Peak memory", unit="MB", event_types=["memory_sampled"], aggregation="max"
    )
    users = BillableMetric.objects.create(
        code="active_users",
        name="Active users",
        unit="user",
        event_types=["user_active"],
        aggregation="unique_count",
        aggregation_key="user_id",
    )
    PlanCharge.objects.create(plan=free_plan, metric=peak, included_quantity=4096, policy="soft")
    PlanCharge.objects.create(plan=free_plan, metric=users, included_quantity=3, policy="hard")
    return ExtraMetrics(peak=peak, users=users)
