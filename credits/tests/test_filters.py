"""GET /credits/transactions reads its query with credits.filters.LedgerEntryFilter: the
same parameters as documented, read as DRF reads them, refused in the same words."""

import pytest
import time_machine

from billing_project.testing import assert_error, assert_ok
from billing_project.tests.world import utc
from credits.filters import LedgerEntryFilter
from credits.serializers import TransactionsQuerySerializer
from credits.services import credits_grant, credits_spend

pytestmark = pytest.mark.django_db

BAD_DATE = "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."
TRANSACTIONS = "/api/v1/credits/transactions"


@pytest.fixture
def ledger(org):
    """A grant of 500 on 1 March, a spend of 200 and a grant of 900 on 2 March 2026."""
    with time_machine.travel(utc(2026, 3, 1, 23, 59), tick=False):
        credits_grant(organization=org, amount_cents=500, reason="first")
    with time_machine.travel(utc(2026, 3, 2), tick=False):
        credits_spend(organization=org, amount_cents=200, reference="job", idempotency_key="k")
        credits_grant(organization=org, amount_cents=900, reason="second")


def amounts(response) -> list[int]:
    return [entry["amount_cents"] for entry in assert_ok(response)]


def test_the_filter_reads_exactly_the_documented_parameters():
    assert list(LedgerEntryFilter.base_filters) == list(TransactionsQuerySerializer().fields)


@pytest.mark.parametrize(
    "query, expected",
    [
        ({}, [900, -200, 500]),
        ({"sort_order": "asc"}, [500, -200, 900]),
        ({"sort_by": "amount"}, [900, 500, -200]),
        ({"sort_by": "amount", "sort_order": "asc"}, [-200, 500, 900]),
        ({"sort_by": "", "sort_order": ""}, [900, -200, 500]),
        ({"type": "grant", "sort_by": "amount", "sort_order": "asc"}, [500, 900]),
        ({"start_date": "2026-03-02"}, [900, -200]),
        ({"end_date": "2026-03-01"}, [500]),
        ({"start_date": "20260302"}, [900, -200]),  # ISO 8601's basic format, as DRF reads dates
        ({"end_date": "9999-12-31"}, [900, -200, 500]),
    ],
)
def test_transactions_filter_and_sort(people, ledger, query, expected):
    assert amounts(people.get(TRANSACTIONS, query)) == expected


@pytest.mark.parametrize(
    "query, field, message",
    [
        ({"type": "bogus"}, "type", '"bogus" is not a valid choice.'),
        ({"type": "%s"}, "type", '"%s" is not a valid choice.'),
        ({"sort_by": "-amount"}, "sort_by", '"-amount" is not a valid choice.'),
        (
            {"start_date": "03/02/2026"},
            "start_date",
            "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.",
        ),
        (
            {"end_date": "2026-02-30"},
            "end_date",
            "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.",
        ),
        ({"start_date": "2026-03-02", "end_date": "2026-03-01"}, "start_date", "Must not be after end_date."),
    ],
)
def test_a_bad_value_is_a_validation_error_naming_the_field(people, query, field, message):
    error = assert_error(people.get(TRANSACTIONS, query), 400, "validation_error")

    assert error["details"] == {field: [message]}
    assert error["message"] == f"{field}: {message}"


def test_every_bad_value_is_listed_and_the_date_order_is_checked_only_once_they_are_valid(people):
    query = {"type": "x", "start_date": "2026-03-02", "end_date": "2026-03-01", "sort_order": "y"}

    error = assert_error(people.get(TRANSACTIONS, query), 400, "validation_error")

    assert list(error["details"]) == ["type", "sort_order"]
