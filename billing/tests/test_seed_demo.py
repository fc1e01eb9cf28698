"""`manage.py seed_demo`: idempotent demo data whose logins work; never known passwords
without DEBUG."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import User
from accounts.tests.helpers import login
from billing.management.commands.seed_demo import DEMO_EMAIL, DEMO_PASSWORD, STAFF_EMAIL, STAFF_PASSWORD
from organizations.models import Organization

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def debug_on(settings):
    """`make run` seeds with DEBUG on; the tests of production ask for `debug_off`."""
    settings.DEBUG = True


@pytest.fixture
def debug_off(settings, debug_on):
    settings.DEBUG = False


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
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


def test_seed_demo_refuses_without_debug_and_creates_nothing(debug_off):
    with pytest.raises(CommandError, match="--i-know"):
        seed()

    assert not User.objects.exists()


def test_seed_demo_without_debug_exits_non_zero_from_the_command_line(debug_off, capsys):
    from django.core.management import execute_from_command_line

    with pytest.raises(SystemExit) as exited:
        execute_from_command_line(["manage.py", "seed_demo"])

    assert exited.value.code != 0
    assert "DEBUG" in capsys.readouterr().err


def test_seed_demo_with_i_know_and_no_debug_uses_random_passwords_printed_once(debug_off, api_client):
    output = seed("--i-know")

    assert DEMO_PASSWORD not in output and STAFF_PASSWORD not in output
    staff = User.objects.get(email=STAFF_EMAIL)
    assert not staff.check_password(STAFF_PASSWORD)
    assert not User.objects.get(email=DEMO_EMAIL).check_password(DEMO_PASSWORD)
    printed = {line.split()[2]: line.split()[4] for line in output.splitlines() if "login:" in line}
    assert staff.check_password(printed[STAFF_EMAIL])
    assert login(api_client, DEMO_EMAIL, printed[DEMO_EMAIL]).status_code == 200

    again = seed("--i-know")

    assert printed[STAFF_EMAIL] not in again and printed[DEMO_EMAIL] not in again
    assert "password unchanged" in again
