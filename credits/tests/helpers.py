"""URLs, assertions and ledger checks shared by the credit tests. People, keys and
invoices come from the shared world and the factories."""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework.test import APIClient

from apikeys.models import Mode, Scope
from apikeys.tests.factories import APIKeyFactory
from billing_project.testing import assert_ok  # noqa: F401 - re-exported
from billing_project.tests.world import member_of, people_client, service_client  # noqa: F401 - re-exported
from credits.models import CreditBalance, CreditLedgerEntry, CreditLot
from invoices.models import Invoice
from invoices.tests.factories import InvoiceFactory
from organizations.models import Organization

BALANCE = "/api/v1/credits/balance"
TRANSACTIONS = "/api/v1/credits/transactions"
SPEND = "/api/v1/credits/spend"


def assert_error(response, status: int, code: str) -> dict:
    """The error envelope with `status` and `error.code`; returns the whole body."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body


def new_key(organization: Organization, *, scopes=(Scope.CREDITS_WRITE,), mode: str = Mode.LIVE) -> str:
    """A new API key of `organization` (credits:write by default); returns its secret."""
    return APIKeyFactory(organization=organization, scopes=list(scopes), mode=mode).secret


def new_invoice(organization: Organization, **fields) -> Invoice:
    """An empty manual draft of `organization` (in its currency unless given)."""
    return InvoiceFactory(organization=organization, **fields)


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
