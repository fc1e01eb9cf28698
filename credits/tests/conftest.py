"""Fixtures for the credit tests: an organization, its people by role, API-key clients."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from accounts.services import token_pair_for
from accounts.tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from apikeys.models import Mode, Scope
from apikeys.services import apikey_create
from credits.models import CreditBalance, CreditLedgerEntry, CreditLot
from invoices.models import Invoice
from organizations.models import Organization, Role

BALANCE = "/api/v1/credits/balance"
TRANSACTIONS = "/api/v1/credits/transactions"
SPEND = "/api/v1/credits/spend"


def assert_ok(response, status: int = 200):
    """The success envelope with `status`; returns its `data`."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is True
    return body["data"]


def assert_error(response, status: int, code: str) -> dict:
    """The error envelope with `status` and `error.code`; returns the body."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body


def people_client(user, organization=None) -> APIClient:
    """A client signed in as `user`, acting on `organization` (an Organization or an id,
    sent as X-Current-Org) when given."""
    client = APIClient()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token_pair_for(user).token}"}
    if organization is not None:
        headers["HTTP_X_CURRENT_ORG"] = str(getattr(organization, "pk", organization))
    client.credentials(**headers)
    return client


def service_client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def new_key(organization: Organization, *, scopes=(Scope.CREDITS_WRITE,), mode: str = Mode.LIVE) -> str:
    """A new API key of `organization`; returns its secret."""
    _, secret = apikey_create(
        organization=organization, created_by=None, name=f"{mode} key", scopes=list(scopes), mode=mode
    )
    return secret


def member_of(organization: Organization, role: str):
    user = UserFactory()
    MembershipFactory(organization=organization, user=user, role=role)
    return user


def new_invoice(organization: Organization, **fields) -> Invoice:
    return Invoice.objects.create(organization=organization, **{"currency": organization.currency, **fields})


def ledger_sum(organization: Organization) -> int:
    return sum(CreditLedgerEntry.objects.filter(organization=organization).values_list("amount_cents", flat=True))


def stored_balance(organization: Organization) -> int | None:
    return CreditBalance.objects.filter(pk=organization.pk).values_list("balance_cents", flat=True).first()


def lots_remaining(organization: Organization) -> int:
    return sum(CreditLot.objects.filter(organization=organization).values_list("remaining_cents", flat=True))


def assert_consistent(organization: Organization) -> int:
    """Cached balance == ledger sum == last balance_after == lots remaining, >= 0, and the
    sequence has no gaps. Returns the balance."""
    entries = list(CreditLedgerEntry.objects.filter(organization=organization).order_by("sequence"))
    balance = stored_balance(organization) or 0
    total = sum(entry.amount_cents for entry in entries)
    assert balance == total
    assert balance >= 0
    if entries:
        assert entries[-1].balance_after_cents == balance
        assert [entry.sequence for entry in entries] == list(range(1, len(entries) + 1))
        running = 0
        for entry in entries:
            running += entry.amount_cents
            assert entry.balance_after_cents == running
    assert lots_remaining(organization) == balance
    return balance


@dataclass
class Service:
    org: Organization
    secret: str
    client: APIClient

    def spend(self, amount_cents=100, reference="job-1", idempotency_key="k-1", **extra):
        body = {"amount_cents": amount_cents, "reference": reference, "idempotency_key": idempotency_key, **extra}
        return self.client.post(SPEND, body, format="json")


@pytest.fixture
def org(db) -> Organization:
    return OrganizationFactory(name="Prepaid Inc", currency="USD")


@pytest.fixture
def other_org(db) -> Organization:
    return OrganizationFactory(name="Someone Else Ltd", currency="EUR")


@pytest.fixture
def owner(org):
    return member_of(org, Role.OWNER)


@pytest.fixture
def people(owner, org) -> APIClient:
    """The owner of `org`, signed in, acting on `org`."""
    return people_client(owner, org)


@pytest.fixture
def service(org) -> Service:
    """A live key of `org` with the credits:write scope."""
    secret = new_key(org)
    return Service(org=org, secret=secret, client=service_client(secret))
