"""Time the rendering of one invoice PDF (the golden telephony invoice, 4 lines, tax).

Runs against a temporary SQLite database; prints JSON with the median and worst of
`--runs` renderings after one warm-up (the first loads fonts)."""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    workdir = tempfile.mkdtemp(prefix="billing-pdf-bench-")
    os.environ.update(
        {
            "DEBUG": "true",
            "DATABASE_URL": f"sqlite:///{workdir}/db.sqlite3",
            "MEDIA_ROOT": f"{workdir}/media",
            "LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_project.settings")
    import django

    django.setup()
    from datetime import UTC, datetime
    from decimal import Decimal

    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115

    from invoices.pdf import invoice_pdf_bytes
    from invoices.services import invoice_for_period_end
    from organizations.models import Membership
    from plans.models import BillableMetric, Plan
    from subscriptions.services import subscription_create
    from usage.models import DailyUsage

    organization = Membership.objects.get(user__email="demo@example.com").organization
    organization.tax_rate = Decimal("11")
    organization.save()
    subscription = subscription_create(
        organization=organization,
        plan=Plan.objects.get(code="pro"),
        start=datetime(2026, 10, 1, tzinfo=UTC),
        status="active",
        trial_days=0,
    )
    for code, quantity in (("call_minutes", 425), ("sms", 1150), ("api_calls", 5900)):
        DailyUsage.objects.create(
            organization=organization,
            metric=BillableMetric.objects.get(code=code),
            day=datetime(2026, 10, 15).date(),
            quantity=quantity,
            event_count=quantity,
            max_quantity=quantity,
        )
    invoice = invoice_for_period_end(subscription=subscription, now=datetime(2026, 11, 1, tzinfo=UTC))
    invoice_pdf_bytes(invoice)  # warm-up: fonts
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        pdf = invoice_pdf_bytes(invoice)
        timings.append((time.perf_counter() - started) * 1000)
    print(
        json.dumps(
            {
                "runs": runs,
                "median_ms": round(statistics.median(timings), 1),
                "max_ms": round(max(timings), 1),
                "bytes": len(pdf),
                "lines": invoice.lines.count(),
            }
        )
    )


if __name__ == "__main__":
    main()
