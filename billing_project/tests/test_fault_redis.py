"""The served app with Redis stopped: gunicorn in a subprocess, on a copy of the test
database, with its own redis-server (cache, quota counters and Celery broker) that the test
kills. Sign-up, sign-in (still rate limited), password reset requests, usage reporting,
quota checks and credit spends keep answering; an API key revoked during the outage stops
working within APIKEY_CACHE_SECONDS; when Redis returns the app uses it again. The same
served app shows gunicorn handing a long URL to the API, which answers 414 in the envelope
(gunicorn.conf.py)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import pytest
import requests
from django.conf import settings
from django.db import connection, connections

from billing_project.tests.redis_tools import RedisServer, free_port, redis_server_available, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db,  # so that the test database exists, to be copied
    pytest.mark.skipif(not redis_server_available(), reason="needs the redis-server binary"),
]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PASSWORD = "Fault-test-pw-42"
# A request the app answers while Redis is down must not wait on it for long.
SLOW_ANSWER_SECONDS = 2.0

PREPARE = """
import json
import django

django.setup()
from apikeys.services import apikey_create
from billing.accounts import account_register
from credits.services import credits_grant
from organizations.models import Membership
from plans.defaults import default_catalogue_ensure

default_catalogue_ensure()
user = account_register(email="fault@example.com", password=%(password)r, name="Fault Test")
organization = Membership.objects.get(user=user).organization
scopes = ["usage:write", "usage:read", "credits:write"]
keys = [
    apikey_create(organization=organization, created_by=user, name=name, scopes=scopes)
    for name in ("kept", "revoked")
]
credits_grant(organization=organization, amount_cents=10_000, reason="fault test")
print(json.dumps({
    "email": user.email,
    "organization_id": str(organization.pk),
    "keys": {name: {"id": str(key.pk), "secret": secret} for name, (key, secret) in zip(("kept", "revoked"), keys)},
}))
"""


def _copy_of_the_test_database(workdir: str):
    """A database the subprocess can open: a file copy of the in-memory SQLite test database,
    or a PostgreSQL database made from the test database as its template. Returns its URL
    and a function that drops it."""
    if connection.vendor == "sqlite":
        path = os.path.join(workdir, "fault.sqlite3")
        connection.ensure_connection()
        with sqlite3.connect(path) as target:
            connection.connection.backup(target)
        return f"sqlite:///{path}", lambda: None
    params = connection.settings_dict
    template = params["NAME"]
    name = f"{template}_fault_{uuid.uuid4().hex[:8]}"
    connections.close_all()  # a template database must have no other sessions
    admin = {
        "host": params["HOST"] or "127.0.0.1",
        "port": params["PORT"] or 5432,
        "user": params["USER"],
        "password": params["PASSWORD"] or None,
        "dbname": "postgres",
        "autocommit": True,
    }
    with psycopg.connect(**admin) as pg:
        pg.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')

    def drop():
        with psycopg.connect(**admin) as pg:
            pg.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    credentials = params["USER"] + (f":{params['PASSWORD']}" if params["PASSWORD"] else "")
    return f"postgres://{credentials}@{admin['host']}:{admin['port']}/{name}", drop


class App:
    """The app served by gunicorn, and the data the test prepared in its database."""

    def __init__(self, base: str, data: dict, log: Path):
        self.base = base
        self.data = data
        self.log = log

    def call(self, method: str, path: str, *, token: str | None = None, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        started = time.monotonic()
        response = requests.request(method, self.base + path, headers=headers, timeout=10, **kwargs)
        elapsed = time.monotonic() - started
        assert response.status_code < 500, f"{method} {path}: {response.status_code} {response.text}\n{self.logs()}"
        assert elapsed < SLOW_ANSWER_SECONDS, f"{method} {path} took {elapsed:.2f} s"
        return response

    def logs(self) -> str:
        return self.log.read_text()[-4000:] if self.log.exists() else ""


@pytest.fixture(scope="module")
def redis_server():
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def app(django_db_setup, django_db_blocker, redis_server):
    workdir = tempfile.mkdtemp(prefix="fault-redis-")
    with django_db_blocker.unblock():
        database_url, drop_database = _copy_of_the_test_database(workdir)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "billing_project.settings",
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_server.url(),
        "CACHE_KEY_PREFIX": f"fault-{uuid.uuid4().hex[:8]}",
        # Tasks go to the Celery broker on that Redis, as in production (no worker runs:
        # the test only needs the enqueueing to survive the outage).
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DEBUG": "false",
        "SECRET_KEY": "fault-test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        "JWT_SIGNING_KEY": "fault-test-jwt-signing-key-9876543210zyxwvutsrqponmlkji",
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SANDBOX_GATEWAY_ENABLED": "true",
        "EMAIL_URL": "memorymail://",
        "LOG_LEVEL": "WARNING",
    }
    for name in ("QUOTA_REDIS_URL", "CELERY_BROKER_URL", "APIKEY_CACHE_SECONDS"):
        env.pop(name, None)
    prepared = subprocess.run(
        [str(BIN / "python"), "-c", PREPARE % {"password": PASSWORD}],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert prepared.returncode == 0, prepared.stderr
    data = json.loads(prepared.stdout.strip().splitlines()[-1])
    port = free_port()
    log = Path(workdir) / "gunicorn.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [str(BIN / "gunicorn"), "billing_project.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1", "--threads", "2"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    app = App(f"http://127.0.0.1:{port}", data, log)

    def live() -> bool:
        assert server.poll() is None, f"gunicorn exited:\n{app.logs()}"
        try:
            return requests.get(app.base + "/live", timeout=5).status_code == 200
        except (requests.ConnectionError, requests.Timeout):
            return False

    try:
        wait_until(live, timeout=60, interval=0.2, what="gunicorn to serve")
        yield app
    finally:
        server.send_signal(signal.SIGINT)  # gunicorn's quick shutdown
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        drop_database()
        shutil.rmtree(workdir, ignore_errors=True)


def test_the_app_serves_with_redis_stopped_and_revocation_takes_effect_within_the_bound(app, redis_server):
    kept, revoked = app.data["keys"]["kept"]["secret"], app.data["keys"]["revoked"]
    assert app.call("POST", "/api/v1/usage/report", token=kept, json={"event_type": "api_call"}).status_code == 201
    assert app.call("POST", "/api/v1/usage/report", token=revoked["secret"], json={"event_type": "api_call"}).ok

    redis_server.stop()

    login = app.call("POST", "/api/v1/auth/login", json={"email": app.data["email"], "password": PASSWORD})
    assert login.status_code == 200, login.text
    token = login.json()["data"]["token"]
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        wrong = app.call("POST", "/api/v1/auth/login", json={"email": "guess@example.com", "password": "Wrong-pw-1"})
        assert wrong.status_code == 401, wrong.text
    limited = app.call("POST", "/api/v1/auth/login", json={"email": "guess@example.com", "password": "Wrong-pw-1"})
    assert limited.status_code == 429, limited.text
    register = app.call(
        "POST", "/api/v1/auth/register", json={"email": "new@example.com", "password": PASSWORD, "name": "New"}
    )
    assert register.status_code == 201, register.text
    forgot = app.call("POST", "/api/v1/auth/forgot-password", json={"email": app.data["email"]})
    assert forgot.status_code == 200, forgot.text

    for _ in range(3):
        report = app.call("POST", "/api/v1/usage/report", token=kept, json={"event_type": "tokens_used", "quantity": 5})
        assert report.status_code == 201, report.text
    quota = app.call("GET", "/api/v1/usage/quota-check", token=kept, params={"tokens_needed": 1})
    assert quota.status_code in (200, 429), quota.text
    spend = app.call(
        "POST",
        "/api/v1/credits/spend",
        token=kept,
        json={"amount_cents": 250, "reference": "fault", "idempotency_key": "fault-1"},
    )
    assert spend.status_code == 200, spend.text
    assert spend.json()["data"]["balance_cents"] == 9_750

    revoke = app.call("DELETE", f"/api/v1/api-keys/{revoked['id']}", token=token)
    assert revoke.status_code == 200, revoke.text
    revoked_at = time.monotonic()

    def refused() -> bool:
        response = app.call("POST", "/api/v1/usage/report", token=revoked["secret"], json={"event_type": "api_call"})
        return response.status_code == 401

    wait_until(refused, timeout=settings.APIKEY_CACHE_SECONDS + 1, interval=0.2, what="the revoked key to be refused")
    assert time.monotonic() - revoked_at <= settings.APIKEY_CACHE_SECONDS + 1

    redis_server.start()

    def served_from_redis_again() -> bool:
        response = app.call("POST", "/api/v1/usage/report", token=kept, json={"event_type": "api_call"})
        assert response.status_code == 201, response.text
        return any(key.startswith(b"fault-") for key in redis_server.client().keys("*"))

    wait_until(served_from_redis_again, timeout=settings.CACHE_REDIS_RETRY_SECONDS + 5, interval=0.2, what="Redis use")
    assert app.call("POST", "/api/v1/auth/login", json={"email": app.data["email"], "password": PASSWORD}).ok


def test_gunicorn_hands_a_long_url_to_the_api_which_answers_414_in_the_envelope(app):
    """The fuzzer's case (CI, 2026-12-02): a 4,842-byte query string, which gunicorn's default
    4,094-byte request line answered with an HTML page."""
    query = "&".join(["limit=1"] * 606)[:4842]
    response = app.call("GET", f"/api/v1/plans?{query}")
    assert response.status_code == 414, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "uri_too_long"
    assert app.call("GET", "/api/v1/plans?limit=1").status_code == 200
