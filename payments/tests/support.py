"""Fixtures and helpers shared by the payments, webhooks and idempotency tests.

Each of those apps' conftest imports the fixtures from here, so the three suites build
the same world: the demo `pro` (29.99/month) and `team` (99.99/month) plans without a
trial, an organization with a member of each role (each with a signed-in client acting
on it), and the sandbox gateway reached through its pages and its signed webhook.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from accounts.services import token_pair_for
from accounts.tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from billing_project.testing import assert_error, assert_ok  # noqa: F401 - re-exported
from invoices.models import Invoice
from organizations.models import Organization, Role
from payments.gateways import sandbox
from payments.models import Payment
from plans.demo import demo_catalogue_ensure
from plans.models import Plan
from subscriptions.models import Status, Subscription
from subscriptions.services import subscription_create, subscription_payment_method_save

ROLES = (Role.OWNER, Role.ADMIN, Role.BILLING, Role.MEMBER)

SUCCESS_URL = "http://localhost:3000/billing/success"
CANCEL_URL = "http://localhost:3000/billing/cancel"
RETURN_URL = "http://localhost:3000/settings/billing"

CHECKOUT = "/api/v1/checkout/create"
CHECKOUT_SUCCESS = "/api/v1/checkout/success"
PORTAL = "/api/v1/billing/portal"
CANCEL = "/api/v1/subscriptions/cancel"
REACTIVATE = "/api/v1/subscriptions/reactivate"
UPGRADE = "/api/v1/subscriptions/upgrade"
PAYMENT_METHOD = "/api/v1/subscriptions/payment-method"
CREDITS_PURCHASE = "/api/v1/credits/purchase"
CREDITS_BALANCE = "/api/v1/credits/balance"
WEBHOOK = "/webhooks/sandbox"

PRO_PRICE_CENTS = 2999
TEAM_PRICE_CENTS = 9999


def pay_url(invoice) -> str:
    return f"/api/v1/invoices/{invoice.pk}/pay"


# --- envelopes -------------------------------------------------------------------------


# --- clients ---------------------------------------------------------------------------


def people_client(user, organization: Organization | None = None) -> APIClient:
    """A client signed in as `user`, acting on `organization` (X-Current-Org) when given."""
    client = APIClient()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token_pair_for(user).token}"}
    if organization is not None:
        headers["HTTP_X_CURRENT_ORG"] = str(organization.pk)
    client.credentials(**headers)
    client.user = user
    return client


@dataclass
class Team:
    """An organization with one member of each role; `client(role)` signs in as them."""

    org: Organization
    users: dict = field(default_factory=dict)

    def client(self, role: str = Role.OWNER) -> APIClient:
        return people_client(self.users[role], self.org)

    @property
    def owner(self) -> APIClient:
        return self.client(Role.OWNER)


def new_team(name: str = "Dial Tone Ltd") -> Team:
    team = Team(org=OrganizationFactory(name=name))
    for role in ROLES:
        member = UserFactory()
        MembershipFactory(organization=team.org, user=member, role=role)
        team.users[role] = member
    return team


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


# --- domain set-ups --------------------------------------------------------------------


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def cycle(now: datetime, capture) -> None:
    """One billing cycle run at `now`, its on-commit tasks (charges, pay links, emails) run;
    `capture` is pytest-django's django_capture_on_commit_callbacks."""
    from billing.cycle import run_billing_cycle

    with capture(execute=True):
        report = run_billing_cycle(now=now)
    assert not report.errors, report.errors


def paid_plans() -> tuple[Plan, Plan]:
    """The demo `pro` and `team` plans, without their trial (paid at checkout)."""
    demo_catalogue_ensure()
    Plan.objects.filter(code__in=["pro", "team"]).update(trial_days=0)
    return Plan.objects.get(code="pro"), Plan.objects.get(code="team")


def subscribe(
    organization: Organization, plan: Plan, start=None, *, payment_method: str = sandbox.PM_OK
) -> Subscription:
    """An active subscription (as after a paid checkout) with a saved sandbox method."""
    subscription = subscription_create(
        organization=organization, plan=plan, start=start, status=Status.ACTIVE, trial_days=0, gateway="sandbox"
    )
    if payment_method:
        subscription = subscription_payment_method_save(
            subscription=subscription, gateway="sandbox", payment_method=payment_method
        )
    return subscription


def start_checkout(client: APIClient, plan: Plan, **overrides) -> dict:
    body = {"plan_id": str(plan.pk), "success_url": SUCCESS_URL, "cancel_url": CANCEL_URL, **overrides}
    return assert_ok(client.post(CHECKOUT, body, format="json"))


def counts(organization: Organization) -> dict[str, int]:
    """What billing actions create, counted for one organization."""
    return {
        "subscriptions": Subscription.objects.filter(organization=organization).count(),
        "invoices": Invoice.objects.filter(organization=organization).count(),
        "payments": Payment.objects.filter(organization=organization).count(),
    }


# --- fixtures --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Rendered PDFs go to a temporary directory, never to the project's media/."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def pro(db) -> Plan:
    return paid_plans()[0]


@pytest.fixture
def team_plan(db) -> Plan:
    return paid_plans()[1]


@pytest.fixture
def team(db) -> Team:
    return new_team()


@pytest.fixture
def org(team) -> Organization:
    return team.org


@pytest.fixture
def owner(team) -> APIClient:
    """The team's owner, signed in, acting on the team's organization."""
    return team.owner


@pytest.fixture
def other_team(db) -> Team:
    return new_team("Someone Else Ltd")


@pytest.fixture
def staff_browser(db) -> Client:
    """A browser signed in to the admin as a superuser."""
    from accounts.models import User

    admin = User.objects.create_superuser(email="staff@example.com", password="Adm1n-password-x")
    browser = Client()
    browser.force_login(admin)
    return browser
