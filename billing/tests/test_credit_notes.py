"""Credit notes (issue 12, item 6): an issued invoice is never edited; a credit note takes
an amount off it (its own gapless series, PDF, lines referencing the invoice) and sends
that amount back as a refund, to the credit balance, or off the open amount. Refunds
produce them; the API shows them with their invoice and on their own."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.credit_notes import CreditLine, credit_note_issue, credit_note_refund
from billing.tests.cycle_helpers import after_grace, cycle, cycle_invoices
from billing_project.errors import Conflict, ValidationFailed
from billing_project.testing import assert_ok as ok
from billing_project.tests.world import customer_create, member_of, people_client, utc
from credits.selectors import balance_of
from credits.services import credits_grant
from invoices.models import CreditNote, Invoice, InvoiceReason, InvoiceStatus
from invoices.services import invoice_reissue, invoice_void
from invoices.tests.factories import manual_draft
from organizations.models import Role
from payments.gateways.sandbox import PM_DECLINE
from payments.models import Payment
from payments.tests.factories import PaymentFactory, RefundFactory

pytestmark = pytest.mark.django_db

CREDIT_NOTES = "/api/v1/credit-notes"


def paid_first_invoice(customer, clock, *, at=None, tax: str = "0") -> Invoice:
    """A Pro checkout ($29.99, plus tax) paid on the sandbox page."""
    customer.organization.tax_rate = Decimal(tax)
    customer.organization.save()
    clock.move_to(at or utc(2026, 3, 2, 9), tick=False)
    customer.subscribe("pro")
    return Invoice.objects.get(subscription_id=customer.subscription_id, reason=InvoiceReason.SUBSCRIPTION_CREATE)


def base_fee_line(invoice: Invoice):
    return invoice.lines.get(kind="base_fee")


# --- refunds ------------------------------------------------------------------------------


def test_a_refund_produces_a_credit_note_and_the_invoice_shows_it(customer, clock):
    invoice = paid_first_invoice(customer, clock, tax="10")
    payment = Payment.objects.get(invoice=invoice, status="succeeded")

    refund = credit_note_refund(payment=payment, amount_cents=1100, reason="Customer asked")

    assert refund.status == "succeeded"
    note = refund.credit_note
    assert note.number == "CN-2026-000001"
    assert (note.reason, note.subtotal_cents, note.tax_cents, note.total_cents) == ("refund", 1000, 100, 1100)
    assert (note.refunded_cents, note.credited_cents, note.off_invoice_cents) == (1100, 0, 0)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.total_cents, invoice.post_payment_credited_cents) == ("paid", 3299, 1100)
    data = ok(customer.client().get(f"/api/v1/invoices/{invoice.pk}"))
    assert [(n["number"], n["total_cents"], n["refund_method"]) for n in data["credit_notes"]] == [
        ("CN-2026-000001", 1100, "refund")
    ]
    assert data["post_payment_credited_cents"] == 1100


def test_a_full_refund_credits_the_whole_invoice_and_nothing_more(customer, clock):
    invoice = paid_first_invoice(customer, clock)
    payment = Payment.objects.get(invoice=invoice, status="succeeded")

    credit_note_refund(payment=payment, reason="duplicate")

    assert CreditNote.objects.get(invoice=invoice).total_cents == 2999
    with pytest.raises(Conflict):
        credit_note_refund(payment=payment, amount_cents=1, reason="again")
    with pytest.raises(ValidationFailed):
        credit_note_issue(invoice=invoice, lines=[CreditLine(description="more", amount_cents=1)], reason="goodwill")


def test_a_refund_made_on_the_gateways_side_is_recorded_as_a_credit_note(customer, clock):
    from billing.services import _refund_settled

    invoice = paid_first_invoice(customer, clock)
    payment = Payment.objects.get(invoice=invoice, status="succeeded")
    refund = RefundFactory(payment=payment, amount_cents=999, reference="re_dashboard", reason="dashboard")

    _refund_settled(refund, status="succeeded")

    refund.refresh_from_db()
    assert refund.credit_note is not None
    assert (refund.credit_note.total_cents, refund.credit_note.refunded_cents) == (999, 999)


def test_an_overpayment_given_back_has_no_credit_note(customer, clock):
    from billing.services import payment_refund

    invoice = paid_first_invoice(customer, clock)
    duplicate = PaymentFactory(invoice=invoice, reference="sbx_dup", amount_cents=2999, succeeded=True)

    payment_refund(payment=duplicate, reason="paid twice", is_overpayment=True)

    assert not CreditNote.objects.exists()


# --- crediting paid and open invoices ----------------------------------------------------------


def test_a_paid_invoice_is_corrected_to_the_credit_balance(customer, clock):
    invoice = paid_first_invoice(customer, clock)
    line = base_fee_line(invoice)

    note = credit_note_issue(
        invoice=invoice,
        lines=[CreditLine(description="Billing error", amount_cents=999, invoice_line=line)],
        reason="billing_error",
        refund_method="credit",
    )

    assert (note.credited_cents, note.refunded_cents) == (999, 0)
    assert balance_of(organization=customer.organization)[0] == 999
    assert note.lines.get().invoice_line == line


def test_a_credit_note_on_an_open_invoice_lowers_what_is_owed_first(customer, clock):
    paid_first_invoice(customer, clock, at=utc(2026, 3, 2))
    customer.set_payment_method(PM_DECLINE)
    cycle(after_grace(utc(2026, 4, 2)), clock)
    renewal = cycle_invoices(customer.subscription).get()
    assert (renewal.status, renewal.amount_due_cents) == ("open", 2999)

    note = credit_note_issue(
        invoice=renewal,
        lines=[CreditLine(description="Goodwill", amount_cents=1000)],
        reason="goodwill",
        refund_method="refund",
    )

    assert (note.off_invoice_cents, note.refunded_cents) == (1000, 0)
    renewal.refresh_from_db()
    assert (renewal.status, renewal.total_cents, renewal.amount_due_cents) == ("open", 2999, 1999)
    link = ok(customer.client().post(f"/api/v1/invoices/{renewal.pk}/pay", format="json"))
    assert Payment.objects.get(pk=link["session_id"]).amount_cents == 1999

    credit_note_issue(invoice=renewal, lines=[CreditLine(description="The rest", amount_cents=1999)], reason="goodwill")
    renewal.refresh_from_db()
    assert (renewal.status, renewal.amount_due_cents, renewal.pre_payment_credited_cents) == ("paid", 0, 2999)


def test_prepaid_credit_that_paid_an_invoice_goes_back_with_its_expiry(customer, clock):
    clock.move_to(utc(2026, 3, 1), tick=False)
    credits_grant(organization=customer.organization, amount_cents=1000, reason="promo", expires_at=utc(2026, 3, 20))
    invoice = paid_first_invoice(customer, clock)
    assert (invoice.credit_applied_cents, invoice.total_cents) == (1000, 1999)

    note = credit_note_issue(
        invoice=invoice,
        lines=[CreditLine(description="Everything", amount_cents=2999, invoice_line=base_fee_line(invoice))],
        reason="billing_error",
        refund_method="credit",
    )

    # The 1,999 paid in money goes to the balance; the 1,000 of promo credit returns to its lot.
    assert (note.credited_cents, note.returned_credit_cents) == (1999, 1000)
    assert balance_of(organization=customer.organization)[0] == 2999
    lot_expiries = set(
        customer.organization.credit_lots.filter(remaining_cents__gt=0).values_list("expires_at", flat=True)
    )
    assert utc(2026, 3, 20) in lot_expiries


# --- documents ----------------------------------------------------------------------------------


def test_credit_notes_are_numbered_in_their_own_gapless_series(customer, clock):
    invoice = paid_first_invoice(customer, clock)
    numbers = [
        credit_note_issue(
            invoice=invoice, lines=[CreditLine(description=f"part {k}", amount_cents=100)], reason="goodwill"
        ).number
        for k in range(3)
    ]

    assert numbers == ["CN-2026-000001", "CN-2026-000002", "CN-2026-000003"]
    assert invoice.number == "INV-2026-000001"


def test_a_voided_period_is_reissued_as_a_new_invoice(customer, clock):
    paid_first_invoice(customer, clock, at=utc(2026, 3, 2))
    customer.set_payment_method(PM_DECLINE)
    cycle(after_grace(utc(2026, 4, 2)), clock)
    renewal = cycle_invoices(customer.subscription).get()
    invoice_void(invoice=renewal)

    reissued = invoice_reissue(invoice=renewal)

    assert reissued.corrects == renewal
    assert reissued.number != renewal.number
    assert (reissued.status, reissued.total_cents, reissued.period_start) == ("open", 2999, renewal.period_start)
    with pytest.raises(Conflict):
        invoice_reissue(invoice=renewal)


def test_an_invoice_that_stands_is_not_reissued(customer, clock):
    invoice = paid_first_invoice(customer, clock)

    with pytest.raises(Conflict):
        invoice_reissue(invoice=invoice)


def test_a_paid_invoice_fully_credited_can_be_reissued(customer, clock):
    invoice = paid_first_invoice(customer, clock)
    credit_note_refund(payment=Payment.objects.get(invoice=invoice, status="succeeded"), reason="wrong address")

    reissued = invoice_reissue(invoice=invoice)

    assert (reissued.status, reissued.total_cents) == ("open", 2999)


# --- API ------------------------------------------------------------------------------------------


@pytest.fixture
def note(customer, clock):
    invoice = paid_first_invoice(customer, clock)
    return credit_note_refund(
        payment=Payment.objects.get(invoice=invoice, status="succeeded"), amount_cents=500
    ).credit_note


def test_credit_notes_are_listed_and_shown(customer, note):
    listed = customer.client().get(CREDIT_NOTES)
    assert listed.status_code == 200
    body = listed.json()
    assert body["meta"]["total"] == 1
    assert body["data"][0]["number"] == note.number
    shown = ok(customer.client().get(f"{CREDIT_NOTES}/{note.pk}"))
    assert shown["invoice_id"] == str(note.invoice_id)
    assert [line["amount_cents"] for line in shown["lines"]] == [500]
    pdf = f"http://testserver/api/v1/credit-notes/{note.pk}/pdf"
    assert shown["pdf_url"] == pdf
    assert body["data"][0]["pdf_url"] == pdf  # absolute in the list too, as an invoice's
    by_invoice = customer.client().get(CREDIT_NOTES, {"invoice_id": str(note.invoice_id)}).json()
    assert by_invoice["meta"]["total"] == 1


def test_a_credit_note_pdf_is_served(customer, note):
    response = customer.client().get(f"{CREDIT_NOTES}/{note.pk}/pdf", HTTP_ACCEPT="application/pdf")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content).startswith(b"%PDF")


def test_credit_notes_need_authentication(customer, note, api_client):
    response = api_client.get(CREDIT_NOTES)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_members_without_billing_role_cannot_read_credit_notes(customer, note):
    member = member_of(customer.organization, Role.MEMBER)

    response = people_client(member, customer.organization).get(CREDIT_NOTES)

    assert response.status_code == 403


def test_another_organizations_credit_note_is_not_found(note, db):
    other = customer_create()

    assert other.client().get(f"{CREDIT_NOTES}/{note.pk}").status_code == 404
    assert other.client().get(f"{CREDIT_NOTES}/{note.pk}/pdf").status_code == 404
    assert other.client().get(CREDIT_NOTES).json()["meta"]["total"] == 0


def test_a_malformed_invoice_filter_is_a_400(customer, note):
    response = customer.client().get(CREDIT_NOTES, {"invoice_id": "not-a-uuid"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_a_draft_invoice_cannot_be_credited(customer, clock):
    draft = manual_draft(customer.organization, 500)

    with pytest.raises(Conflict):
        credit_note_issue(invoice=draft, lines=[CreditLine(description="x", amount_cents=100)], reason="other")
    assert draft.status == InvoiceStatus.DRAFT
