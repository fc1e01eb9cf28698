"""Helpers shared by the test suites of every app."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.db import connection


def run_concurrently(calls: list[Callable[[], object]], *, timeout: float = 30) -> list:
    """Run each call in its own thread, all released at the same moment by a barrier.

    Returns the results in order; an exception in any call is raised here. Each thread
    closes its own database connection, so PostgreSQL sees real concurrent sessions.
    """
    barrier = threading.Barrier(len(calls))

    def run(call):
        try:
            barrier.wait(timeout=timeout)
            return call()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(run, call) for call in calls]
        return [future.result(timeout=timeout) for future in futures]


def assert_ok(response, status: int = 200):
    """The success envelope with `status`; returns its `data`."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is True
    return body["data"]


def assert_error(response, status: int, code: str) -> dict:
    """The error envelope with `status` and `error.code`; returns `error`."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]
