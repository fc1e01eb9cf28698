"""Time `run_billing_cycle` for N organizations with 30 days of usage rollups each.

Each organization has an active Pro subscription (saved sandbox card) whose monthly period
ends; the cycle closes the period, rates a month of usage (three metrics), finalizes and
numbers the invoice, applies credits and charges it. PDF rendering and emails are queued
to the Celery broker, not run (a worker renders them). Needs PostgreSQL and Redis
(DATABASE_URL, REDIS_URL); runs in a throwaway database. Prints JSON.

    python bench/cycle.py 1000 10000
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import Database  # noqa: E402


def _setup_environment(database: Database, redis_url: str) -> None:
    parts = urlparse(redis_url)
    broker = parts._replace(path="/13").geturl()  # a Redis database of its own, flushed after
    os.environ.update(
        {
            "DEBUG": "true",
            "DATABASE_URL": database.bench_url,
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": broker,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "CACHE_KEY_PREFIX": f"cyclebench{os.getpid()}",
            "LOG_LEVEL": "WARNING",
            "EMAIL_URL": "dummymail://",
        }
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_project.settings")


def _populate(count: int, period_start: datetime) -> None:
    """`count` organizations on Pro with 30 days of rollups, written with COPY."""
    from django.db import connection

    from plans.demo import demo_catalogue_ensure
    from plans.models import BillableMetric, Plan

    demo_catalogue_ensure()
    pro = Plan.objects.get(code="pro")
    metrics = [str(m.pk) for m in BillableMetric.objects.filter(code__in=["call_minutes", "sms", "api_calls"])]
    period_end = period_start + timedelta(days=31)
    now = datetime.now(UTC).isoformat()
    orgs, subscriptions, rollups = io.StringIO(), io.StringIO(), io.StringIO()
    for index in range(count):
        org_id, sub_id = uuid.uuid4(), uuid.uuid4()
        slug = f"bench-{index}-{org_id.hex[:6]}"
        orgs.write(f"{org_id}\tOrg {index}\t{slug}\tbilling{index}@example.com\tUS\tUSD\tf\t0\t{now}\t{now}\n")
        subscriptions.write(
            f"{sub_id}\t{org_id}\t{pro.pk}\tactive\t{period_start.isoformat()}\t{period_start.isoformat()}\t"
            f"{period_start.isoformat()}\t{period_end.isoformat()}\tf\t\t\\N\tpm_sandbox_ok\tsandbox\t{now}\t{now}\n"
        )
        for day in range(1, 31):
            date = (period_start + timedelta(days=day)).date().isoformat()
            for metric_id in metrics:
                quantity = (index * 7 + day * 13) % 50 + 1
                rollups.write(
                    f"{org_id}\t{metric_id}\t{date}\t{date}T00:00:00+00:00\t{quantity}\t{quantity}\t{quantity}\t0\t{now}\n"
                )
    with connection.cursor() as cursor:
        raw = cursor.cursor
        for table, columns, data in (
            (
                "organizations_organization",
                "id, name, slug, billing_email, country, currency, is_personal, tax_rate, created_at, updated_at",
                orgs,
            ),
            (
                "subscriptions_subscription",
                "id, organization_id, plan_id, status, billing_anchor, started_at, current_period_start, "
                "current_period_end, "
                "cancel_at_period_end, cancel_reason, scheduled_plan_id, payment_method, gateway, created_at, "
                "updated_at",
                subscriptions,
            ),
            (
                "usage_dailyusage",
                "organization_id, metric_id, day, starts_at, quantity, event_count, max_quantity, unique_count, "
                "updated_at",
                rollups,
            ),
        ):
            data.seek(0)
            with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                copy.write(data.read())
        cursor.execute("ANALYZE")


def measure(count: int) -> dict:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    period_start = datetime(2026, 1, 1, tzinfo=UTC)
    started = time.perf_counter()
    _populate(count, period_start)
    setup_seconds = time.perf_counter() - started

    from billing.cycle import run_billing_cycle
    from invoices.models import Invoice
    from payments.models import Payment

    now = period_start + timedelta(days=31, hours=1, minutes=1)
    started = time.perf_counter()
    report = run_billing_cycle(now=now)
    seconds = time.perf_counter() - started
    # What the workers then do with the queued charges (not part of the cycle's time).
    from billing.tasks import collect_invoices

    due = [
        (str(pk), attempts + 1)
        for pk, attempts in Invoice.objects.filter(status="open").values_list("pk", "attempt_count")
    ]
    started = time.perf_counter()
    for offset in range(0, len(due), 500):
        collect_invoices(due[offset : offset + 500], now.isoformat())
    charge_seconds = time.perf_counter() - started
    paid = Invoice.objects.filter(status="paid").count()
    return {
        "organizations": count,
        "seconds": round(seconds, 2),
        "per_organization_ms": round(seconds / count * 1000, 2),
        "setup_seconds": round(setup_seconds, 1),
        "periods_closed": report.periods_closed,
        "invoices_finalized": report.invoices_finalized,
        "invoices_paid": paid,
        "charge_seconds": round(charge_seconds, 2),
        "payments": Payment.objects.count(),
        "errors": len(report.errors),
    }


def main() -> None:
    counts = [int(arg) for arg in sys.argv[1:]] or [1000]
    database_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")) or not redis_url:
        raise SystemExit("bench/cycle.py needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    results = []
    for count in counts:
        # One process per size: Django is set up once per process.
        if len(counts) > 1:
            import subprocess

            output = subprocess.run(
                [sys.executable, __file__, str(count)], capture_output=True, text=True, check=True
            ).stdout
            results.append(json.loads(output.strip().splitlines()[-1]))
            continue
        database = Database(database_url)
        database.create()
        try:
            _setup_environment(database, redis_url)
            results.append(measure(count))
        finally:
            import redis

            redis.Redis.from_url(os.environ["CELERY_BROKER_URL"]).flushdb()
            from django.db import connections

            connections.close_all()
            database.drop()
    print(json.dumps(results if len(results) > 1 else results[0]))


if __name__ == "__main__":
    main()
