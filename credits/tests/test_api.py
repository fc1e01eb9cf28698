"""GET /credits/balance, GET /credits/transactions (people) and POST /credits/spend (API key)."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from apikeys.models import Mode, Scope
from credits.models import CreditLedgerEntry
from credits.services import credits_apply_to_invoice, credits_grant, credits_purchase, credits_spend
from organizations.models import Role
from organizations.tests.factories import OrganizationFactory

from .helpers import (
    BALANCE,
    SPEND,
    TRANSACTIONS,
    assert_consistent,
    assert_error,
    assert_ok,
    member_of,
    new_invoice,
    new_key,
    people_client,
    service_client,
)

pytestmark = pytest.mark.django_db

PEOPLE_ENDPOINTS = [BALANCE, TRANSACTIONS]


def grant(org, amount=1000, **extra):
    return credits_grant(organization=org, amount_cents=amount, reason="Goodwill", **extra)


# --- GET /credits/balance --------------------------------------------------------------------


def test_balance_without_any_credit_is_zero_in_the_org_currency(people):
    assert assert_ok(people.get(BALANCE)) == {"balance_cents": 0, "currency": "USD"}


def test_balance_shows_the_current_balance(people, org):
    grant(org, 1500)
    credits_spend(organization=org, amount_cents=200, reference="job", idempotency_key="k")

    assert assert_ok(people.get(BALANCE)) == {"balance_cents": 1300, "currency": "USD"}


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.BILLING])
@pytest.mark.parametrize("url", PEOPLE_ENDPOINTS)
def test_billing_roles_may_read_credit(org, role, url):
    assert people_client(member_of(org, role), org).get(url).status_code == 200


@pytest.mark.parametrize("url", PEOPLE_ENDPOINTS)
def test_members_may_not_read_credit(org, url):
    assert_error(people_client(member_of(org, Role.MEMBER), org).get(url), 403, "permission_denied")


@pytest.mark.parametrize("url", PEOPLE_ENDPOINTS)
def test_another_organization_is_404(owner, other_org, url):
    grant(other_org)
    assert_error(people_client(owner, other_org).get(url), 404, "not_found")
    assert_error(people_client(owner, uuid.uuid4()).get(url), 404, "not_found")


@pytest.mark.parametrize("url", PEOPLE_ENDPOINTS)
def test_people_endpoints_need_a_user(api_client, url):
    assert_error(api_client.get(url), 401, "not_authenticated")


@pytest.mark.parametrize("url", PEOPLE_ENDPOINTS)
def test_people_endpoints_refuse_api_keys(service, url):
    assert service.client.get(url).status_code == 401


def test_without_x_current_org_the_personal_organization_answers(owner, org):
    personal = owner.organizations.get(is_personal=True)
    grant(personal, 77)
    grant(org, 5)
    assert assert_ok(people_client(owner).get(BALANCE))["balance_cents"] == 77


# --- GET /credits/transactions ---------------------------------------------------------------


def test_transactions_list_every_entry_newest_first(people, org):
    invoice = new_invoice(org)
    granted = grant(org, 1000, expires_at=datetime(2031, 1, 1, tzinfo=UTC))
    credits_spend(organization=org, amount_cents=300, reference="job-7", idempotency_key="k")
    credits_apply_to_invoice(organization=org, invoice=invoice, max_amount_cents=100, reference="fin")

    response = people.get(TRANSACTIONS)

    data = assert_ok(response)
    assert response.json()["meta"] == {"total": 3, "limit": 20, "offset": 0}
    assert [entry["type"] for entry in data] == ["invoice_application", "spend", "grant"]
    assert data[2] == {
        "id": str(granted.pk),
        "type": "grant",
        "amount_cents": 1000,
        "currency": "USD",
        "balance_after_cents": 1000,
        "reference": "",
        "description": "Goodwill",
        "invoice_id": None,
        "created_at": granted.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "expires_at": "2031-01-01T00:00:00Z",
    }
    assert data[1]["amount_cents"] == -300 and data[1]["reference"] == "job-7"
    assert data[0]["invoice_id"] == str(invoice.pk) and data[0]["balance_after_cents"] == 600


def test_transactions_filter_by_type(people, org):
    grant(org, 1000)
    credits_purchase(organization=org, amount_cents=500, reference="order")
    credits_spend(organization=org, amount_cents=1, reference="a", idempotency_key="a")
    credits_spend(organization=org, amount_cents=2, reference="b", idempotency_key="b")

    data = assert_ok(people.get(TRANSACTIONS, {"type": "spend"}))

    assert [entry["amount_cents"] for entry in data] == [-2, -1]


def test_transactions_filter_by_dates_inclusive(people, org):
    for day in (1, 2, 3, 4):
        with time_machine.travel(datetime(2030, 3, day, 23, 59, tzinfo=UTC), tick=False):
            grant(org, day)

    data = assert_ok(people.get(TRANSACTIONS, {"start_date": "2030-03-02", "end_date": "2030-03-03"}))
    assert [entry["amount_cents"] for entry in data] == [3, 2]
    assert [e["amount_cents"] for e in assert_ok(people.get(TRANSACTIONS, {"start_date": "2030-03-04"}))] == [4]
    assert [e["amount_cents"] for e in assert_ok(people.get(TRANSACTIONS, {"end_date": "2030-03-01"}))] == [1]


def test_transactions_sort_by_amount(people, org):
    grant(org, 500)
    grant(org, 100)
    credits_spend(organization=org, amount_cents=50, reference="a", idempotency_key="a")
    grant(org, 300)

    ascending = assert_ok(people.get(TRANSACTIONS, {"sort_by": "amount", "sort_order": "asc"}))
    descending = assert_ok(people.get(TRANSACTIONS, {"sort_by": "amount"}))

    assert [entry["amount_cents"] for entry in ascending] == [-50, 100, 300, 500]
    assert [entry["amount_cents"] for entry in descending] == [500, 300, 100, -50]


def test_transactions_sort_by_created_at_ascending(people, org):
    for amount in (5, 6, 7):
        grant(org, amount)
    data = assert_ok(people.get(TRANSACTIONS, {"sort_by": "created_at", "sort_order": "asc"}))
    assert [entry["amount_cents"] for entry in data] == [5, 6, 7]


def test_transactions_paginate(people, org):
    for amount in range(1, 26):
        grant(org, amount)

    response = people.get(TRANSACTIONS, {"limit": 10, "offset": 20, "sort_order": "asc"})

    data = assert_ok(response)
    assert response.json()["meta"] == {"total": 25, "limit": 10, "offset": 20}
    assert [entry["amount_cents"] for entry in data] == [21, 22, 23, 24, 25]
    limited = people.get(TRANSACTIONS, {"limit": 1000})
    assert limited.json()["meta"]["limit"] == 100


def test_transactions_show_only_the_current_organization(people, org, other_org):
    grant(org, 1)
    grant(other_org, 2)
    assert [entry["amount_cents"] for entry in assert_ok(people.get(TRANSACTIONS))] == [1]


@pytest.mark.parametrize(
    "query",
    [
        {"type": "gift"},
        {"start_date": "yesterday"},
        {"end_date": "2030-02-30"},
        {"start_date": "2030-03-05", "end_date": "2030-03-04"},
        {"sort_by": "reference"},
        {"sort_order": "up"},
    ],
)
def test_transactions_refuse_bad_filters(people, org, query):
    grant(org)
    body = assert_error(people.get(TRANSACTIONS, query), 400, "validation_error")
    assert set(body["error"]["details"]) <= {"type", "start_date", "end_date", "sort_by", "sort_order"}


# --- POST /credits/spend ---------------------------------------------------------------------


def test_spend_takes_credit(service, org):
    grant(org, 1000)

    data = assert_ok(service.spend(amount_cents=250, reference="job-1", idempotency_key="k-1"))

    assert data == {"balance_cents": 750, "duplicate": False}
    entry = CreditLedgerEntry.objects.get(kind="spend")
    assert (entry.amount_cents, entry.reference, entry.idempotency_key) == (-250, "job-1", "k-1")
    assert assert_consistent(org) == 750


def test_spend_replay_answers_the_first_result_and_spends_once(service, org):
    grant(org, 1000)
    assert assert_ok(service.spend(amount_cents=250, idempotency_key="k-1")) == {
        "balance_cents": 750,
        "duplicate": False,
    }
    assert_ok(service.spend(amount_cents=100, idempotency_key="k-2"))

    replay = assert_ok(service.spend(amount_cents=250, idempotency_key="k-1"))

    assert replay == {"balance_cents": 750, "duplicate": True}
    assert CreditLedgerEntry.objects.filter(kind="spend").count() == 2
    assert assert_consistent(org) == 650


def test_spend_reusing_a_key_for_another_amount_is_422(service, org):
    grant(org, 1000)
    assert_ok(service.spend(amount_cents=250, idempotency_key="k-1"))

    assert_error(service.spend(amount_cents=300, idempotency_key="k-1"), 422, "idempotency_key_reused")
    assert_error(
        service.spend(amount_cents=250, reference="other", idempotency_key="k-1"), 422, "idempotency_key_reused"
    )
    assert assert_consistent(org) == 750


def test_spend_beyond_the_balance_is_402_and_spends_nothing(service, org):
    grant(org, 100)

    body = assert_error(service.spend(amount_cents=101), 402, "insufficient_credits")

    assert body["data"] == {"balance_cents": 100, "currency": "USD", "required_cents": 101}
    assert CreditLedgerEntry.objects.count() == 1
    assert assert_consistent(org) == 100


def test_spend_with_no_credit_at_all_is_402(service, org):
    assert_error(service.spend(amount_cents=1), 402, "insufficient_credits")
    assert not CreditLedgerEntry.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reference": "r", "idempotency_key": "k"}, "amount_cents"),
        ({"amount_cents": 0, "reference": "r", "idempotency_key": "k"}, "amount_cents"),
        ({"amount_cents": -5, "reference": "r", "idempotency_key": "k"}, "amount_cents"),
        ({"amount_cents": 1.5, "reference": "r", "idempotency_key": "k"}, "amount_cents"),
        ({"amount_cents": "100", "reference": "r", "idempotency_key": "k"}, "amount_cents"),
        ({"amount_cents": True, "reference": "r", "idempotency_key": "k"}, "amount_cents"),
        ({"amount_cents": 10**13, "reference": "r", "idempotency_key": "k"}, "amount_cents"),
        ({"amount_cents": 5, "idempotency_key": "k"}, "reference"),
        ({"amount_cents": 5, "reference": "  ", "idempotency_key": "k"}, "reference"),
        ({"amount_cents": 5, "reference": "r"}, "idempotency_key"),
        ({"amount_cents": 5, "reference": "r", "idempotency_key": None}, "idempotency_key"),
        ({"amount_cents": 5, "reference": "r", "idempotency_key": "k" * 256}, "idempotency_key"),
        ([1, 2], "non_field_errors"),
    ],
)
def test_spend_refuses_bad_input_and_stores_nothing(service, org, body, field):
    grant(org, 1000)

    response = service.client.post(SPEND, body, format="json")

    error = assert_error(response, 400, "validation_error")["error"]
    assert field in error["details"]
    assert CreditLedgerEntry.objects.count() == 1
    assert assert_consistent(org) == 1000


def test_spend_refuses_a_body_that_is_not_json(service, org):
    grant(org, 1000)
    response = service.client.post(SPEND, "{not json", content_type="application/json")
    assert_error(response, 400, "validation_error")
    assert assert_consistent(org) == 1000


def test_spend_without_credentials_is_401(api_client):
    assert_error(api_client.post(SPEND, {"amount_cents": 1}, format="json"), 401, "not_authenticated")


def test_spend_with_a_users_jwt_is_401(people, org):
    grant(org, 1000)
    body = {"amount_cents": 1, "reference": "r", "idempotency_key": "k"}
    assert_error(people.post(SPEND, body, format="json"), 401, "authentication_failed")
    assert assert_consistent(org) == 1000


def test_spend_with_an_unknown_key_is_401(org):
    client = service_client("sk_live_" + "x" * 40)
    assert_error(client.post(SPEND, {"amount_cents": 1}, format="json"), 401, "authentication_failed")


def test_spend_with_a_key_lacking_credits_write_is_403(org):
    grant(org, 1000)
    client = service_client(new_key(org, scopes=[Scope.USAGE_WRITE, Scope.USAGE_READ]))
    body = {"amount_cents": 1, "reference": "r", "idempotency_key": "k"}
    assert_error(client.post(SPEND, body, format="json"), 403, "permission_denied")
    assert assert_consistent(org) == 1000


def test_spend_with_a_test_mode_key_is_403(org):
    grant(org, 1000)
    client = service_client(new_key(org, mode=Mode.TEST))
    body = {"amount_cents": 1, "reference": "r", "idempotency_key": "k"}
    assert_error(client.post(SPEND, body, format="json"), 403, "permission_denied")
    assert assert_consistent(org) == 1000


def test_spend_takes_credit_of_the_keys_organization_only(service, org):
    other = OrganizationFactory()
    grant(org, 1000)
    grant(other, 1000)

    assert_ok(service.spend(amount_cents=10, reference="r", idempotency_key="k", organization_id=str(other.pk)))

    assert (assert_consistent(org), assert_consistent(other)) == (990, 1000)


def test_spend_of_expiring_credit_then_balance_after_expiry(service, org, people):
    start = datetime(2030, 5, 1, tzinfo=UTC)
    grant(org, 300, expires_at=start + timedelta(days=1))
    grant(org, 200)
    assert_ok(service.spend(amount_cents=100))

    from credits.services import credits_expire_due

    credits_expire_due(now=start + timedelta(days=2))

    assert assert_ok(people.get(BALANCE))["balance_cents"] == 200
    types = [entry["type"] for entry in assert_ok(people.get(TRANSACTIONS))]
    assert types == ["expiry", "spend", "grant", "grant"]
