"""PostgreSQL only: spends, the expiry job and returns from an invoice racing on one
organization. No credit is spent after its expiry and nothing is taken twice."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

import pytest
import time_machine
from django.utils import timezone

from billing_project.testing import run_concurrently
from credits.models import CreditLedgerEntry, CreditLot, CreditLotUse, EntryKind
from credits.services import credits_apply_to_invoice, credits_expire_due, credits_grant, credits_return
from organizations.tests.factories import OrganizationFactory

from .helpers import SPEND, assert_consistent, new_invoice, new_key, service_client

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

GRANTED = datetime(2027, 1, 1, tzinfo=UTC)
EXPIRES = datetime(2027, 1, 10, tzinfo=UTC)
AFTER = datetime(2027, 1, 11, tzinfo=UTC)


def post_spend(secret: str, key: str, amount: int = 100) -> int:
    body = {"amount_cents": amount, "reference": f"job-{key}", "idempotency_key": key}
    return service_client(secret).post(SPEND, body, format="json").status_code


def expire_now() -> int:
    return credits_expire_due(now=timezone.now())


def assert_no_expired_credit_spent(organization) -> None:
    uses = CreditLotUse.objects.filter(
        lot__organization=organization, amount_cents__lt=0, lot__expires_at__isnull=False
    ).exclude(entry__kind=EntryKind.EXPIRY)
    assert all(use.entry.created_at < use.lot.expires_at for use in uses.select_related("entry", "lot"))


@pytest.fixture
def expiring_and_lasting(transactional_db):
    """1,000 of credit expiring Jan 10 and 300 that never expires; a live key."""
    organization = OrganizationFactory()
    with time_machine.travel(GRANTED, tick=False):
        expiring = credits_grant(organization=organization, amount_cents=1000, reason="promo", expires_at=EXPIRES)
        credits_grant(organization=organization, amount_cents=300, reason="bought")
    return organization, expiring, new_key(organization)


def test_spends_racing_the_expiry_job_never_spend_expired_credit(expiring_and_lasting):
    organization, expiring, secret = expiring_and_lasting

    with time_machine.travel(AFTER):
        calls = [partial(post_spend, secret, f"spend-{i}") for i in range(10)] + [expire_now, expire_now]
        results = run_concurrently(calls, timeout=120)

    statuses, expired_by_jobs = results[:10], results[10:]
    assert sorted(statuses) == [200] * 3 + [402] * 7  # only the 300 that never expires
    expiries = CreditLedgerEntry.objects.filter(organization=organization, kind=EntryKind.EXPIRY)
    assert [entry.amount_cents for entry in expiries] == [-1000]  # once, by a job or a spend
    assert sum(expired_by_jobs) in (0, 1)
    assert CreditLot.objects.get(source_entry=expiring).remaining_cents == 0
    assert not CreditLotUse.objects.filter(lot__source_entry=expiring, entry__kind=EntryKind.SPEND).exists()
    assert_no_expired_credit_spent(organization)
    assert assert_consistent(organization) == 0


def test_a_return_racing_spends_after_the_expiry_gives_nothing_spendable(expiring_and_lasting):
    organization, _, secret = expiring_and_lasting
    invoice = new_invoice(organization)
    with time_machine.travel(datetime(2027, 1, 5, tzinfo=UTC), tick=False):
        assert credits_apply_to_invoice(organization=organization, invoice=invoice, max_amount_cents=1000, reference="")
    # 1,000 applied: all of the expiring lot. 300 left that never expires.

    def give_back():
        return credits_return(organization=organization, invoice=invoice, amount_cents=1000, reference="void")

    with time_machine.travel(AFTER):
        results = run_concurrently(
            [give_back, expire_now] + [partial(post_spend, secret, f"spend-{i}") for i in range(6)], timeout=120
        )

    assert results[0].amount_cents == 1000
    assert sorted(results[2:]) == [200] * 3 + [402] * 3
    returned_then_expired = CreditLedgerEntry.objects.filter(organization=organization, kind=EntryKind.EXPIRY)
    assert [entry.amount_cents for entry in returned_then_expired] == [-1000]
    assert_no_expired_credit_spent(organization)
    assert assert_consistent(organization) == 0
