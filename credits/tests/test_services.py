"""The credit services: every movement writes one ledger entry, keeps the cached balance and
the lots equal to the ledger, and never takes the balance below zero."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction

from accounts.tests.factories import UserFactory
from billing_project.errors import InsufficientCredits, ValidationFailed
from credits.models import CreditBalance, CreditLedgerEntry, CreditLot, EntryKind
from credits.selectors import balance_of
from credits.services import (
    IdempotencyKeyReused,
    credits_adjust,
    credits_apply_to_invoice,
    credits_expire_due,
    credits_grant,
    credits_issue_from_invoice,
    credits_purchase,
    credits_refund,
    credits_spend,
)
from credits.tasks import expire_credits
from organizations.tests.factories import OrganizationFactory

from .helpers import assert_consistent, new_invoice

pytestmark = pytest.mark.django_db

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def spend(org, amount, key):
    return credits_spend(organization=org, amount_cents=amount, reference=f"ref-{key}", idempotency_key=key)


def remaining_by_source(org) -> dict:
    return {lot.source_entry_id: lot.remaining_cents for lot in CreditLot.objects.filter(organization=org)}


# --- grant / purchase / refund / adjust -----------------------------------------------------


def test_grant_creates_the_balance_in_the_org_currency_and_one_entry(org):
    staff = UserFactory()
    entry = credits_grant(organization=org, amount_cents=500, reason="Welcome", created_by=staff)

    assert (entry.kind, entry.amount_cents, entry.balance_after_cents) == (EntryKind.GRANT, 500, 500)
    assert (entry.currency, entry.description, entry.created_by, entry.sequence) == ("USD", "Welcome", staff, 1)
    assert balance_of(organization=org) == (500, "USD")
    assert assert_consistent(org) == 500


def test_balance_of_an_org_without_credit_is_zero_in_its_currency(other_org):
    assert balance_of(organization=other_org) == (0, "EUR")


@pytest.mark.parametrize("amount", [0, -5, 1.5, "100", True, None, 10**13])
def test_grant_refuses_amounts_that_are_not_positive_whole_numbers(org, amount):
    with pytest.raises(ValidationFailed):
        credits_grant(organization=org, amount_cents=amount, reason="x")
    assert not CreditLedgerEntry.objects.exists()


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_grant_needs_a_reason(org, reason):
    with pytest.raises(ValidationFailed):
        credits_grant(organization=org, amount_cents=5, reason=reason)


def test_purchase_replay_of_its_key_returns_the_first_entry(org):
    first = credits_purchase(organization=org, amount_cents=1000, reference="order-1", idempotency_key="p-1")
    again = credits_purchase(organization=org, amount_cents=1000, reference="order-1", idempotency_key="p-1")

    assert again.pk == first.pk
    assert assert_consistent(org) == 1000


def test_purchase_for_an_invoice_adds_credit_once(org):
    invoice = new_invoice(org)
    first = credits_purchase(organization=org, amount_cents=700, reference="inv", invoice=invoice)
    again = credits_purchase(organization=org, amount_cents=700, reference="inv", invoice=invoice)

    assert again.pk == first.pk and first.invoice == invoice
    assert assert_consistent(org) == 700


def test_a_key_reused_for_another_amount_is_refused(org):
    credits_purchase(organization=org, amount_cents=1000, reference="order-1", idempotency_key="p-1")
    with pytest.raises(IdempotencyKeyReused):
        credits_purchase(organization=org, amount_cents=999, reference="order-1", idempotency_key="p-1")
    with pytest.raises(IdempotencyKeyReused):
        credits_spend(organization=org, amount_cents=10, reference="order-1", idempotency_key="p-1")
    assert assert_consistent(org) == 1000


def test_refund_adds_credit_linked_to_the_invoice(org):
    invoice = new_invoice(org)
    entry = credits_refund(organization=org, amount_cents=250, reference="refund-1", invoice=invoice)

    assert (entry.kind, entry.amount_cents, entry.invoice) == (EntryKind.REFUND, 250, invoice)
    assert assert_consistent(org) == 250


def test_an_invoice_of_another_org_is_refused(org, other_org):
    with pytest.raises(ValidationFailed):
        credits_refund(organization=org, amount_cents=250, reference="r", invoice=new_invoice(other_org))


def test_negative_adjustment_cannot_take_the_balance_below_zero(org):
    credits_grant(organization=org, amount_cents=300, reason="x")

    with pytest.raises(InsufficientCredits):
        credits_adjust(organization=org, amount_cents=-301, reason="too much")
    entry = credits_adjust(organization=org, amount_cents=-300, reason="correction")

    assert (entry.kind, entry.amount_cents, entry.balance_after_cents) == (EntryKind.ADJUSTMENT, -300, 0)
    assert assert_consistent(org) == 0


def test_adjustment_of_zero_is_refused(org):
    with pytest.raises(ValidationFailed):
        credits_adjust(organization=org, amount_cents=0, reason="nothing")


# --- spend ----------------------------------------------------------------------------------


def test_spend_takes_from_the_balance(org):
    credits_grant(organization=org, amount_cents=1000, reason="x")
    result = spend(org, 300, "s-1")

    assert (result.balance_cents, result.duplicate) == (700, False)
    assert (result.entry.kind, result.entry.amount_cents, result.entry.reference) == (EntryKind.SPEND, -300, "ref-s-1")
    assert assert_consistent(org) == 700


def test_spend_replay_returns_the_first_result_and_moves_nothing(org):
    credits_grant(organization=org, amount_cents=1000, reason="x")
    first = spend(org, 300, "s-1")
    spend(org, 100, "s-2")
    replay = spend(org, 300, "s-1")

    assert replay.duplicate is True
    assert replay.entry.pk == first.entry.pk
    assert replay.balance_cents == 700  # the first answer, not today's balance
    assert CreditLedgerEntry.objects.filter(kind=EntryKind.SPEND).count() == 2
    assert assert_consistent(org) == 600


def test_spend_beyond_the_balance_is_402_and_writes_nothing(org):
    credits_grant(organization=org, amount_cents=100, reason="x")

    with pytest.raises(InsufficientCredits) as raised:
        spend(org, 101, "s-1")

    assert raised.value.status_code == 402 and raised.value.code == "insufficient_credits"
    assert raised.value.data == {"balance_cents": 100, "currency": "USD", "required_cents": 101}
    assert CreditLedgerEntry.objects.count() == 1
    assert assert_consistent(org) == 100
    assert spend(org, 100, "s-1").balance_cents == 0  # the key was not used up by the refusal


def test_spend_without_any_credit_creates_nothing(org):
    with pytest.raises(InsufficientCredits):
        spend(org, 1, "s-1")
    assert not CreditBalance.objects.exists()
    assert not CreditLedgerEntry.objects.exists()


@pytest.mark.parametrize(
    ("amount", "reference", "key"), [(0, "r", "k"), (-1, "r", "k"), (5, "", "k"), (5, "r", ""), (5, "r", "x" * 256)]
)
def test_spend_refuses_bad_input(org, amount, reference, key):
    credits_grant(organization=org, amount_cents=100, reason="x")
    with pytest.raises(ValidationFailed):
        credits_spend(organization=org, amount_cents=amount, reference=reference, idempotency_key=key)
    assert assert_consistent(org) == 100


def test_idempotency_keys_are_per_organization(org):
    other = OrganizationFactory()
    credits_grant(organization=org, amount_cents=100, reason="x")
    credits_grant(organization=other, amount_cents=100, reason="x")

    assert spend(org, 40, "same").duplicate is False
    assert spend(other, 40, "same").duplicate is False
    assert (assert_consistent(org), assert_consistent(other)) == (60, 60)


# --- invoices -------------------------------------------------------------------------------


def test_apply_to_invoice_uses_up_to_the_balance(org):
    credits_grant(organization=org, amount_cents=500, reason="x")
    invoice = new_invoice(org)

    assert credits_apply_to_invoice(organization=org, invoice=invoice, max_amount_cents=800, reference="fin") == 500

    entry = CreditLedgerEntry.objects.get(kind=EntryKind.INVOICE_APPLICATION)
    assert (entry.amount_cents, entry.invoice, entry.balance_after_cents) == (-500, invoice, 0)
    assert assert_consistent(org) == 0


def test_apply_to_invoice_takes_at_most_the_maximum(org):
    credits_grant(organization=org, amount_cents=500, reason="x")
    assert (
        credits_apply_to_invoice(organization=org, invoice=new_invoice(org), max_amount_cents=120, reference="") == 120
    )
    assert assert_consistent(org) == 380


def test_apply_to_invoice_with_no_credit_applies_nothing(org):
    assert credits_apply_to_invoice(organization=org, invoice=new_invoice(org), max_amount_cents=800, reference="") == 0
    assert credits_apply_to_invoice(organization=org, invoice=new_invoice(org), max_amount_cents=0, reference="") == 0
    assert not CreditLedgerEntry.objects.exists()


def test_apply_to_invoice_twice_applies_once(org):
    credits_grant(organization=org, amount_cents=500, reason="x")
    invoice = new_invoice(org)
    assert credits_apply_to_invoice(organization=org, invoice=invoice, max_amount_cents=200, reference="") == 200
    assert credits_apply_to_invoice(organization=org, invoice=invoice, max_amount_cents=200, reference="") == 200
    assert assert_consistent(org) == 300


def test_apply_to_invoice_in_another_currency_applies_nothing(org):
    credits_grant(organization=org, amount_cents=500, reason="x")
    invoice = new_invoice(org, currency="EUR")
    assert credits_apply_to_invoice(organization=org, invoice=invoice, max_amount_cents=200, reference="") == 0
    assert assert_consistent(org) == 500


def test_apply_to_invoice_joins_the_callers_transaction(org):
    credits_grant(organization=org, amount_cents=500, reason="x")
    invoice = new_invoice(org)

    with pytest.raises(RuntimeError), transaction.atomic():
        assert credits_apply_to_invoice(organization=org, invoice=invoice, max_amount_cents=200, reference="") == 200
        raise RuntimeError("finalization failed later")

    assert assert_consistent(org) == 500  # rolled back with the finalization
    with transaction.atomic():
        assert credits_apply_to_invoice(organization=org, invoice=invoice, max_amount_cents=200, reference="") == 200
    assert assert_consistent(org) == 300


def test_issue_from_invoice_adds_a_positive_adjustment_once(org):
    invoice = new_invoice(org)
    entry = credits_issue_from_invoice(organization=org, invoice=invoice, amount_cents=900, reference="downgrade")
    again = credits_issue_from_invoice(organization=org, invoice=invoice, amount_cents=900, reference="downgrade")

    assert (entry.kind, entry.amount_cents, entry.invoice) == (EntryKind.ADJUSTMENT, 900, invoice)
    assert again.pk == entry.pk
    assert assert_consistent(org) == 900


# --- lots and expiry -------------------------------------------------------------------------


def test_spends_use_the_soonest_expiring_credit_first_and_never_expiring_last(org):
    forever = credits_grant(organization=org, amount_cents=100, reason="no expiry")
    late = credits_grant(organization=org, amount_cents=100, reason="late", expires_at=T0 + timedelta(days=30))
    soon = credits_grant(organization=org, amount_cents=100, reason="soon", expires_at=T0 + timedelta(days=10))
    bought = credits_purchase(organization=org, amount_cents=100, reference="order")

    spend(org, 150, "s-1")

    assert remaining_by_source(org) == {forever.pk: 100, late.pk: 50, soon.pk: 0, bought.pk: 100}
    spend(org, 120, "s-2")
    # Among lots that never expire, the oldest goes first.
    assert remaining_by_source(org) == {forever.pk: 30, late.pk: 0, soon.pk: 0, bought.pk: 100}
    assert assert_consistent(org) == 130


def test_expiry_takes_what_is_left_of_due_lots_only(org):
    soon = credits_grant(organization=org, amount_cents=100, reason="soon", expires_at=T0)
    later = credits_grant(organization=org, amount_cents=100, reason="later", expires_at=T0 + timedelta(days=5))
    credits_grant(organization=org, amount_cents=100, reason="forever")
    spend(org, 60, "s-1")  # from `soon`

    assert credits_expire_due(now=T0) == 1

    expiry = CreditLedgerEntry.objects.get(kind=EntryKind.EXPIRY)
    assert (expiry.amount_cents, expiry.reference, expiry.balance_after_cents) == (-40, str(soon.pk), 200)
    assert remaining_by_source(org)[later.pk] == 100
    assert assert_consistent(org) == 200


def test_expiry_is_idempotent(org):
    credits_grant(organization=org, amount_cents=100, reason="soon", expires_at=T0)

    assert credits_expire_due(now=T0 + timedelta(days=1)) == 1
    assert credits_expire_due(now=T0 + timedelta(days=1)) == 0
    assert CreditLedgerEntry.objects.filter(kind=EntryKind.EXPIRY).count() == 1
    assert assert_consistent(org) == 0


def test_fully_spent_lots_expire_nothing(org):
    credits_grant(organization=org, amount_cents=100, reason="soon", expires_at=T0)
    spend(org, 100, "s-1")

    assert credits_expire_due(now=T0) == 0
    assert assert_consistent(org) == 0


def test_expiry_covers_every_organization(org, other_org):
    credits_grant(organization=org, amount_cents=100, reason="a", expires_at=T0)
    credits_grant(organization=org, amount_cents=50, reason="b", expires_at=T0 - timedelta(days=1))
    credits_grant(organization=other_org, amount_cents=70, reason="c", expires_at=T0)

    assert credits_expire_due(now=T0) == 3
    assert (assert_consistent(org), assert_consistent(other_org)) == (0, 0)


def test_expire_credits_task_uses_the_current_time(org):
    credits_grant(organization=org, amount_cents=100, reason="past", expires_at=datetime(2001, 1, 1, tzinfo=UTC))
    credits_grant(organization=org, amount_cents=100, reason="future", expires_at=datetime(2999, 1, 1, tzinfo=UTC))

    assert expire_credits.delay().get() == 1
    assert assert_consistent(org) == 100
