from django.core.management.base import BaseCommand

from usage.services import quota_counters_reconcile


class Command(BaseCommand):
    help = "Rebuild the Redis quota counters of the current period from the daily usage rollups."

    def handle(self, *args, **options):
        count = quota_counters_reconcile()
        self.stdout.write(self.style.SUCCESS(f"Rebuilt {count} quota counters."))
