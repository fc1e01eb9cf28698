"""The gateway test fixtures every suite may use, a pytest plugin the root conftest.py
registers (`pytest_plugins`), so the payments, billing and webhooks tests reach them alike:

- `fake_stripe`, `fake_xendit`, `fake_midtrans`: each gateway's fake API on loopback, with
  the settings (keys, API hosts) pointing at it (payments.tests.fake_*);
- `stripe_ready`: the fake Stripe with its keys and webhook secret brought into dj-stripe
  by `manage.py stripe_setup`;
- `sandbox_off`: a deployment without the sandbox (SANDBOX_GATEWAY_ENABLED off), another
  gateway the default; parametrized over Stripe and Xendit.
"""

from __future__ import annotations

import os

import pytest
from django.core.management import call_command

from payments.tests.fake_midtrans import fake_midtrans_fixture  # noqa: F401 - the `fake_midtrans` fixture
from payments.tests.fake_stripe import fake_stripe_fixture  # noqa: F401 - the `fake_stripe` fixture
from payments.tests.fake_xendit import fake_xendit_fixture  # noqa: F401 - the `fake_xendit` fixture

# Keys of the other gateways that no test with the sandbox off ever calls.
UNCALLED_KEYS = {
    "stripe": {"STRIPE_SECRET_KEY": "sk_test_notarealkey000000000000000000"},
    "xendit": {"XENDIT_SECRET_KEY": "xnd_development_notarealkey", "XENDIT_CALLBACK_TOKEN": "not-a-real-token"},
}


@pytest.fixture
def stripe_ready(fake_stripe):
    """Keys and the webhook secret brought into dj-stripe by `manage.py stripe_setup`."""
    with open(os.devnull, "w") as quiet:
        call_command("stripe_setup", stdout=quiet)
    return fake_stripe


@pytest.fixture(params=sorted(UNCALLED_KEYS))
def sandbox_off(request, settings):
    """The sandbox off, another gateway (with keys that are never called) the default."""
    settings.SANDBOX_GATEWAY_ENABLED = False
    settings.DEFAULT_GATEWAY = request.param
    for name, value in UNCALLED_KEYS[request.param].items():
        setattr(settings, name, value)
    return settings
