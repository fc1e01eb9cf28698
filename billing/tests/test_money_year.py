"""A year of one customer's billing with every correction the audit asked for (issue 12,
acceptance): a mid-period upgrade with usage on both sides, a downgrade with tax, a refund
producing a credit note, a same-day cancel and resubscribe, credit expiry around a void
and the reissue of the voided period. Every invoice and credit note is checked against a
hand computation, and at the end all documents add up to the money: the invoices (lines
plus tax) less the credit notes equal the cash collected net of refunds, plus what is
still owed, less the credit the customer holds (plus granted credit that never became
cash, less what of it expired: here the whole grant expired, so those cancel out).

10% tax. Pro is $29.99 (call minutes 5c, none included), Team $99.99 (500 minutes
included, 4c beyond)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import Sum

from billing.credit_notes import credit_note_refund
from billing.tests.cycle_helpers import after_grace, cycle, usage_lines
from billing_project.testing import assert_ok as ok
from billing_project.tests.world import utc
from credits.models import CreditLedgerEntry
from credits.selectors import balance_of
from credits.services import credits_expire_due, credits_grant
from invoices.models import CreditNote, Invoice, InvoiceReason, InvoiceStatus
from invoices.services import invoice_reissue, invoice_void
from payments.gateways.sandbox import PM_DECLINE, PM_OK
from payments.models import Payment, Refund

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def gross(invoice: Invoice) -> tuple[int, int, int, int]:
    invoice.refresh_from_db()
    return invoice.subtotal_cents, invoice.tax_cents, invoice.credit_applied_cents, invoice.total_cents


def only(queryset):
    [item] = list(queryset)
    return item


def test_a_year_of_corrections_adds_up(customer, time_machine):
    organization = customer.organization
    organization.tax_rate = Decimal("10")
    organization.save()
    clock = time_machine
    invoices = Invoice.objects.filter(organization=organization)

    # Jan 1: Pro, paid at checkout: 2,999 + 300 tax.
    clock.move_to(utc(2026, 1, 1), tick=False)
    customer.subscribe("pro")
    first = only(invoices.filter(reason=InvoiceReason.SUBSCRIPTION_CREATE))
    assert gross(first) == (2999, 300, 0, 3299)

    # Jan 16 12:00, half of January (31 days): upgrade to Team, usage on both sides.
    clock.move_to(utc(2026, 1, 10), tick=False)
    customer.report_ok("call_minutes", utc(2026, 1, 10), 100)
    clock.move_to(utc(2026, 1, 16, 12), tick=False)
    customer.change_plan("team", prorate=True)
    # Pro's unused half, 1,499.5 -> 1,500 plus 150 tax, back to the balance...
    upgrade_note = only(CreditNote.objects.filter(invoice=first))
    assert (upgrade_note.subtotal_cents, upgrade_note.tax_cents, upgrade_note.credited_cents) == (1500, 150, 1650)
    # ... which pays that much of Team's half: 4,999.5 -> 5,000 plus 500 tax.
    upgrade = only(invoices.filter(reason=InvoiceReason.SUBSCRIPTION_UPDATE))
    assert gross(upgrade) == (5000, 500, 1650, 3850)
    assert upgrade.status == InvoiceStatus.PAID
    clock.move_to(utc(2026, 1, 20), tick=False)
    customer.report_ok("call_minutes", utc(2026, 1, 20), 700)

    # Feb 1: January closes. Team for February, Pro's 100 minutes at 5c = 500, Team's 700
    # minutes less half of 500 included = 450 at 4c = 1,800: 12,299 + 1,230 tax.
    cycle(after_grace(utc(2026, 2, 1)), clock)
    january = only(invoices.filter(reason=InvoiceReason.SUBSCRIPTION_CYCLE, period_start=utc(2026, 1, 1)))
    assert [int(line.quantity) for line in january.lines.filter(kind="usage")] == [100, 450]
    assert gross(january) == (12299, 1230, 0, 13529)
    assert january.status == InvoiceStatus.PAID

    # Feb 15, half of February (28 days): downgrade to Pro. Team's unused half of 9,999
    # (5,000 + 500 tax) goes to the balance; Pro's half (1,500 + 150) is paid from it.
    clock.move_to(utc(2026, 2, 15), tick=False)
    customer.change_plan("pro", prorate=True)
    downgrade_note = only(CreditNote.objects.filter(invoice=january))
    assert (downgrade_note.total_cents, downgrade_note.tax_cents, downgrade_note.credited_cents) == (5500, 500, 5500)
    downgrade = invoices.filter(reason=InvoiceReason.SUBSCRIPTION_UPDATE).exclude(pk=upgrade.pk).get()
    assert gross(downgrade) == (1500, 150, 1650, 0)
    assert balance_of(organization=organization)[0] == 3850

    # Mar 1: February closes: Pro for March, 3,299, all paid by the balance (551 left).
    cycle(after_grace(utc(2026, 3, 1)), clock)
    february = only(invoices.filter(reason=InvoiceReason.SUBSCRIPTION_CYCLE, period_start=utc(2026, 2, 1)))
    assert gross(february) == (2999, 300, 3299, 0)
    assert balance_of(organization=organization)[0] == 551

    # Mar 5: staff refund 11.00 of the first invoice: a credit note of 10.00 + 1.00 tax.
    clock.move_to(utc(2026, 3, 5), tick=False)
    refund = credit_note_refund(payment=only(first.payments.filter(status="succeeded")), amount_cents=1100)
    refund_note = refund.credit_note
    assert (refund_note.subtotal_cents, refund_note.tax_cents, refund_note.refunded_cents) == (1000, 100, 1100)
    assert refund_note.number == "CN-2026-000003"

    # Mar 10: 100 minutes at 08:00, cancel at 10:00 (500 + 50 tax, paid from the balance,
    # 1 left), a new Pro checkout at 12:00 (3,299 less that 1).
    clock.move_to(utc(2026, 3, 10, 8), tick=False)
    customer.report_ok("call_minutes", utc(2026, 3, 10, 8), 100)
    clock.move_to(utc(2026, 3, 10, 10), tick=False)
    ok(customer.client().post("/api/v1/subscriptions/cancel", {"cancel_immediately": True}, format="json"))
    final = only(invoices.filter(reason=InvoiceReason.SUBSCRIPTION_CANCEL))
    assert gross(final) == (500, 50, 550, 0)
    clock.move_to(utc(2026, 3, 10, 12), tick=False)
    customer.subscribe("pro")
    second = customer.subscription
    restart = invoices.filter(reason=InvoiceReason.SUBSCRIPTION_CREATE).exclude(pk=first.pk).get()
    assert gross(restart) == (2999, 300, 1, 3298)
    assert restart.status == InvoiceStatus.PAID

    # Apr 1: 10.00 of promotional credit expiring Apr 12. The Apr 10 renewal uses it, its
    # card is declined, staff void it on Apr 11: the credit goes back with its expiry and
    # expires on Apr 12 (it was permanent before).
    clock.move_to(utc(2026, 4, 1), tick=False)
    credits_grant(organization=organization, amount_cents=1000, reason="promo", expires_at=utc(2026, 4, 12))
    customer.set_payment_method(PM_DECLINE)
    cycle(after_grace(utc(2026, 4, 10, 12)), clock)
    march = only(invoices.filter(subscription=second, reason=InvoiceReason.SUBSCRIPTION_CYCLE))
    assert gross(march) == (2999, 300, 1000, 2299)
    assert (march.status, march.attempt_count) == (InvoiceStatus.OPEN, 1)
    clock.move_to(utc(2026, 4, 11), tick=False)
    invoice_void(invoice=march)
    assert balance_of(organization=organization)[0] == 1000
    clock.move_to(utc(2026, 4, 12, 1), tick=False)
    credits_expire_due(now=utc(2026, 4, 12, 1))
    assert balance_of(organization=organization)[0] == 0

    # The voided period is reissued (no credit left now) and paid by link.
    reissued = invoice_reissue(invoice=march)
    assert (reissued.corrects_id, gross(reissued)) == (march.pk, (2999, 300, 0, 3299))
    customer.set_payment_method(PM_OK)
    customer.pay_by_link(reissued)
    reissued.refresh_from_db()
    assert reissued.status == InvoiceStatus.PAID

    # May to December: each renewal Pro 3,299, charged to the card.
    renewals = []
    for month in range(5, 13):
        cycle(after_grace(utc(2026, month, 10, 12)), clock)
        renewal = only(invoices.filter(subscription=second, period_start=utc(2026, month - 1, 10, 12)))
        assert gross(renewal) == (2999, 300, 0, 3299), month
        assert renewal.status == InvoiceStatus.PAID, month
        renewals.append(renewal)
    assert usage_lines(renewals[-1]) == {}

    # Everything adds up.
    issued = invoices.exclude(status__in=[InvoiceStatus.DRAFT, InvoiceStatus.VOID])
    documents = sum(invoice.subtotal_cents + invoice.tax_cents for invoice in issued) - (
        CreditNote.objects.filter(organization=organization).aggregate(total=Sum("total_cents"))["total"] or 0
    )
    paid = Payment.objects.filter(organization=organization, is_applied=True).aggregate(total=Sum("amount_cents"))
    refunded = Refund.objects.filter(payment__organization=organization, status="succeeded").aggregate(
        total=Sum("amount_cents")
    )
    cash = (paid["total"] or 0) - (refunded["total"] or 0)
    open_receivables = sum(invoice.amount_due_cents for invoice in issued.filter(status=InvoiceStatus.OPEN))
    outstanding = balance_of(organization=organization)[0]
    ledger = CreditLedgerEntry.objects.filter(organization=organization)
    granted = ledger.filter(kind="grant").aggregate(total=Sum("amount_cents"))["total"] or 0
    expired = -(ledger.filter(kind="expiry").aggregate(total=Sum("amount_cents"))["total"] or 0)
    assert (granted, expired) == (1000, 1000)
    assert documents == cash + open_receivables - outstanding + granted - expired
    # By hand: the invoices' lines and tax less the three credit notes.
    by_hand = 3299 + 5500 + 13529 + 1650 + 3299 + 550 + 3299 + 3299 + 8 * 3299 - (1650 + 5500 + 1100)
    assert documents == by_hand
    assert cash == 3299 + 3850 + 13529 + 3298 + 3299 + 8 * 3299 - 1100
    assert (open_receivables, outstanding) == (0, 0)
    assert Invoice.objects.filter(organization=organization, number__isnull=False).count() == issued.count() + 1
