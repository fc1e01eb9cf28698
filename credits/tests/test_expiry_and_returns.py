"""Audit items 9 and 10: credit returned from an invoice keeps the expiry of the lots it
came from, and credit past its expiry is never spent or shown, whether or not the hourly
expiry job has run."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing_project.errors import InsufficientCredits, ValidationFailed
from credits.models import CreditLedgerEntry, CreditLot, CreditLotUse, EntryKind
from credits.selectors import balance_of
from credits.services import (
    IdempotencyKeyReused,
    credits_adjust,
    credits_apply_to_invoice,
    credits_expire_due,
    credits_grant,
    credits_return,
    credits_spend,
)
from invoices.models import InvoiceStatus
from invoices.services import invoice_finalize, invoice_void
from invoices.tests.factories import manual_draft

from .helpers import BALANCE, assert_consistent, assert_error, assert_ok, new_invoice, people_client

pytestmark = pytest.mark.django_db

OVERVIEW = "/api/v1/billing/overview"


def jan(day: int, hour: int = 0) -> datetime:
    return datetime(2027, 1, day, hour, tzinfo=UTC)


def at(moment: datetime):
    return time_machine.travel(moment, tick=False)


def grant(org, amount: int, expires_at: datetime | None = None) -> CreditLedgerEntry:
    with at(jan(1)):
        return credits_grant(organization=org, amount_cents=amount, reason="Goodwill", expires_at=expires_at)


def apply(org, amount: int):
    """A stored invoice of `org` with `amount` of credit applied to it on Jan 5."""
    invoice = new_invoice(org)
    with at(jan(5)):
        assert credits_apply_to_invoice(organization=org, invoice=invoice, max_amount_cents=amount, reference="f") == (
            amount
        )
    return invoice


def give_back(org, invoice, amount: int, when: datetime | None = None, **extra) -> CreditLedgerEntry | None:
    with at(when or jan(6)):
        return credits_return(organization=org, invoice=invoice, amount_cents=amount, reference="cn-1", **extra)


def remaining(*entries: CreditLedgerEntry) -> list[int]:
    """What is left of the lots the grant `entries` opened, in order."""
    return [CreditLot.objects.get(source_entry=entry).remaining_cents for entry in entries]


def kinds(org) -> list[str]:
    return list(CreditLedgerEntry.objects.filter(organization=org).order_by("sequence").values_list("kind", flat=True))


# --- item 9: the audit's scenario --------------------------------------------------------------


def test_voided_invoice_returns_credit_that_still_expires(org):
    """1,000 of credit expiring Jan 10 applied Jan 5, invoice voided Jan 6: after the expiry
    the balance is 0, not 1,000 forever."""
    granted = grant(org, 1000, expires_at=jan(10))
    with at(jan(5)):
        invoice = invoice_finalize(invoice=manual_draft(org, 1500), now=jan(5))
    assert (invoice.credit_applied_cents, invoice.total_cents) == (1000, 500)
    assert balance_of(organization=org, now=jan(5)) == (0, "USD")

    with at(jan(6)):
        invoice_void(invoice=invoice, now=jan(6))

    returned = CreditLedgerEntry.objects.get(invoice=invoice, kind=EntryKind.RETURN)
    assert (returned.amount_cents, returned.balance_after_cents) == (1000, 1000)
    assert not CreditLedgerEntry.objects.filter(kind=EntryKind.REFUND).exists()
    assert remaining(granted) == [1000]  # back in the lot it came from, expiring Jan 10
    assert balance_of(organization=org, now=jan(9)) == (1000, "USD")

    assert credits_expire_due(now=jan(11)) == 1

    assert balance_of(organization=org, now=jan(11)) == (0, "USD")
    assert assert_consistent(org) == 0
    assert kinds(org) == ["grant", "invoice_application", "return", "expiry"]


def test_voiding_twice_returns_once(org):
    grant(org, 1000, expires_at=jan(10))
    with at(jan(5)):
        invoice = invoice_finalize(invoice=manual_draft(org, 1500), now=jan(5))
    with at(jan(6)):
        invoice_void(invoice=invoice, now=jan(6))
        assert invoice_void(invoice=invoice, now=jan(6)).status == InvoiceStatus.VOID

    assert CreditLedgerEntry.objects.filter(invoice=invoice, kind=EntryKind.RETURN).count() == 1
    assert assert_consistent(org) == 1000


# --- item 10: expired credit is never spent, applied or shown ------------------------------------


def test_a_spend_after_the_expiry_before_the_job_ran_is_402(service, org):
    grant(org, 1000, expires_at=jan(10))

    with at(jan(11)):
        body = assert_error(service.spend(amount_cents=1), 402, "insufficient_credits")

    assert body["data"] == {"balance_cents": 0, "currency": "USD", "required_cents": 1}
    assert kinds(org) == ["grant"]  # refused: nothing written, not even the expiry
    assert credits_expire_due(now=jan(11)) == 1
    assert assert_consistent(org) == 0


def test_a_spend_expires_due_credit_first_and_the_job_then_finds_nothing(service, org):
    expiring = grant(org, 1000, expires_at=jan(10))
    lasting = grant(org, 300)

    with at(jan(11)):
        assert_error(service.spend(amount_cents=301, idempotency_key="k-1"), 402, "insufficient_credits")
        assert assert_ok(service.spend(amount_cents=300, idempotency_key="k-2"))["balance_cents"] == 0

    assert kinds(org) == ["grant", "grant", "expiry", "spend"]
    expiry = CreditLedgerEntry.objects.get(kind=EntryKind.EXPIRY)
    assert (expiry.amount_cents, expiry.reference) == (-1000, str(expiring.pk))
    assert remaining(expiring, lasting) == [0, 0]
    assert credits_expire_due(now=jan(11)) == 0
    assert assert_consistent(org) == 0


def test_credit_expiring_at_this_very_moment_is_not_spent(org):
    grant(org, 100, expires_at=jan(10))  # periods are half-open: it is gone at Jan 10 00:00

    with at(jan(10)), pytest.raises(InsufficientCredits):
        credits_spend(organization=org, amount_cents=1, reference="r", idempotency_key="k")
    with at(datetime(2027, 1, 9, 23, 59, 59, tzinfo=UTC)):
        assert credits_spend(organization=org, amount_cents=100, reference="r", idempotency_key="k").balance_cents == 0


def test_an_invoice_applies_only_credit_that_has_not_expired(org):
    expiring = grant(org, 1000, expires_at=jan(10))
    lasting = grant(org, 200)
    invoice = new_invoice(org)

    with at(jan(11)):
        applied = credits_apply_to_invoice(organization=org, invoice=invoice, max_amount_cents=5000, reference="f")

    assert applied == 200
    assert kinds(org) == ["grant", "grant", "expiry", "invoice_application"]
    assert remaining(expiring, lasting) == [0, 0]
    assert assert_consistent(org) == 0


def test_a_negative_adjustment_cannot_take_expired_credit(org):
    grant(org, 1000, expires_at=jan(10))
    grant(org, 100)

    with at(jan(11)):
        with pytest.raises(InsufficientCredits):
            credits_adjust(organization=org, amount_cents=-101, reason="correction")
        credits_adjust(organization=org, amount_cents=-100, reason="correction")

    assert kinds(org) == ["grant", "grant", "expiry", "adjustment"]
    assert assert_consistent(org) == 0


def test_the_balance_after_the_expiry_is_0_before_the_job_ran(owner, org):
    grant(org, 1000, expires_at=jan(10))
    grant(org, 250)

    with at(jan(9)):
        assert assert_ok(people_client(owner, org).get(BALANCE)) == {"balance_cents": 1250, "currency": "USD"}
    with at(jan(11)):
        people = people_client(owner, org)  # a token of that day
        assert assert_ok(people.get(BALANCE)) == {"balance_cents": 250, "currency": "USD"}
        assert assert_ok(people.get(OVERVIEW))["credit_balance_cents"] == 250

    assert kinds(org) == ["grant", "grant"]  # a read writes nothing


def test_a_spend_writes_one_lot_use_per_lot_it_takes_from_in_one_insert(org):
    soon = grant(org, 100, expires_at=jan(10))
    later = grant(org, 100, expires_at=jan(20))

    with at(jan(2)), CaptureQueriesContext(connection) as queries:
        result = credits_spend(organization=org, amount_cents=150, reference="r", idempotency_key="k")

    inserts = [query["sql"] for query in queries.captured_queries if query["sql"].startswith("INSERT")]
    assert len(inserts) == 2  # the entry and its lot uses
    uses = {use.lot.source_entry_id: use.amount_cents for use in CreditLotUse.objects.filter(entry=result.entry)}
    assert uses == {soon.pk: -100, later.pk: -50}


# --- credits_return ---------------------------------------------------------------------------


def test_a_return_after_the_expiry_gives_the_credit_back_and_expires_it(org):
    granted = grant(org, 1000, expires_at=jan(10))
    invoice = apply(org, 1000)

    returned = give_back(org, invoice, 1000, when=jan(11))

    assert (returned.kind, returned.amount_cents, returned.invoice) == (EntryKind.RETURN, 1000, invoice)
    assert kinds(org) == ["grant", "invoice_application", "return", "expiry"]
    expiry = CreditLedgerEntry.objects.get(kind=EntryKind.EXPIRY)
    assert (expiry.amount_cents, expiry.reference, expiry.balance_after_cents) == (-1000, str(granted.pk), 0)
    assert credits_expire_due(now=jan(11)) == 0
    assert assert_consistent(org) == 0


def test_partial_returns_restore_the_most_recently_taken_lots_first(org):
    soon = grant(org, 600, expires_at=jan(10))
    later = grant(org, 400, expires_at=jan(20))
    forever = grant(org, 500)
    invoice = apply(org, 1200)  # takes 600 of `soon`, 400 of `later`, 200 of `forever`
    assert remaining(soon, later, forever) == [0, 0, 300]

    assert give_back(org, invoice, 300).amount_cents == 300
    assert remaining(soon, later, forever) == [0, 100, 500]

    assert give_back(org, invoice, 500).amount_cents == 500
    assert remaining(soon, later, forever) == [200, 400, 500]

    # `soon` is past its expiry on Jan 11: what comes back to it expires at once.
    assert give_back(org, invoice, 1000, when=jan(11)).amount_cents == 400  # all that is left
    assert remaining(soon, later, forever) == [0, 400, 500]
    assert kinds(org)[-2:] == ["return", "expiry"]
    assert CreditLedgerEntry.objects.get(kind=EntryKind.EXPIRY).amount_cents == -600
    assert give_back(org, invoice, 1, when=jan(11)) is None
    assert assert_consistent(org) == 900


def test_a_return_is_capped_at_what_was_applied(org):
    grant(org, 1000)
    invoice = apply(org, 700)

    assert give_back(org, invoice, 5000).amount_cents == 700
    assert give_back(org, invoice, 1) is None
    assert assert_consistent(org) == 1000


def test_a_return_for_an_invoice_without_applied_credit_returns_nothing(org):
    grant(org, 1000)

    assert give_back(org, new_invoice(org), 100) is None
    assert kinds(org) == ["grant"]


def test_a_replay_of_a_returns_key_returns_the_first_entry(org):
    grant(org, 1000)
    invoice = apply(org, 600)

    first = give_back(org, invoice, 200, idempotency_key="cn-1")
    again = give_back(org, invoice, 200, idempotency_key="cn-1")

    assert again.pk == first.pk
    assert CreditLedgerEntry.objects.filter(kind=EntryKind.RETURN).count() == 1
    assert assert_consistent(org) == 600
    with pytest.raises(IdempotencyKeyReused):
        give_back(org, invoice, 300, idempotency_key="cn-1")
    with pytest.raises(IdempotencyKeyReused):
        give_back(org, apply(org, 100), 200, idempotency_key="cn-1")


def test_a_replay_of_a_capped_return_returns_the_first_entry(org):
    grant(org, 1000)
    invoice = apply(org, 600)

    first = give_back(org, invoice, 900, idempotency_key="cn-1")
    again = give_back(org, invoice, 900, idempotency_key="cn-1")

    assert (first.amount_cents, again.pk) == (600, first.pk)
    assert assert_consistent(org) == 1000


def test_a_return_for_an_invoice_of_another_organization_is_refused(org, other_org):
    grant(org, 1000)
    apply(org, 100)

    with pytest.raises(ValidationFailed):
        give_back(org, new_invoice(other_org), 100)


def test_credit_applied_before_lot_uses_were_recorded_comes_back_without_expiry(org):
    grant(org, 1000, expires_at=jan(10))
    invoice = apply(org, 400)
    CreditLotUse.objects.filter(entry__invoice=invoice).delete()  # as if applied before 0003

    returned = give_back(org, invoice, 400)

    assert CreditLot.objects.get(source_entry=returned).expires_at is None
    assert assert_consistent(org) == 1000
