"""invoices.services: finalization (gapless numbers, tax, credits, the usage cutoff), the
total invariant, paying and voiding."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apikeys.models import Scope
from apikeys.tests.factories import APIKeyFactory
from billing_project.errors import Conflict
from billing_project.tests.world import service_client, subscribe
from credits.models import CreditLedgerEntry, EntryKind
from credits.selectors import balance_of
from credits.services import credits_grant
from invoices import rating
from invoices.models import Invoice, InvoiceNumberSequence, InvoiceStatus
from invoices.services import (
    invoice_finalize,
    invoice_for_first_period,
    invoice_for_period_end,
    invoice_mark_paid,
    invoice_void,
    tax_for,
)
from invoices.tests.factories import PendingLineItemFactory
from organizations.tests.factories import OrganizationFactory

from .helpers import REPORT, add_golden_usage, assert_error, assert_ok, iso, manual_draft, utc

pytestmark = pytest.mark.django_db

NOW = utc(2026, 11, 1, 9)


class Boom(Exception):
    pass


def finalize(invoice: Invoice, now=NOW) -> Invoice:
    return invoice_finalize(invoice=invoice, now=now)


def balance(organization) -> int:
    return balance_of(organization=organization)[0]


def assert_total_invariant(invoice: Invoice) -> None:
    invoice.refresh_from_db()
    assert invoice.total_cents == invoice.subtotal_cents - invoice.credit_applied_cents + invoice.tax_cents
    assert invoice.subtotal_cents == sum(invoice.lines.values_list("amount_cents", flat=True))
    assert invoice.total_cents >= 0


@pytest.fixture
def golden(org, pro) -> Invoice:
    """The golden period invoice of `org` as a draft: subtotal 6,864 cents."""
    subscription = subscribe(org, pro, utc(2026, 10, 1))
    add_golden_usage(org, date(2026, 10, 15))
    invoice = invoice_for_period_end(subscription=subscription, finalize=False)
    assert invoice.subtotal_cents == 6864
    return invoice


# --- numbering -----------------------------------------------------------------------------


def test_a_draft_has_no_number(org):
    assert manual_draft(org, 100).number is None


def test_finalization_assigns_the_first_number_of_the_year(org):
    invoice = finalize(manual_draft(org, 100))

    assert invoice.number == "INV-2026-000001"
    assert Invoice.objects.get(pk=invoice.pk).number == "INV-2026-000001"


def test_numbers_follow_the_order_of_finalization_without_gaps(org):
    drafts = [manual_draft(org, 100 + i) for i in range(3)]

    numbers = [finalize(draft).number for draft in reversed(drafts)]

    assert numbers == ["INV-2026-000001", "INV-2026-000002", "INV-2026-000003"]
    assert Invoice.objects.get(pk=drafts[2].pk).number == "INV-2026-000001"


def test_numbers_are_shared_by_all_organizations(org):
    first = finalize(manual_draft(org, 100))
    second = finalize(manual_draft(OrganizationFactory(), 100))

    assert (first.number, second.number) == ("INV-2026-000001", "INV-2026-000002")


def test_numbers_restart_each_year(org):
    december = finalize(manual_draft(org, 100), now=utc(2026, 12, 31, 23, 59))
    january = finalize(manual_draft(org, 100), now=utc(2027, 1, 1))
    late_december = finalize(manual_draft(org, 100), now=utc(2026, 12, 31, 23, 59))

    assert [december.number, january.number, late_december.number] == [
        "INV-2026-000001",
        "INV-2027-000001",
        "INV-2026-000002",
    ]


def test_a_rolled_back_finalization_gives_its_number_to_the_next(org):
    rolled_back = manual_draft(org, 100)
    with pytest.raises(Boom), transaction.atomic():
        assert finalize(rolled_back).number == "INV-2026-000001"
        raise Boom

    following = finalize(manual_draft(org, 200))

    assert following.number == "INV-2026-000001"
    rolled_back.refresh_from_db()
    assert (rolled_back.status, rolled_back.number) == ("draft", None)


def test_a_finalization_failing_midway_gives_its_number_back(org, monkeypatch):
    credits_grant(organization=org, amount_cents=50, reason="so that credits are applied")
    draft = manual_draft(org, 100)

    def failing_apply(**kwargs):
        raise Boom

    with monkeypatch.context() as patched:
        patched.setattr("invoices.services.credits_apply_to_invoice", failing_apply)
        with pytest.raises(Boom):
            finalize(draft)

    assert InvoiceNumberSequence.objects.filter(year=2026, last_number__gt=0).exists() is False
    assert finalize(draft).number == "INV-2026-000001"


def test_a_voided_invoice_keeps_its_number(org):
    voided = invoice_void(invoice=finalize(manual_draft(org, 100)))

    following = finalize(manual_draft(org, 100))

    assert voided.number == "INV-2026-000001"
    assert following.number == "INV-2026-000002"


# --- credits -----------------------------------------------------------------------------


def test_credits_reduce_the_total(org, golden):
    credits_grant(organization=org, amount_cents=1000, reason="welcome")

    invoice = finalize(golden)

    assert (invoice.subtotal_cents, invoice.credit_applied_cents, invoice.total_cents) == (6864, 1000, 5864)
    assert invoice.status == InvoiceStatus.OPEN


def test_applied_credits_are_an_invoice_application_in_the_ledger(org, golden):
    credits_grant(organization=org, amount_cents=1000, reason="welcome")

    invoice = finalize(golden)

    entry = CreditLedgerEntry.objects.get(invoice=invoice)
    assert (entry.kind, entry.amount_cents, entry.balance_after_cents) == (EntryKind.INVOICE_APPLICATION, -1000, 0)
    assert entry.reference == invoice.number
    assert balance(org) == 0


def test_credits_beyond_the_invoice_stay_in_the_balance(org, golden):
    credits_grant(organization=org, amount_cents=10_000, reason="welcome")

    invoice = finalize(golden)

    assert invoice.credit_applied_cents == 6864
    assert balance(org) == 10_000 - 6864


def test_credits_covering_everything_mark_the_invoice_paid(org, golden):
    credits_grant(organization=org, amount_cents=10_000, reason="welcome")

    invoice = finalize(golden)

    assert (invoice.total_cents, invoice.status, invoice.paid_at) == (0, InvoiceStatus.PAID, NOW)
    assert invoice.amount_due_cents == 0


def test_credits_also_cover_the_tax(org, golden):
    org.tax_rate = Decimal("11")
    org.save()
    credits_grant(organization=org, amount_cents=100_000, reason="welcome")

    invoice = finalize(golden)

    assert (invoice.tax_cents, invoice.credit_applied_cents, invoice.total_cents) == (755, 7619, 0)
    assert balance(org) == 100_000 - 7619


def test_without_credits_nothing_is_applied(org, golden):
    invoice = finalize(golden)

    assert (invoice.credit_applied_cents, invoice.total_cents, invoice.status) == (0, 6864, InvoiceStatus.OPEN)
    assert not CreditLedgerEntry.objects.filter(organization=org).exists()


def test_credits_of_another_organization_are_not_used(org, golden):
    credits_grant(organization=OrganizationFactory(), amount_cents=10_000, reason="not yours")

    assert finalize(golden).credit_applied_cents == 0


# --- tax -----------------------------------------------------------------------------------


def test_tax_comes_from_the_organizations_rate(org, golden):
    org.tax_rate = Decimal("11")
    org.save()

    invoice = finalize(golden)

    assert (invoice.tax_rate, invoice.tax_cents, invoice.total_cents) == (Decimal("11.00"), 755, 7619)


def test_tax_is_rounded_half_up(org):
    org.tax_rate = Decimal("11")
    org.save()

    invoice = finalize(manual_draft(org, 1150))  # 126.5 cents of tax

    assert invoice.tax_cents == 127


@pytest.mark.parametrize(
    "subtotal, rate, expected",
    [
        (6864, "11", 755),
        (1150, "11", 127),
        (50, "1", 1),
        (49, "1", 0),
        (1, "99.99", 1),
        (0, "11", 0),
        (-500, "11", -55),
        (-50, "1", -1),
    ],
)
def test_tax_for(subtotal, rate, expected):
    assert tax_for(subtotal, Decimal(rate)) == expected


def test_tax_is_charged_on_the_subtotal_before_credits(org, golden):
    org.tax_rate = Decimal("11")
    org.save()
    credits_grant(organization=org, amount_cents=1000, reason="welcome")

    invoice = finalize(golden)

    assert (invoice.tax_cents, invoice.credit_applied_cents, invoice.total_cents) == (755, 1000, 6864 - 1000 + 755)


def test_the_rate_at_finalization_applies(org):
    draft = manual_draft(org, 1000)
    org.tax_rate = Decimal("20")
    org.save()

    assert finalize(draft).tax_cents == 200


def test_no_tax_at_a_zero_rate(org, golden):
    invoice = finalize(golden)

    assert (invoice.tax_rate, invoice.tax_cents) == (Decimal("0"), 0)


# --- a negative subtotal -------------------------------------------------------------------


@pytest.fixture
def downgrade(org, pro) -> Invoice:
    """A period invoice whose pending credit (-5,000) exceeds its charges (2,999)."""
    subscription = subscribe(org, pro, utc(2026, 10, 1))
    PendingLineItemFactory(
        subscription=subscription, kind="credit", description="Unused time on Team", amount_cents=-5000
    )
    return invoice_for_period_end(subscription=subscription, finalize=False)


def test_a_negative_subtotal_adds_the_credit_to_the_balance(org, downgrade):
    credits_grant(organization=org, amount_cents=300, reason="earlier")

    invoice = finalize(downgrade)

    assert (invoice.subtotal_cents, invoice.credit_applied_cents, invoice.total_cents) == (-2001, -2001, 0)
    assert balance(org) == 300 + 2001
    entry = CreditLedgerEntry.objects.get(invoice=invoice)
    assert (entry.kind, entry.amount_cents) == (EntryKind.ADJUSTMENT, 2001)


def test_a_negative_subtotal_is_paid_and_its_credit_carries_its_tax(org, downgrade):
    org.tax_rate = Decimal("11")
    org.save()

    invoice = finalize(downgrade)

    # -2,001 of lines and -220.11 -> -220 of tax: 2,221 goes to the balance.
    assert (invoice.tax_cents, invoice.credit_applied_cents, invoice.status) == (-220, -2221, InvoiceStatus.PAID)
    assert balance(org) == 2221


# --- the total invariant -------------------------------------------------------------------


@pytest.mark.parametrize(
    "amounts, granted, rate",
    [
        ((6864,), 0, "0"),
        ((6864,), 1000, "11"),
        ((6864,), 100_000, "11"),
        ((2999, -5000), 0, "11"),
        ((2999, -2999), 500, "11"),
        ((1, 1, 1), 2, "33.33"),
    ],
)
def test_every_finalized_invoice_totals_lines_minus_credits_plus_tax(org, amounts, granted, rate):
    org.tax_rate = Decimal(rate)
    org.save()
    if granted:
        credits_grant(organization=org, amount_cents=granted, reason="test")

    assert_total_invariant(finalize(manual_draft(org, *amounts)))


def test_the_database_refuses_a_total_that_is_not_lines_minus_credits_plus_tax(org):
    invoice = finalize(manual_draft(org, 1000))

    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(total_cents=F("total_cents") + 1)


def test_the_database_refuses_a_negative_total_on_an_issued_invoice(org):
    invoice = finalize(manual_draft(org, 1000))

    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(subtotal_cents=-10, total_cents=-10)


def test_the_database_refuses_negative_tax(org):
    invoice = finalize(manual_draft(org, 1000))

    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(tax_cents=-1, total_cents=999)


def test_model_validation_refuses_a_wrong_total(org):
    invoice = finalize(manual_draft(org, 1000))
    invoice.total_cents += 1

    with pytest.raises(ValidationError):
        invoice.full_clean(exclude=["pdf"])


line_amounts = st.lists(
    st.one_of(st.integers(min_value=0, max_value=5_000_000), st.integers(min_value=-5_000_000, max_value=-1)),
    min_size=1,
    max_size=8,
)
tax_rates = st.decimals(min_value=0, max_value=Decimal("99.99"), places=2)
grants = st.integers(min_value=0, max_value=10_000_000)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amounts=line_amounts, rate=tax_rates, granted=grants)
def test_finalization_keeps_the_invariant_for_any_lines_rate_and_balance(db, amounts, rate, granted):
    organization = OrganizationFactory(tax_rate=rate)
    if granted:
        credits_grant(organization=organization, amount_cents=granted, reason="property")
    before = balance(organization)

    invoice = finalize(manual_draft(organization, *amounts))

    subtotal = sum(amounts)
    assert invoice.subtotal_cents == subtotal
    assert invoice.total_cents == invoice.subtotal_cents - invoice.credit_applied_cents + invoice.tax_cents
    assert invoice.total_cents >= 0
    assert invoice.credit_applied_cents <= before
    after = balance(organization)
    assert after >= 0
    assert after == before - invoice.credit_applied_cents
    if subtotal < 0:
        tax = rating.round_half_up(Decimal(subtotal) * rate / 100)
        assert (invoice.credit_applied_cents, invoice.tax_cents, invoice.total_cents) == (subtotal + tax, tax, 0)
    else:
        assert invoice.tax_cents == rating.round_half_up(Decimal(subtotal) * rate / 100)
        assert invoice.credit_applied_cents == min(before, subtotal + invoice.tax_cents)
    assert (invoice.status == InvoiceStatus.PAID) == (invoice.total_cents == 0)
    assert_total_invariant(invoice)


# --- finalizing twice ------------------------------------------------------------------------


def test_finalizing_twice_changes_nothing(org, golden):
    org.tax_rate = Decimal("11")
    org.save()
    credits_grant(organization=org, amount_cents=1000, reason="welcome")
    first = finalize(golden)
    org.tax_rate = Decimal("20")
    org.save()
    credits_grant(organization=org, amount_cents=1000, reason="more")

    second = invoice_finalize(invoice=golden, now=NOW + timedelta(days=3))

    assert (second.number, second.tax_cents, second.credit_applied_cents, second.total_cents) == (
        first.number,
        first.tax_cents,
        first.credit_applied_cents,
        first.total_cents,
    )
    assert second.finalized_at == first.finalized_at
    assert CreditLedgerEntry.objects.filter(invoice=golden).count() == 1
    assert InvoiceNumberSequence.objects.get(year=2026).last_number == 1
    assert balance(org) == 1000


def test_finalization_records_the_buyer_and_due_date(org, settings):
    settings.INVOICE_DUE_DAYS = 14

    invoice = finalize(manual_draft(org, 1000))

    assert (invoice.billing_name, invoice.billing_email) == (org.name, org.billing_email)
    assert invoice.finalized_at == NOW
    assert invoice.due_date == date(2026, 11, 15)


# --- paying and voiding ----------------------------------------------------------------------


def test_marking_an_open_invoice_paid(org):
    invoice = finalize(manual_draft(org, 1000))

    paid = invoice_mark_paid(invoice=invoice, now=NOW + timedelta(days=1))

    assert (paid.status, paid.amount_paid_cents, paid.paid_at) == (InvoiceStatus.PAID, 1000, NOW + timedelta(days=1))
    assert paid.amount_due_cents == 0


def test_marking_a_paid_invoice_paid_again_changes_nothing(org):
    invoice = invoice_mark_paid(invoice=finalize(manual_draft(org, 1000)), now=NOW)

    again = invoice_mark_paid(invoice=invoice, amount_cents=5, now=NOW + timedelta(days=9))

    assert (again.amount_paid_cents, again.paid_at) == (1000, NOW)


@pytest.mark.parametrize("status", [InvoiceStatus.DRAFT, InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE])
def test_only_open_invoices_can_be_paid(org, status):
    invoice = manual_draft(org, 1000)
    if status != InvoiceStatus.DRAFT:
        invoice = finalize(invoice)
        Invoice.objects.filter(pk=invoice.pk).update(status=status)

    with pytest.raises(Conflict) as caught:
        invoice_mark_paid(invoice=invoice)

    assert caught.value.status_code == 409
    assert Invoice.objects.get(pk=invoice.pk).status == status


def test_voiding_an_open_invoice(org):
    invoice = finalize(manual_draft(org, 1000))

    voided = invoice_void(invoice=invoice, now=NOW)

    assert (voided.status, voided.voided_at) == (InvoiceStatus.VOID, NOW)


def test_voiding_returns_the_credits_the_invoice_used(org):
    credits_grant(organization=org, amount_cents=400, reason="welcome")
    invoice = finalize(manual_draft(org, 1000))
    assert balance(org) == 0

    invoice_void(invoice=invoice)

    assert balance(org) == 400
    assert CreditLedgerEntry.objects.filter(invoice=invoice, kind=EntryKind.RETURN, amount_cents=400).exists()


@pytest.mark.parametrize("status", [InvoiceStatus.DRAFT, InvoiceStatus.UNCOLLECTIBLE])
def test_drafts_and_uncollectible_invoices_can_be_voided(org, status):
    invoice = manual_draft(org, 1000)
    if status != InvoiceStatus.DRAFT:
        invoice = finalize(invoice)
        Invoice.objects.filter(pk=invoice.pk).update(status=status)

    assert invoice_void(invoice=invoice).status == InvoiceStatus.VOID


def test_a_paid_invoice_cannot_be_voided(org):
    invoice = invoice_mark_paid(invoice=finalize(manual_draft(org, 1000)))

    with pytest.raises(Conflict) as caught:
        invoice_void(invoice=invoice)

    assert caught.value.status_code == 409
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PAID


def test_voiding_twice_changes_nothing(org):
    credits_grant(organization=org, amount_cents=400, reason="welcome")
    invoice = invoice_void(invoice=finalize(manual_draft(org, 1000)), now=NOW)

    again = invoice_void(invoice=invoice, now=NOW + timedelta(days=1))

    assert again.voided_at == NOW
    assert balance(org) == 400


def test_a_voided_invoice_cannot_be_finalized_again(org):
    invoice = invoice_void(invoice=manual_draft(org, 1000))

    assert finalize(invoice).number is None


# --- one invoice per period ------------------------------------------------------------------


def test_a_period_is_invoiced_once(org, pro):
    subscription = subscribe(org, pro, utc(2026, 10, 1))
    invoice_for_period_end(subscription=subscription, now=NOW)

    with pytest.raises(Conflict) as caught:
        invoice_for_period_end(subscription=subscription, now=NOW)

    assert caught.value.status_code == 409
    assert Invoice.objects.filter(subscription=subscription).count() == 1


def test_a_voided_period_invoice_can_be_issued_again(org, pro):
    subscription = subscribe(org, pro, utc(2026, 10, 1))
    invoice_void(invoice=invoice_for_period_end(subscription=subscription, now=NOW))

    again = invoice_for_period_end(subscription=subscription, now=NOW)

    assert again.status == InvoiceStatus.OPEN


def test_the_database_refuses_a_second_invoice_for_a_period(org, pro):
    subscription = subscribe(org, pro, utc(2026, 10, 1))
    first = invoice_for_period_end(subscription=subscription, finalize=False)

    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.create(
            organization=org,
            subscription=subscription,
            reason="subscription_cycle",
            currency="USD",
            period_start=first.period_start,
            period_end=first.period_end,
        )


# --- closing the usage period ----------------------------------------------------------------


@pytest.fixture
def reporter(org):
    """report(timestamp) posts one SMS event with a new key of `org`; returns the response."""
    client = service_client(APIKeyFactory(organization=org, name="reporter", scopes=[Scope.USAGE_WRITE]).secret)

    def report(when):
        return client.post(REPORT, {"event_type": "sms_sent", "timestamp": iso(when)}, format="json")

    return report


@time_machine.travel(utc(2026, 11, 1, 10), tick=False)
def test_finalizing_a_period_invoice_closes_its_usage_period(org, pro, reporter):
    subscription = subscribe(org, pro, utc(2026, 10, 1))
    add_golden_usage(org, date(2026, 10, 15))
    assert_ok(reporter(utc(2026, 10, 31, 23)), 201)  # late, but before the invoice

    invoice_for_period_end(subscription=subscription)

    error = assert_error(reporter(utc(2026, 10, 31, 23, 30)), 400, "validation_error")
    assert "timestamp" in error["details"]
    assert_ok(reporter(utc(2026, 11, 1, 0, 1)), 201)  # the next period is open


@time_machine.travel(utc(2026, 11, 1, 10), tick=False)
def test_finalizing_a_period_invoice_without_billable_usage_also_closes_the_period(org, pro, reporter):
    subscription = subscribe(org, pro, utc(2026, 10, 1))

    invoice = invoice_for_period_end(subscription=subscription)

    assert [line.kind for line in invoice.lines.all()] == ["base_fee"]
    assert_error(reporter(utc(2026, 10, 20)), 400, "validation_error")


@time_machine.travel(utc(2026, 10, 1, 10), tick=False)
def test_the_first_invoice_leaves_the_period_it_bills_in_advance_open(org, pro, reporter):
    subscription = subscribe(org, pro, utc(2026, 10, 1))

    invoice_for_first_period(subscription=subscription)

    assert_ok(reporter(utc(2026, 10, 1, 9)), 201)


@time_machine.travel(utc(2026, 11, 1, 10), tick=False)
def test_a_draft_does_not_close_the_period(org, pro, reporter):
    subscription = subscribe(org, pro, utc(2026, 10, 1))
    add_golden_usage(org, date(2026, 10, 15))

    invoice_for_period_end(subscription=subscription, finalize=False)

    assert_ok(reporter(utc(2026, 10, 31, 23)), 201)
