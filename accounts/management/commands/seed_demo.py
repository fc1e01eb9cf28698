"""Load demo data. Idempotent: running it again changes nothing that is already there."""

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User
from accounts.services import user_register
from plans.demo import demo_catalogue_ensure

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-pass-2026"
STAFF_EMAIL = "admin@example.com"
STAFF_PASSWORD = "admin-pass-2026"


class Command(BaseCommand):
    help = "Create the demo plans, the demo customer and a staff user (idempotent); print the logins."

    @transaction.atomic
    def handle(self, *args, **options):
        demo_catalogue_ensure()
        if not User.objects.filter(email=DEMO_EMAIL).exists():
            user_register(email=DEMO_EMAIL, password=DEMO_PASSWORD, name="Demo Customer", company="Demo Inc")
        if not User.objects.filter(email=STAFF_EMAIL).exists():
            staff = user_register(email=STAFF_EMAIL, password=STAFF_PASSWORD, name="Staff Admin")
            staff.is_staff = True
            staff.is_superuser = True
            staff.save(update_fields=["is_staff", "is_superuser"])
        self.stdout.write(
            self.style.SUCCESS("Demo data ready.\n")
            + f"  Demo login:  {DEMO_EMAIL} / {DEMO_PASSWORD}\n"
            + f"  Staff login: {STAFF_EMAIL} / {STAFF_PASSWORD}  (admin at /admin/)"
        )
