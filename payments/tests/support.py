"""The sandbox gateway and the billing API's paths, for the payments, billing, webhooks and
idempotency tests: the URLs checkout redirects to, the endpoints, the sandbox's hosted page
and its signed webhook, and a few set-ups that go through them.

The world itself (people, teams, the demo's paid plans, subscriptions, a customer) is the
shared one: billing_project.tests.world, served as fixtures by the root conftest.py. The
fake gateway servers and gateway settings are fixtures of payments.tests.fixtures.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from billing.cycle import run_billing_cycle
from billing_project.testing import assert_error, assert_ok  # noqa: F401 - re-exported
from billing_project.tests import world
from billing_project.tests.world import (  # noqa: F401 - re-exported: the paths and prices
    CANCEL,
    CHECKOUT,
    PAYMENT_METHOD,
    PRO_PRICE_CENTS,
    REACTIVATE,
    TEAM_PRICE_CENTS,
    UPGRADE,
)
from credits.models import CreditLedgerEntry
from invoices.models import Invoice
from organizations.models import Organization
from payments.gateways import sandbox
from payments.models import Payment
from plans.models import Plan
from subscriptions.models import Subscription

SUCCESS_URL = "http://localhost:3000/billing/success"
CANCEL_URL = "http://localhost:3000/billing/cancel"
RETURN_URL = "http://localhost:3000/settings/billing"

CHECKOUT_SUCCESS = "/api/v1/checkout/success"
PORTAL = "/api/v1/billing/portal"
CREDITS_PURCHASE = "/api/v1/credits/purchase"
CREDITS_BALANCE = "/api/v1/credits/balance"
WEBHOOK = "/webhooks/sandbox"


def pay_url(invoice) -> str:
    return f"/api/v1/invoices/{invoice.pk}/pay"


# --- the sandbox gateway ---------------------------------------------------------------


def site_path(url: str) -> str:
    """The path of an absolute URL of this site (the test client speaks paths)."""
    assert url.startswith(settings.SITE_URL + "/"), url
    return url[len(settings.SITE_URL) :]


def sandbox_page(url: str):
    """GET the sandbox gateway's hosted page as a browser would."""
    return Client().get(site_path(url))


def sandbox_press(url: str, action: str):
    """Press Pay (`pay`) or Decline (`decline`) on the sandbox page at `url`."""
    return Client().post(site_path(url), {"action": action})


def signed_event(event_type: str, *, timestamp: int | None = None, **data) -> tuple[bytes, str]:
    """A sandbox event body and its signature header, as the gateway would send them."""
    body = sandbox.event_body(event_type, **data)
    return body, sandbox.sign(body, timestamp)


def post_webhook(body: bytes, signature: str | None, gateway: str = "sandbox"):
    headers = {} if signature is None else {"HTTP_X_SANDBOX_SIGNATURE": signature}
    return Client().post(f"/webhooks/{gateway}", data=body, content_type="application/json", **headers)


def success_event_for(payment: Payment, **overrides) -> tuple[bytes, str]:
    data = {
        "payment_reference": payment.reference,
        "amount_cents": payment.amount_cents,
        "currency": payment.currency,
        "payment_method": sandbox.PM_OK,
        **overrides,
    }
    return signed_event("payment.succeeded", **data)


# --- set-ups through the sandbox ---------------------------------------------------------


def subscribe(
    organization: Organization,
    plan: Plan,
    start: datetime | None = None,
    *,
    payment_method: str = sandbox.PM_OK,
    gateway: str = "sandbox",
    **fields,
) -> Subscription:
    """world.subscribe on the sandbox: an active subscription (as after a paid checkout)
    with the sandbox's good card saved (`payment_method=""`: none saved)."""
    return world.subscribe(organization, plan, start, payment_method=payment_method, gateway=gateway, **fields)


def start_checkout(client: APIClient, plan: Plan, **overrides) -> dict:
    body = {"plan_id": str(plan.pk), "success_url": SUCCESS_URL, "cancel_url": CANCEL_URL, **overrides}
    return assert_ok(client.post(CHECKOUT, body, format="json"))


def cycle(now: datetime, capture) -> None:
    """One billing cycle run at `now`, its on-commit tasks (charges, pay links, emails) run;
    `capture` is pytest-django's django_capture_on_commit_callbacks."""
    with capture(execute=True):
        report = run_billing_cycle(now=now)
    assert not report.errors, report.errors


def counts(organization: Organization) -> dict[str, int]:
    """What billing actions create, counted for one organization."""
    return {
        "subscriptions": Subscription.objects.filter(organization=organization).count(),
        "invoices": Invoice.objects.filter(organization=organization).count(),
        "payments": Payment.objects.filter(organization=organization).count(),
    }


def stored(organization: Organization) -> dict[str, int]:
    """`counts` and the organization's credit-ledger entries."""
    return {
        **counts(organization),
        "credit entries": CreditLedgerEntry.objects.filter(organization=organization).count(),
    }
