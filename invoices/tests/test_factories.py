"""InvoiceFactory stores invoices through the builder and, issued, through finalization:
the totals are the lines' sum, and an issued invoice is numbered and owes its total."""

import pytest

from invoices.models import InvoiceStatus
from invoices.tests.factories import InvoiceFactory, PendingLineItemFactory, manual_draft

pytestmark = pytest.mark.django_db


def test_a_draft_totals_its_lines():
    invoice = InvoiceFactory(lines=[1500, 500, -300])

    invoice.full_clean()
    invoice.check_lines()
    assert (invoice.status, invoice.number, invoice.currency) == (InvoiceStatus.DRAFT, None, "USD")
    assert [line.kind for line in invoice.lines.order_by("position")] == ["adjustment", "adjustment", "credit"]
    assert (invoice.subtotal_cents, invoice.total_cents) == (1700, 1700)


def test_an_issued_invoice_is_numbered_and_owes_its_total():
    invoice = InvoiceFactory(lines=[2999], finalized=True, organization__currency="EUR")

    invoice.full_clean()
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.number
    assert (invoice.currency, invoice.total_cents, invoice.amount_due_cents) == ("EUR", 2999, 2999)


def test_manual_draft_is_in_usd_unless_told():
    draft = manual_draft(InvoiceFactory().organization, 100, currency="IDR")

    assert (draft.currency, draft.subtotal_cents) == ("IDR", 100)


def test_a_pending_line_belongs_to_its_subscriptions_organization():
    item = PendingLineItemFactory(amount_cents=-250)

    item.full_clean()
    assert item.organization_id == item.subscription.organization_id
    assert item.unit_price == -250 and item.invoice is None


def test_an_unsaved_invoice_is_refused():
    with pytest.raises(TypeError, match="save_draft"):
        InvoiceFactory.build()
