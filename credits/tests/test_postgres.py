"""PostgreSQL only: the ledger refuses UPDATE and DELETE, and concurrent spends of one
organization never overdraw it nor spend a replayed key twice."""

from __future__ import annotations

import importlib
from functools import partial

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.migrations.state import ProjectState

from billing_project.testing import run_concurrently
from credits.models import CreditLedgerEntry, EntryKind
from credits.services import credits_grant
from organizations.tests.factories import OrganizationFactory

from .helpers import SPEND, assert_consistent, new_key, service_client

TABLE = CreditLedgerEntry._meta.db_table
append_only = importlib.import_module("credits.migrations.0002_ledger_append_only")


def execute(sql: str, params=()) -> None:
    with transaction.atomic(), connection.cursor() as cursor:  # a savepoint: the test goes on after a refusal
        cursor.execute(sql, params)


def trigger_installed() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgname = %s", [append_only.TRIGGER])
        return cursor.fetchone()[0] == 1


# --- append-only -------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db
class TestAppendOnlyLedger:
    @pytest.fixture
    def entry(self, org):
        return credits_grant(organization=org, amount_cents=100, reason="x")

    def test_update_is_refused(self, entry):
        with pytest.raises(DatabaseError, match="append-only; add a reversing entry"):
            execute(f"UPDATE {TABLE} SET amount_cents = 1000000 WHERE id = %s", [entry.pk])
        entry.refresh_from_db()
        assert entry.amount_cents == 100

    def test_orm_update_is_refused(self, entry):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            CreditLedgerEntry.objects.filter(pk=entry.pk).update(description="rewritten")

    def test_delete_is_refused(self, entry):
        with pytest.raises(DatabaseError, match="append-only"):
            execute(f"DELETE FROM {TABLE} WHERE id = %s", [entry.pk])
        assert CreditLedgerEntry.objects.filter(pk=entry.pk).exists()

    def test_truncate_still_works(self, entry):
        execute("SET CONSTRAINTS ALL IMMEDIATE")  # flush the deferred FK checks of this transaction first
        # Disputes may be about a ledger entry (and their history about a dispute).
        execute(
            f"TRUNCATE {TABLE}, credits_creditlotuse, credits_creditlot, credits_creditbalance, "
            "payments_disputeevent, payments_dispute"
        )
        assert not CreditLedgerEntry.objects.exists()

    def test_the_migration_reverses(self, entry):
        assert trigger_installed()
        with connection.schema_editor() as editor:
            append_only.drop_trigger(_apps(), editor)
        assert not trigger_installed()
        execute(f"UPDATE {TABLE} SET description = 'allowed now' WHERE id = %s", [entry.pk])
        with connection.schema_editor() as editor:
            append_only.create_trigger(_apps(), editor)
        assert trigger_installed()
        with pytest.raises(DatabaseError, match="append-only"):
            execute(f"DELETE FROM {TABLE} WHERE id = %s", [entry.pk])


def _apps():
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(connection)
    state: ProjectState = loader.project_state(("credits", "0002_ledger_append_only"))
    return state.apps


# --- concurrency ----------------------------------------------------------------------------------


@pytest.fixture
def funded(transactional_db):
    """An organization with 3000 of credit and a live key with credits:write."""
    organization = OrganizationFactory()
    credits_grant(organization=organization, amount_cents=3000, reason="concurrency")
    return organization, new_key(organization)


def post_spend(secret: str, key: str, amount: int = 100) -> tuple[int, dict]:
    body = {"amount_cents": amount, "reference": f"job-{key}", "idempotency_key": key}
    response = service_client(secret).post(SPEND, body, format="json")
    return response.status_code, response.json()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_spends_never_overdraw(funded):
    organization, secret = funded

    results = run_concurrently([partial(post_spend, secret, f"spend-{i}") for i in range(50)], timeout=120)

    statuses = [status for status, _ in results]
    assert statuses.count(200) == 30
    assert statuses.count(402) == 20
    assert {body["error"]["code"] for status, body in results if status == 402} == {"insufficient_credits"}
    assert sorted(body["data"]["balance_cents"] for status, body in results if status == 200) == list(
        range(0, 3000, 100)
    )
    assert assert_consistent(organization) == 0
    assert sum(CreditLedgerEntry.objects.filter(organization=organization).values_list("amount_cents", flat=True)) == 0
    assert CreditLedgerEntry.objects.filter(organization=organization, kind=EntryKind.SPEND).count() == 30


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_replays_of_one_key_debit_once(funded):
    organization, secret = funded

    results = run_concurrently([partial(post_spend, secret, "the-same-key") for _ in range(10)], timeout=120)

    assert [status for status, _ in results] == [200] * 10
    assert sorted(body["data"]["duplicate"] for _, body in results) == [False] + [True] * 9
    assert {body["data"]["balance_cents"] for _, body in results} == {2900}
    assert CreditLedgerEntry.objects.filter(organization=organization, kind=EntryKind.SPEND).count() == 1
    assert assert_consistent(organization) == 2900


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_first_writes_create_one_balance_row(transactional_db):
    organization = OrganizationFactory()

    def grant():
        return credits_grant(organization=organization, amount_cents=10, reason="race").sequence

    sequences = run_concurrently([grant] * 8, timeout=60)

    assert sorted(sequences) == list(range(1, 9))
    assert assert_consistent(organization) == 80
