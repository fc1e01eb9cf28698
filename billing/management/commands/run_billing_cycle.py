from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from tqdm import tqdm

from billing.cycle import run_billing_cycle


class Command(BaseCommand):
    help = (
        "Run the billing cycle once: end trials, close ended periods, finalize invoices after the grace "
        "window, charge them, retry failed charges and cancel unpaid subscriptions. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--now", help="Run as of this ISO time (e.g. 2026-12-01T02:00:00Z); default: now.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bars.")

    def handle(self, *args, **options):
        now = timezone.now()
        if options["now"]:
            parsed = parse_datetime(options["now"])
            if parsed is None:
                raise CommandError(f"--now: '{options['now']}' is not an ISO date-time.")
            now = parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, timezone=datetime.UTC)
        bars = []

        def progress(label: str, total: int):
            bar = tqdm(
                total=total,
                desc=f"{label:>18}",
                unit="item",
                disable=options["no_progress"] or total == 0,
                file=self.stderr._out,
            )
            bars.append(bar)
            return lambda: bar.update(1)

        report = run_billing_cycle(now=now, progress=progress)
        for bar in bars:
            bar.close()
        self.stdout.write(self.style.SUCCESS(f"Billing cycle as of {now:%Y-%m-%d %H:%M:%S} UTC"))
        for key, value in report.as_dict().items():
            if key != "errors":
                self.stdout.write(f"  {key.replace('_', ' ')}: {value}")
        for error in report.errors:
            self.stderr.write(self.style.ERROR(f"  {error}"))
        if report.errors:
            raise CommandError(f"{len(report.errors)} item(s) failed; they will be retried on the next run.")
