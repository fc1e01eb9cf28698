"""Under `make run` the periodic tasks run beside the server (its `serve` step): with no
broker, `manage.py run_schedule` is Celery beat on the database schedule running each due
task inline. Proven end to end: `make serve` against a copy of the test database whose
billing-cycle entry is due every second renews a subscription whose period ended, the
server answers meanwhile, and Ctrl-C (SIGINT to the terminal's process group) stops all."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from billing_project.celery import app
from billing_project.tests.world import subscribe
from organizations.tests.factories import OrganizationFactory

MAKE = shutil.which("make")
IS_SQLITE = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def copy_of_the_test_database(path) -> None:
    """The test database as it is now (schema, the migrations' schedule, this test's rows)."""
    connection.ensure_connection()
    target = sqlite3.connect(path)
    with target:
        connection.connection.backup(target)
    target.close()


def newcomer_env(database: str) -> dict:
    """The environment of a developer who typed `make run`: no broker, no Redis, DEBUG from
    the Makefile's default, and the copy as the database."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CELERY_", "REDIS", "DEBUG"))}
    env.update(DATABASE_URL=f"sqlite:///{database}", BILLING_GRACE_SECONDS="0", EMAIL_URL="consolemail://")
    env.pop("QUOTA_REDIS_URL", None)
    return env


def cycle_invoices(database, subscription) -> list[str]:
    db = sqlite3.connect(database, timeout=20)
    try:
        rows = db.execute(
            "SELECT status FROM invoices_invoice WHERE subscription_id = ? AND reason = 'subscription_cycle'",
            [subscription.pk.hex],
        ).fetchall()
    finally:
        db.close()
    return [status for (status,) in rows]


def get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=20) as response:
        return response.status


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not MAKE, reason="needs make")
@pytest.mark.skipif(not IS_SQLITE, reason="copies the SQLite test database")
@pytest.mark.django_db(transaction=True)
def test_make_serve_runs_the_schedule_inline_beside_the_server_and_ctrl_c_stops_both(pro, tmp_path):
    organization = OrganizationFactory(billing_email="billing@example.com")
    ended = subscribe(organization, pro, timezone.now() - timedelta(days=40), payment_method="pm_sandbox_ok")
    assert ended.current_period_end < timezone.now()
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    # The schedule's rows come from a data migration, which an earlier transactional test's
    # flush may have emptied: make the billing cycle's row due every second either way.
    PeriodicTask.objects.update_or_create(
        name="Billing cycle", defaults={"task": "invoices.tasks.run_billing_cycle", "interval": every_second}
    )
    database = tmp_path / "run.sqlite3"
    copy_of_the_test_database(database)
    port = free_port()
    log = (tmp_path / "make.log").open("w+")

    make = subprocess.Popen(
        [MAKE, "-s", "-C", str(settings.BASE_DIR), "serve", f"PORT={port}"],
        env=newcomer_env(str(database)),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as a terminal's job
    )
    try:
        deadline = time.monotonic() + 150
        statuses, answers = [], []
        while time.monotonic() < deadline and not (statuses and answers):
            time.sleep(1)
            assert make.poll() is None, log_text(log)
            statuses = cycle_invoices(database, ended)
            try:
                answers = [get(f"http://127.0.0.1:{port}/live"), get(f"http://127.0.0.1:{port}/")]
            except OSError:
                answers = []  # the server is still starting
        assert statuses == ["paid"], log_text(log)  # renewed and charged to the saved card
        assert answers == [200, 200]

        os.killpg(make.pid, signal.SIGINT)  # Ctrl-C
        make.wait(timeout=60)
        deadline = time.monotonic() + 30
        while group_alive(make.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not group_alive(make.pid), "a process of `make serve` outlived Ctrl-C"
    finally:
        if group_alive(make.pid):
            os.killpg(make.pid, signal.SIGKILL)
        make.wait(timeout=30)
    output = log_text(log)
    assert "run inline here" in output
    assert "Sending due task Billing cycle (invoices.tasks.run_billing_cycle)" in output


def log_text(log) -> str:
    log.flush()
    log.seek(0)
    return log.read()


# --- the command --------------------------------------------------------------------------


def test_without_a_broker_the_command_runs_beat_in_this_process(settings, monkeypatch):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    started = []

    class FakeBeat:
        def __init__(self, **kwargs):
            started.append(kwargs)

        def run(self):
            started.append("run")

    monkeypatch.setattr(app, "Beat", FakeBeat)
    monkeypatch.setattr(app, "worker_main", lambda **kwargs: started.append(("worker", kwargs)))

    call_command("run_schedule", "--max-interval", "2")

    assert started == [{"loglevel": "INFO", "max_interval": 2.0}, "run"]


def test_with_a_broker_the_command_runs_a_worker_with_an_embedded_beat(settings, monkeypatch):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    calls = []
    monkeypatch.setattr(app, "worker_main", lambda **kwargs: calls.append(kwargs))

    call_command("run_schedule")

    assert calls == [{"argv": ["worker", "--beat", "--loglevel=INFO"]}]


def test_beat_runs_a_due_task_inline_under_always_eager():
    """What the command relies on: Celery beat's Scheduler.apply_async goes through
    Task.apply_async, which under task_always_eager runs the task here and now."""
    from celery.beat import ScheduleEntry, Scheduler

    ran = []

    @app.task(name="billing_project.tests.scheduler_probe", shared=False)
    def probe(value):
        ran.append(value)

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        scheduler = Scheduler(app, lazy=True)
        entry = ScheduleEntry(name="probe", task=probe.name, schedule=timedelta(seconds=1), args=(7,), app=app)
        result = scheduler.apply_async(entry, advance=False)
    finally:
        app.conf.task_always_eager = previous

    assert ran == [7]
    assert result.successful()
