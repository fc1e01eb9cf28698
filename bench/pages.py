"""Time the customer site's pages for an organization with a year of usage and 100
invoices (issue 14: p95 under 150 ms).

Builds the organization in the database DATABASE_URL names (a throwaway one: run.py
makes it) or in a temporary SQLite file, then renders each page `--runs` times with
Django's test client in this process (the server's own time, no network) after one
warm-up, and prints JSON: per page the median, p95 and worst in milliseconds."""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = [
    "/",
    "/account/",
    "/account/usage",
    "/account/usage?granularity=monthly&range=12m",
    "/account/usage?granularity=daily&range=90d",
    "/account/usage.csv?granularity=daily&metric=all",
    "/account/plans",
    "/account/invoices",
    "/account/invoices?page=4",
    "{invoice}",
    "/account/payment",
    "/account/credits",
    "/account/keys",
    "/account/team",
    "/account/disputes",
]


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    workdir = tempfile.mkdtemp(prefix="billing-pages-bench-")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir}/db.sqlite3")
    os.environ.setdefault("SANDBOX_GATEWAY_ENABLED", "true")
    os.environ.update({"DEBUG": "false", "SECRET_KEY": "bench-" + "x" * 60, "JWT_SIGNING_KEY": "bench-" + "y" * 60})
    os.environ.update({"MEDIA_ROOT": f"{workdir}/media", "LOG_LEVEL": "WARNING", "ALLOWED_HOSTS": "testserver"})
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_project.settings")
    import django

    django.setup()
    from datetime import UTC, date, datetime, timedelta

    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    call_command("migrate", verbosity=0)
    from accounts.tests.factories import UserFactory
    from credits.services import credits_grant
    from invoices.tests.factories import InvoiceFactory
    from organizations.models import Role
    from organizations.tests.factories import MembershipFactory, OrganizationFactory
    from plans.demo import demo_catalogue_ensure
    from plans.models import BillableMetric, Plan
    from subscriptions.services import subscription_create
    from usage.models import DailyUsage
    from web.context import SESSION_ORG

    demo_catalogue_ensure()
    now = datetime.now(UTC)
    organization = OrganizationFactory(name="Year of usage Ltd")
    owner = UserFactory(email="bench-owner@example.com")
    MembershipFactory(organization=organization, user=owner, role=Role.OWNER)
    subscription_create(
        organization=organization,
        plan=Plan.objects.get(code="pro"),
        start=now - timedelta(days=365),
        status="active",
        trial_days=0,
    )
    metrics = list(BillableMetric.objects.filter(code__in=["call_minutes", "sms", "api_calls"]))
    first_day = (now - timedelta(days=365)).date()
    DailyUsage.objects.bulk_create(
        [
            DailyUsage(
                organization=organization,
                metric=metric,
                day=first_day + timedelta(days=offset),
                starts_at=datetime.combine(first_day + timedelta(days=offset), datetime.min.time(), tzinfo=UTC),
                quantity=100 + (offset * 37 + index * 11) % 900,
                event_count=10 + offset % 50,
                max_quantity=50,
            )
            for offset in range(366)
            for index, metric in enumerate(metrics)
        ],
        batch_size=2000,
    )
    invoices = [
        InvoiceFactory(
            organization=organization,
            currency="USD",
            lines=[2999, 150 + number, 42],
            finalized=True,
            now=now - timedelta(days=365 - number * 3),
        )
        for number in range(100)
    ]
    for amount in (5000, 2500, 1000):
        credits_grant(organization=organization, amount_cents=amount, reason="bench")

    client = Client()
    client.force_login(owner)
    session = client.session
    session[SESSION_ORG] = str(organization.pk)
    session.save()
    import gc

    gc.freeze()  # as billing_project.wsgi does once the application is loaded
    gc_pauses: list[float] = []
    gc_started = [0.0]

    def gc_watch(phase, info):
        if phase == "start":
            gc_started[0] = time.perf_counter()
        elif info["generation"] == 2:
            gc_pauses.append((time.perf_counter() - gc_started[0]) * 1000)

    gc.callbacks.append(gc_watch)
    results = {}
    for page in PAGES:
        url = page.format(invoice=f"/account/invoices/{invoices[-1].pk}")
        warm = client.get(url)
        if warm.status_code != 200:
            raise SystemExit(f"{url} answered {warm.status_code}")
        timings = []
        gc_pauses.clear()
        for _ in range(runs):
            started = time.perf_counter()
            response = client.get(url)
            if getattr(response, "streaming", False):
                b"".join(response.streaming_content)
            timings.append((time.perf_counter() - started) * 1000)
        results[url if "{" not in page else "/account/invoices/<id>"] = {
            "median_ms": round(statistics.median(timings), 1),
            "p95_ms": round(p95(timings), 1),
            "max_ms": round(max(timings), 1),
            "full_gc_ms": round(sum(gc_pauses), 1),
        }
    print(
        json.dumps(
            {
                "runs": runs,
                "usage_days": 366,
                "invoices": len(invoices),
                "database": os.environ["DATABASE_URL"].split(":", 1)[0],
                "pages": results,
                "worst_p95_ms": max(row["p95_ms"] for row in results.values()),
                "since": str(date.today()),
            }
        )
    )


if __name__ == "__main__":
    main()
