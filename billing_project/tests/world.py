"""The test world every suite shares, built on the apps' factories: people signed in to
an organization, a team with one member of each role, API keys, the demo catalogue's paid
plans, subscriptions, and a customer who goes through the public API end to end.

The root conftest.py serves it as fixtures (`team`, `org`, `other_team`, `demo`, `pro`,
`team_plan`, `free_plan`, `customer`, `staff`, `staff_client`, `clock`, `media_in_tmp`);
tests that build more than one world, or build it after the clock travelled, call these
functions.

It lives in a tests package: the import contracts (.importlinter) let tests reach every
app, and the kernel's own modules (billing_project.testing) reach none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlparse

from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import token_pair_for
from accounts.tests.factories import UserFactory
from apikeys.tests.factories import APIKeyFactory
from billing_project.testing import assert_ok
from organizations.models import Organization, Role
from organizations.tests.factories import MembershipFactory, OrganizationFactory
from plans.catalogue import invalidate as catalogue_invalidate
from plans.demo import demo_catalogue_ensure
from plans.models import Plan
from subscriptions.models import Status, Subscription
from subscriptions.tests.factories import SubscriptionFactory

ROLES = (Role.OWNER, Role.ADMIN, Role.BILLING, Role.MEMBER)

REPORT = "/api/v1/usage/report"
CHECKOUT = "/api/v1/checkout/create"
UPGRADE = "/api/v1/subscriptions/upgrade"
CANCEL = "/api/v1/subscriptions/cancel"
REACTIVATE = "/api/v1/subscriptions/reactivate"
PAYMENT_METHOD = "/api/v1/subscriptions/payment-method"

# What the demo telephony metrics are reported as.
EVENT_TYPES = {"call_minutes": "call_completed", "sms": "sms_sent", "api_calls": "telephony_api_request"}

PRO_PRICE_CENTS = 2999
TEAM_PRICE_CENTS = 9999


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def iso(moment: datetime) -> str:
    """To the second, as the API writes moments."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- people and keys ---------------------------------------------------------------------


def people_client(user, organization=None) -> APIClient:
    """A client signed in as `user` (a token minted now), acting on `organization` (an
    Organization or an id, sent as X-Current-Org) when given."""
    client = APIClient()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token_pair_for(user).token}"}
    if organization is not None:
        headers["HTTP_X_CURRENT_ORG"] = str(getattr(organization, "pk", organization))
    client.credentials(**headers)
    client.user = user
    return client


def service_client(secret: str) -> APIClient:
    """A client that sends an API key."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def staff_client(user: User | None = None) -> Client:
    """A browser signed in to the admin now as `user` (default: a new superuser). Make it
    after the clock travelled: a session from before may have expired."""
    client = Client()
    client.force_login(user or UserFactory(is_staff=True, is_superuser=True))
    return client


def member_of(organization: Organization, role: str = Role.MEMBER) -> User:
    """A new user (with a personal organization) who is a `role` of `organization`."""
    return MembershipFactory(organization=organization, role=role).user


@dataclass
class Team:
    """An organization whose members are `users[role]`, one of each role (each also owns
    a personal organization). `clients[role]` is each signed in when the team was made,
    without naming an organization; `client(role)` signs one in now, acting on the team."""

    org: Organization
    users: dict[str, User] = field(default_factory=dict)
    clients: dict[str, APIClient] = field(default_factory=dict)

    def client(self, role: str = Role.OWNER) -> APIClient:
        return people_client(self.users[role], self.org)

    @property
    def owner(self) -> APIClient:
        """The owner, signed in now, acting on the team."""
        return self.client(Role.OWNER)

    def url(self, suffix: str = "") -> str:
        return f"/api/v1/orgs/{self.org.id}{suffix}"


def new_team(name: str = "Acme Team", **organization_fields) -> Team:
    team = Team(org=OrganizationFactory(name=name, **organization_fields))
    for role in ROLES:
        member = member_of(team.org, role)
        team.users[role] = member
        team.clients[role] = people_client(member)
    return team


# --- plans and subscriptions --------------------------------------------------------------


def paid_plans() -> tuple[Plan, Plan]:
    """The demo catalogue (plans.demo: its telephony metrics, `pro` at $29.99 and `team`
    at $99.99 a month) with both plans' trials taken off, so checkout takes the first
    payment; returns (pro, team)."""
    demo_catalogue_ensure()
    plans_trial_days(0)
    return Plan.objects.get(code="pro"), Plan.objects.get(code="team")


def plans_trial_days(days: int) -> None:
    """Set the demo plans' trial days (what checkout starts with)."""
    Plan.objects.filter(code__in=["pro", "team"]).update(trial_days=days)
    catalogue_invalidate()


def subscribe(
    organization: Organization,
    plan: Plan,
    start: datetime | None = None,
    *,
    trial_days: int | None = 0,
    status: str = Status.ACTIVE,
    gateway: str = "",
    payment_method: str = "",
) -> Subscription:
    """A subscription as after a paid checkout (active, no trial unless asked), from
    `start` (default now); with a `payment_method` saved on `gateway` (default the
    sandbox) for renewals to charge."""
    return SubscriptionFactory(
        organization=organization,
        plan=plan,
        start=start,
        trial_days=trial_days,
        status=status,
        gateway=gateway,
        payment_method=payment_method,
    )


# --- a customer of the public API ---------------------------------------------------------


@dataclass
class Customer:
    """An organization with an owner and a live API key, acting through the API."""

    organization: Organization
    owner: User
    api_key: str
    subscription_id: object = None

    def client(self) -> APIClient:
        """The owner acting on the organization (a token minted at the current, travelled, time)."""
        return people_client(self.owner, self.organization)

    def service(self) -> APIClient:
        return service_client(self.api_key)

    @property
    def subscription(self) -> Subscription:
        return Subscription.objects.select_related("plan", "scheduled_plan").get(
            organization=self.organization, pk=self.subscription_id
        )

    def report(self, metric_code: str, at: datetime, quantity: int = 1):
        """POST /usage/report one event of `metric_code` dated `at` (the response)."""
        body = {"event_type": EVENT_TYPES[metric_code], "quantity": quantity, "timestamp": iso(at)}
        return self.service().post(REPORT, body, format="json")

    def report_ok(self, metric_code: str, at: datetime, quantity: int = 1) -> None:
        assert_ok(self.report(metric_code, at, quantity), 201)

    def subscribe(self, plan_code: str) -> dict:
        """Checkout through the API and pay on the sandbox page (a plan without trial days),
        or start the trial; returns the checkout data."""
        plan = Plan.objects.get(code=plan_code)
        data = assert_ok(
            self.client().post(
                CHECKOUT,
                {
                    "plan_id": str(plan.pk),
                    "success_url": "http://localhost/done",
                    "cancel_url": "http://localhost/cancel",
                },
                format="json",
            )
        )
        self.subscription_id = data["subscription_id"]
        if data["status"] == "incomplete":
            pay_on_sandbox_page(self.client(), data["checkout_url"])
        return data

    def set_payment_method(self, payment_method: str) -> None:
        assert_ok(self.client().put(PAYMENT_METHOD, {"payment_method_id": payment_method}, format="json"))

    def change_plan(self, plan_code: str, *, prorate: bool) -> dict:
        plan = Plan.objects.get(code=plan_code)
        return assert_ok(self.client().put(UPGRADE, {"new_plan_id": str(plan.pk), "prorate": prorate}, format="json"))

    def cancel(self) -> dict:
        return assert_ok(self.client().post(CANCEL, {}, format="json"))

    def reactivate(self) -> dict:
        return assert_ok(self.client().post(REACTIVATE, format="json"))

    def pay_by_link(self, invoice) -> None:
        data = assert_ok(self.client().post(f"/api/v1/invoices/{invoice.pk}/pay", format="json"))
        pay_on_sandbox_page(self.client(), data["payment_intent_url"])


def pay_on_sandbox_page(client: APIClient, url: str) -> None:
    """Click Pay on the sandbox gateway's hosted page."""
    path = urlparse(url).path
    assert client.get(path).status_code == 200
    response = client.post(path, {"action": "pay"})
    assert response.status_code == 302, response.content


def customer_create() -> Customer:
    """A new organization with an owner and a live key for usage reports."""
    owner = UserFactory()
    organization = OrganizationFactory()
    MembershipFactory(organization=organization, user=owner, role=Role.OWNER)
    key = APIKeyFactory(
        organization=organization, created_by=owner, name="backend", scopes=["usage:write", "usage:read"]
    )
    return Customer(organization=organization, owner=owner, api_key=key.secret)
