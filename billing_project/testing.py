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
