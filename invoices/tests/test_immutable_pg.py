"""Issued invoices and credit notes are immutable in the database (issue 12, item 8): on
PostgreSQL a trigger refuses any change to what an issued invoice says (its amounts,
lines, number, parties, period), whoever writes it, while its settlement moves on."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from invoices.models import CreditNote, Invoice, InvoiceLine
from invoices.services import invoice_mark_paid

from .helpers import manual_draft

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def issued(org) -> Invoice:
    from invoices.services import invoice_finalize

    return invoice_finalize(invoice=manual_draft(org, 1500, 500))


def refused(sql: str, params: list) -> str:
    with pytest.raises(DatabaseError) as caught, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return str(caught.value)


@pytest.mark.parametrize(
    "column, value",
    [
        ("total_cents", 1),
        ("subtotal_cents", 1),
        ("tax_cents", 5),
        ("credit_applied_cents", 5),
        ("number", "INV-2026-999999"),
        ("currency", "EUR"),
        ("status", "draft"),
        ("billing_tax_id", "DE999"),
        ("billing_address", "Elsewhere 2"),
    ],
)
def test_the_money_of_an_issued_invoice_cannot_be_updated(issued, column, value):
    extra = ", total_cents = subtotal_cents - credit_applied_cents + tax_cents" if column != "total_cents" else ""
    message = refused(f"UPDATE invoices_invoice SET {column} = %s{extra} WHERE id = %s", [value, issued.pk])

    assert "issued" in message
    issued.refresh_from_db()
    assert (issued.total_cents, issued.number) == (2000, issued.number)


def test_an_issued_invoice_cannot_be_deleted(issued):
    assert "cannot be deleted" in refused("DELETE FROM invoices_invoice WHERE id = %s", [issued.pk])


def test_the_lines_of_an_issued_invoice_cannot_change(issued):
    line = issued.lines.first()

    refused("UPDATE invoices_invoiceline SET amount_cents = 1 WHERE id = %s", [line.pk])
    refused("DELETE FROM invoices_invoiceline WHERE id = %s", [line.pk])
    with pytest.raises(DatabaseError), transaction.atomic():
        InvoiceLine.objects.create(invoice=issued, kind="adjustment", description="sneaked in", amount_cents=1)

    assert list(issued.lines.values_list("amount_cents", flat=True)) == [1500, 500]


def test_the_settlement_of_an_issued_invoice_moves_on(issued):
    paid = invoice_mark_paid(invoice=issued)

    paid.refresh_from_db()
    assert (paid.status, paid.amount_paid_cents) == ("paid", 2000)


def test_a_draft_stays_editable(org):
    draft = manual_draft(org, 700)

    Invoice.objects.filter(pk=draft.pk).update(subtotal_cents=800, total_cents=800)
    InvoiceLine.objects.filter(invoice=draft).update(amount_cents=800)
    draft.refresh_from_db()
    assert draft.total_cents == 800


def test_an_issued_credit_note_cannot_change(issued):
    from billing.credit_notes import CreditLine, credit_note_issue

    note = credit_note_issue(
        invoice=issued, lines=[CreditLine(description="goodwill", amount_cents=300)], reason="goodwill"
    )

    refused("UPDATE invoices_creditnote SET total_cents = 1, subtotal_cents = 1 WHERE id = %s", [note.pk])
    refused("DELETE FROM invoices_creditnote WHERE id = %s", [note.pk])
    refused("UPDATE invoices_creditnoteline SET amount_cents = 1 WHERE credit_note_id = %s", [note.pk])
    assert CreditNote.objects.get(pk=note.pk).total_cents == 300
