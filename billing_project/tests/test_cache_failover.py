"""The project's Redis cache when Redis fails: operations are served from process memory,
an outage costs one short timeout every few seconds rather than one per request, it is
logged once, and Redis is used again when it answers."""

from __future__ import annotations

import logging
import time

import pytest
from django.core.cache import cache

from billing_project.tests.redis_tools import (
    RedisServer,
    SilentServer,
    free_port,
    project_cache_settings,
    redis_server_available,
    wait_until,
)


@pytest.fixture(autouse=True)
def _no_outage_memory():
    from billing_project.cache import reset_outages

    reset_outages()
    yield
    reset_outages()


@pytest.fixture
def hung_redis(settings):
    """The project's cache pointed at a server that accepts connections and never answers."""
    server = SilentServer()
    settings.CACHES = project_cache_settings(server.url())
    yield server
    server.close()


def test_cache_operations_are_served_from_memory_while_redis_is_down(settings):
    settings.CACHES = project_cache_settings(f"redis://127.0.0.1:{free_port()}/0")

    assert cache.get("missing") is None
    cache.set("greeting", {"hello": "world"}, timeout=60)
    assert cache.add("counter", 0, timeout=60) is True
    assert cache.incr("counter") == 1
    assert cache.get_many(["greeting", "counter"]) == {"greeting": {"hello": "world"}, "counter": 1}
    assert cache.delete("greeting") is True
    assert cache.get("greeting") is None


def test_a_hung_redis_costs_one_short_timeout_then_is_skipped(hung_redis, settings):
    started = time.monotonic()
    assert cache.get("anything") is None
    first = time.monotonic() - started

    started = time.monotonic()
    for index in range(50):
        cache.set(f"key-{index}", index, timeout=60)
        assert cache.get(f"key-{index}") == index
    rest = time.monotonic() - started

    assert first < settings.CACHE_REDIS_TIMEOUT * 2 + 0.5
    assert rest < 0.2  # 100 operations, none of them waiting on Redis


def test_an_outage_is_logged_once_not_per_operation(caplog, settings):
    settings.CACHES = project_cache_settings(f"redis://127.0.0.1:{free_port()}/0")

    with caplog.at_level(logging.WARNING, logger="billing_project.cache"):
        for index in range(20):
            cache.get(f"key-{index}")

    assert len(caplog.records) == 1
    assert "unreachable" in caplog.records[0].getMessage()


@pytest.mark.skipif(not redis_server_available(), reason="needs the redis-server binary")
def test_redis_is_used_again_once_it_answers(caplog, settings):
    port = free_port()
    settings.CACHES = project_cache_settings(f"redis://127.0.0.1:{port}/0", CACHE_REDIS_RETRY_SECONDS="0.1")
    cache.set("during-the-outage", 1, timeout=60)  # Redis is down: kept in this process
    server = RedisServer(port=port).start()
    try:
        with caplog.at_level(logging.WARNING, logger="billing_project.cache"):
            wait_until(
                lambda: cache.add("after", 1, timeout=60) and server.client().exists(cache.make_key("after")), timeout=5
            )

        assert server.client().exists(cache.make_key("after")) == 1
        assert cache.get("during-the-outage") is None  # served by Redis, which never had it
        assert any("reachable again" in record.getMessage() for record in caplog.records)
    finally:
        server.close()
