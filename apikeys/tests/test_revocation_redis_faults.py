"""A key revoked (or rotated) by a server that cannot reach Redis stops working on every
server within APIKEY_CACHE_SECONDS, although Redis still holds the principal cached before.

Two app servers share a private redis-server (cache and quota counters): server B reaches
it directly, server A through a proxy the test cuts (a partition between A and Redis). Both
run in this process; `servers.use(name)` points the app at one server's Redis settings.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
import time_machine
from django.utils import timezone

from accounts.tests.factories import PASSWORD, UserFactory
from billing_project.tests.redis_tools import (
    RedisServer,
    TcpProxy,
    project_cache_settings,
    redis_server_available,
)
from usage import counters

from .helpers import ALL_SCOPES, QUOTA_CHECK_URL, assert_error, assert_ok, key_url, new_key, report, service_client

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not redis_server_available(), reason="needs the redis-server binary"),
]


@pytest.fixture(scope="module")
def redis_server():
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture
def servers(settings, redis_server):
    proxy = TcpProxy(redis_server.port).start()
    redis.Redis(port=redis_server.port).flushdb()
    urls = {"A": proxy.url(), "B": redis_server.url()}

    class Servers:
        @staticmethod
        def use(name: str) -> None:
            """Serve as server `name`: its cache and its quota counters."""
            settings.REDIS_URL = settings.QUOTA_REDIS_URL = urls[name]
            settings.CACHES = project_cache_settings(urls[name])
            counters.reset_client()

        @staticmethod
        def cut_a_off_from_redis() -> None:
            proxy.cut()

        @staticmethod
        def cached_principals() -> list:
            return redis.Redis(port=redis_server.port).keys("*apikey:*")

    yield Servers
    proxy.cut()


def quota_check(secret: str):
    return service_client(secret).get(QUOTA_CHECK_URL, {"requests_needed": 1})


PROBES = {"usage/report": report, "usage/quota-check": quota_check}


def revoke(auth_client, key: dict, client) -> None:
    assert_ok(auth_client.delete(key_url(key["id"])))


def rotate(auth_client, key: dict, client) -> None:
    assert_ok(auth_client.post(key_url(key["id"], "/rotate")))


def delete_account(auth_client, key: dict, client) -> None:
    assert_ok(auth_client.delete("/api/v1/profile", {"password": PASSWORD}, format="json"))


def admin_revoke(auth_client, key: dict, client) -> None:
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.post("/admin/apikeys/apikey/", {"action": "revoke", "_selected_action": [key["id"]]})
    assert response.status_code == 302, response.content


@pytest.mark.parametrize("probe", PROBES.values(), ids=PROBES.keys())
@pytest.mark.parametrize("change", [revoke, rotate, delete_account, admin_revoke])
def test_a_key_revoked_by_a_server_cut_off_from_redis_is_refused_everywhere_within_the_bound(
    auth_client, client, settings, servers, probe, change
):
    key = new_key(auth_client, scopes=ALL_SCOPES)
    for name in ("B", "A"):
        servers.use(name)
        assert probe(key["key"]).status_code in (200, 201)  # the principal is now cached in Redis
    servers.cut_a_off_from_redis()

    change(auth_client, key, client)  # on server A: its cache delete cannot reach Redis

    assert servers.cached_principals()  # the delete was lost
    assert_error(probe(key["key"]), 401, "authentication_failed")  # A asks the database
    servers.use("B")  # B still finds the principal cached in Redis
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.APIKEY_CACHE_SECONDS + 1)):
        assert_error(probe(key["key"]), 401, "authentication_failed")


def test_a_server_cut_off_from_redis_keeps_authenticating_keys(auth_client, servers):
    key = new_key(auth_client, scopes=ALL_SCOPES)
    servers.use("A")
    servers.cut_a_off_from_redis()

    for _ in range(3):
        assert_ok(report(key["key"]), 201)
        assert_ok(quota_check(key["key"]))
