"""Shared test fixtures: API clients, users, service markers, and the shared test world
(billing_project.tests.world): a team, the demo catalogue's paid plans, a customer."""

from __future__ import annotations

import socket

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

# The gateway test fixtures (fake servers, gateway settings), for every suite: pytest takes
# `pytest_plugins` from the root conftest only.
pytest_plugins = ["payments.tests.fixtures"]

FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def pytest_collection_modifyitems(config, items):
    is_postgres = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    has_redis = bool(settings.REDIS_URL)
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://...")
    skip_redis = pytest.mark.skip(reason="needs Redis: set REDIS_URL=redis://...")
    for item in items:
        if "postgres" in item.keywords and not is_postgres:
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not has_redis:
            item.add_marker(skip_redis)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings, request):
    """Argon2 costs ~20 ms a hash; tests that check hashing itself opt out."""
    if "real_hashing" not in request.keywords:
        settings.PASSWORD_HASHERS = FAST_HASHERS


@pytest.fixture(autouse=True)
def _fresh_hot_path_state():
    """The in-process plan catalogue and the quota-counter client keep state between
    requests; a test's rolled-back rows must not leak into the next test through them."""
    from plans.catalogue import invalidate
    from usage import counters

    invalidate()
    counters.reset_client()
    yield
    invalidate()
    counters.reset_client()


@pytest.fixture(autouse=True)
def _default_catalogue(request):
    """Transactional tests flush every table at their end, including the default plan
    and metrics the data migration made; put them back for the next such test."""
    marker = request.node.get_closest_marker("django_db")
    transactional = bool(marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])))
    if transactional or {"transactional_db", "live_server"} & set(request.fixturenames):
        from plans.defaults import default_catalogue_ensure

        request.getfixturevalue("_django_db_helper")
        default_catalogue_ensure()
    yield


@pytest.fixture(autouse=True)
def _isolated_cache():
    """A fresh local-memory cache per test. A shared Redis is not flushed (other test
    processes use it); tests there use unique keys."""
    if not settings.REDIS_URL:
        cache.clear()
    yield


_real_connect = socket.socket.connect


def _loopback_only_connect(self, address):
    host = address[0] if isinstance(address, tuple) else address
    is_inet = self.family in (socket.AF_INET, socket.AF_INET6)
    if is_inet and isinstance(host, str) and host not in {"::1", "localhost"} and not host.startswith("127."):
        raise RuntimeError(f"Tests may not reach non-loopback host {host!r}")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _no_external_network(monkeypatch):
    """Any attempt to reach a host other than loopback fails the test."""
    monkeypatch.setattr(socket.socket, "connect", _loopback_only_connect)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def user(db):
    from accounts.tests.factories import UserFactory

    return UserFactory()


@pytest.fixture
def auth_client(user):
    """An APIClient signed in as `user` with a real access token."""
    from accounts.services import token_pair_for

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_pair_for(user).token}")
    client.user = user
    return client


@pytest.fixture
def make_auth_client(db):
    from accounts.services import token_pair_for

    def make(user) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_pair_for(user).token}")
        client.user = user
        return client

    return make


# --- the shared world (billing_project.tests.world) ----------------------------------------


@pytest.fixture
def team(db):
    """An organization ("Acme Team") with one member of each role; see world.Team."""
    from billing_project.tests.world import new_team

    return new_team()


@pytest.fixture
def org(team):
    return team.org


@pytest.fixture
def owner(team):
    """The team's owner, signed in, acting on the team's organization (world.Team.owner).
    Suites that mean the owner's User by `owner` (credits, usage) define their own."""
    return team.owner


@pytest.fixture
def other_team(db):
    """A second team: its members belong to none of `team`'s organizations."""
    from billing_project.tests.world import new_team

    return new_team("Someone Else Ltd")


@pytest.fixture
def free_plan(db):
    """The free default plan that the data migration creates in every database."""
    from plans.models import Plan

    return Plan.objects.get(code="free")


@pytest.fixture
def demo(db):
    """The demo catalogue with its plans' trials taken off (checkout takes the first payment)."""
    from billing_project.tests.world import paid_plans

    return paid_plans()


@pytest.fixture
def pro(demo):
    """The demo `pro` plan: $29.99 a month, call minutes 5c, SMS 1c, API calls 0.1c."""
    return demo[0]


@pytest.fixture
def team_plan(demo):
    """The demo `team` plan: $99.99 a month."""
    return demo[1]


@pytest.fixture
def customer(demo):
    """A customer of the public API (world.Customer): an organization, its owner and a
    live API key, not subscribed yet."""
    from billing_project.tests.world import customer_create

    return customer_create()


@pytest.fixture
def staff(db):
    """A superuser."""
    from accounts.tests.factories import UserFactory

    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(staff):
    """A browser signed in to the admin as `staff`."""
    from billing_project.tests.world import staff_client

    return staff_client(staff)


@pytest.fixture
def clock(time_machine):
    """time_machine's traveller, for tests that move through billing periods."""
    return time_machine


@pytest.fixture
def media_in_tmp(settings, tmp_path):
    """Rendered PDFs go to a temporary directory, never to the project's media/ (suites
    that render them use it autouse)."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
