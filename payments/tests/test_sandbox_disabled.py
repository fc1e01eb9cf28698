"""A deployment without the sandbox gateway (SANDBOX_GATEWAY_ENABLED off, as in production):
the gateways say which of them are configured, and a DEFAULT_GATEWAY naming the disabled
sandbox stops the server at its system checks. What this means for checkout and collection
is billing/tests/test_sandbox_disabled.py; for the sandbox's page and webhook,
webhooks/tests/test_sandbox_disabled.py. `sandbox_off` is a fixture of payments.tests.fixtures."""

from __future__ import annotations

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from payments.gateways import gateway_names, get_gateway, sandbox

pytestmark = pytest.mark.django_db


# --- which gateways are configured ---------------------------------------------------------


def test_the_disabled_sandbox_does_not_say_it_is_configured(sandbox_off):
    assert sandbox.SandboxGateway().is_configured() is False
    assert sandbox_off.DEFAULT_GATEWAY in gateway_names()
    assert get_gateway().name == sandbox_off.DEFAULT_GATEWAY


def test_every_gateway_without_keys_says_it_is_not_configured(settings):
    settings.SANDBOX_GATEWAY_ENABLED = False
    settings.STRIPE_SECRET_KEY = settings.XENDIT_SECRET_KEY = settings.MIDTRANS_SERVER_KEY = ""

    from payments.gateways import _registry

    assert {name: cls().is_configured() for name, cls in _registry().items()} == dict.fromkeys(gateway_names(), False)


# --- the system check ---------------------------------------------------------------------------


def payment_check_errors() -> list[str]:
    return [message.id for message in checks.run_checks() if message.level >= checks.ERROR]


def test_a_default_gateway_on_the_disabled_sandbox_fails_the_system_checks(settings):
    settings.DEBUG = False
    settings.SANDBOX_GATEWAY_ENABLED = False
    settings.DEFAULT_GATEWAY = "sandbox"

    assert "payments.E001" in payment_check_errors()
    with pytest.raises(SystemCheckError, match="DEFAULT_GATEWAY"):
        call_command("check")


def test_a_default_gateway_nobody_registered_fails_the_system_checks(settings):
    settings.DEFAULT_GATEWAY = "freebies"

    assert "payments.E002" in payment_check_errors()


def test_the_enabled_sandbox_as_default_passes_the_system_checks(settings):
    settings.SANDBOX_GATEWAY_ENABLED = True
    settings.DEFAULT_GATEWAY = "sandbox"

    assert not {"payments.E001", "payments.E002"} & set(payment_check_errors())


def test_the_deploy_checks_warn_about_the_sandbox_left_on_without_debug(settings):
    settings.DEBUG = False
    settings.SANDBOX_GATEWAY_ENABLED = True

    warnings = [message.id for message in checks.run_checks(include_deployment_checks=True)]

    assert "payments.W001" in warnings
