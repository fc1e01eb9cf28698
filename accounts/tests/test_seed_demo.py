"""`manage.py seed_demo`: idempotent demo data whose logins work."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from accounts.management.commands.seed_demo import DEMO_EMAIL, DEMO_PASSWORD, STAFF_EMAIL, STAFF_PASSWORD
from accounts.models import User
from accounts.tests.helpers import login
from organizations.models import Organization

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_is_idempotent():
    seed()
    users = {user.email: (user.pk, user.password) for user in User.objects.all()}
    organizations = set(Organization.objects.values_list("pk", flat=True))

    seed()

    assert {user.email: (user.pk, user.password) for user in User.objects.all()} == users
    assert set(Organization.objects.values_list("pk", flat=True)) == organizations
    assert set(users) == {DEMO_EMAIL, STAFF_EMAIL}
    assert len(organizations) == 2


def test_seed_demo_makes_a_staff_user_and_a_plain_customer():
    seed()

    staff, demo = User.objects.get(email=STAFF_EMAIL), User.objects.get(email=DEMO_EMAIL)
    assert staff.is_staff and staff.is_superuser
    assert not demo.is_staff and not demo.is_superuser


@pytest.mark.parametrize(("email", "password"), [(DEMO_EMAIL, DEMO_PASSWORD), (STAFF_EMAIL, STAFF_PASSWORD)])
def test_seeded_users_can_log_in(api_client, email, password):
    seed()
    seed()

    assert login(api_client, email, password).status_code == 200


def test_seed_demo_prints_the_logins():
    output = seed()

    assert DEMO_EMAIL in output and STAFF_EMAIL in output
