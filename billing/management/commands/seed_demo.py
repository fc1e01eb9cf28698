"""Load demo data. Idempotent: running it again changes nothing that is already there.

The demo logins have passwords written in this repository, so they are made only for local
development (DEBUG on, as `make run` has it). With DEBUG off the command refuses, unless it
is told `--i-know`: then each login it creates gets a random password, printed once.
"""

import secrets

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import User
from billing.accounts import account_register
from plans.demo import demo_catalogue_ensure

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-pass-2026"
STAFF_EMAIL = "admin@example.com"
STAFF_PASSWORD = "admin-pass-2026"


def _random_password() -> str:
    """24 URL-safe random characters with a letter and a digit (the password validators)."""
    while True:
        password = secrets.token_urlsafe(18)
        if any(char.isdigit() for char in password) and any(char.isalpha() for char in password):
            return password


class Command(BaseCommand):
    help = (
        "Create the demo plans, the demo customer and a staff user (idempotent); print the logins. "
        "Only with DEBUG on, unless --i-know (then with random passwords)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--i-know",
            action="store_true",
            dest="i_know",
            help="Run with DEBUG off: the logins it creates get random passwords, printed once.",
        )

    def handle(self, *args, **options):
        if not settings.DEBUG and not options["i_know"]:
            raise CommandError(
                "seed_demo creates a superuser and a customer login; it runs with DEBUG on only "
                "(as `make run` does). To seed anyway, with random passwords printed once, pass --i-know."
            )
        with transaction.atomic():
            demo_catalogue_ensure()
            demo = self._login(DEMO_EMAIL, DEMO_PASSWORD, name="Demo Customer", company="Demo Inc")
            staff = self._login(STAFF_EMAIL, STAFF_PASSWORD, name="Staff Admin", is_staff=True)
        self.stdout.write(
            self.style.SUCCESS("Demo data ready.\n")
            + f"  Demo login:  {DEMO_EMAIL} / {demo}\n"
            + f"  Staff login: {STAFF_EMAIL} / {staff}  (admin at /admin/)"
        )

    @staticmethod
    def _login(email: str, known_password: str, *, name: str, company: str = "", is_staff: bool = False) -> str:
        """Create the login when missing; what to print for its password."""
        existing = User.objects.filter(email=email).first()
        if existing is not None:
            if settings.DEBUG and existing.check_password(known_password):
                return known_password
            return "(exists; password unchanged)"
        password = known_password if settings.DEBUG else _random_password()
        user = account_register(email=email, password=password, name=name, company=company)
        if is_staff:
            user.is_staff = True
            user.is_superuser = True
            user.save(update_fields=["is_staff", "is_superuser"])
        return password
