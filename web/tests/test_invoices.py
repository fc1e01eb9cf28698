"""The invoices pages: the list (status filter, pages, credit notes), one invoice (lines,
totals, credit notes, payments, refunds), its PDF and a credit note's, and Pay through the
sandbox's hosted page; per role, per organization, once per form."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.utils import timezone

from billing.credit_notes import CreditLine, credit_note_issue
from billing_project.tests.world import subscribe
from invoices.models import Invoice, InvoiceStatus
from invoices.rating import RatedLine
from invoices.services import invoice_mark_paid
from invoices.tests.factories import InvoiceFactory
from organizations.models import Role
from payments.models import Payment, PaymentStatus

from .conftest import form_key_of, site_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_in_tmp")]


def issued(organization, *amounts: int, now=None) -> Invoice:
    """An open invoice of `organization` with one line per amount."""
    return InvoiceFactory(organization=organization, lines=amounts, finalized=True, now=now)


def usage_line() -> RatedLine:
    return RatedLine(
        kind="usage",
        description="Call minutes",
        quantity=Decimal(1250),
        unit_price=Decimal("0.8"),
        amount_cents=1000,
    )


def body(response) -> str:
    return response.content.decode()


def sandbox_path(url: str) -> str:
    assert url.startswith(settings.SITE_URL + "/sandbox/checkout/"), url
    return urlparse(url).path


# --- the list ---------------------------------------------------------------------------


def test_the_list_shows_issued_invoices_newest_first_with_their_amounts(site, team):
    older = issued(team.org, 1000, now=timezone.now() - timedelta(days=40))
    newer = issued(team.org, 2999)
    invoice_mark_paid(invoice=older)
    InvoiceFactory(organization=team.org, lines=[5000])  # a draft: never shown

    page = site("billing").get("/account/invoices")

    assert page.status_code == 200
    html = body(page)
    assert html.index(newer.number) < html.index(older.number)
    assert "$29.99" in html and "$10.00" in html
    assert "$50.00" not in html
    assert f"Pay {newer.number}" in html and f"Pay {older.number}" not in html
    assert ">Paid<" in html and ">Open<" in html


def test_the_status_filter_shows_one_status(site, team):
    open_one = issued(team.org, 1000)
    paid_one = issued(team.org, 2000)
    invoice_mark_paid(invoice=paid_one)

    html = body(site().get("/account/invoices?status=paid"))

    assert paid_one.number in html and open_one.number not in html
    assert '<option value="paid" selected>' in html


def test_an_unknown_status_is_a_400_saying_so(site, team):
    issued(team.org, 1000)

    page = site().get("/account/invoices?status=bogus")

    assert page.status_code == 400
    assert "is not a valid choice." in body(page)


def test_the_list_has_pages_of_25(site, team):
    invoices = [issued(team.org, 100 + index) for index in range(27)]

    first = body(site().get("/account/invoices"))
    second = body(site().get("/account/invoices?page=2"))

    assert "Page 1 of 2 (27 invoices)" in first
    assert invoices[-1].number in first and invoices[0].number not in first
    assert invoices[0].number in second and invoices[-1].number not in second
    assert 'href="?page=2"' in first


def test_the_list_shows_the_credit_notes(site, team):
    invoice = issued(team.org, 5000)
    note = credit_note_issue(
        invoice=invoice, lines=[CreditLine(description="Goodwill", amount_cents=1500)], reason="goodwill"
    )

    html = body(site("admin").get("/account/invoices"))

    assert note.number in html
    assert f"/account/credit-notes/{note.pk}.pdf" in html
    assert "$15.00 off the amount due" in html


def test_signed_out_the_list_sends_to_sign_in():
    from django.test import Client

    page = Client().get("/account/invoices")

    assert page.status_code == 302
    assert page["Location"] == "/login?next=/account/invoices"


def test_a_member_is_refused_the_list(site, team):
    invoice = issued(team.org, 1000)

    page = site("member").get("/account/invoices")

    assert page.status_code == 403
    assert invoice.number not in body(page)
    assert "cannot see this page" in body(page)


def test_another_organizations_invoices_are_not_listed(site, team, other_team):
    theirs = issued(other_team.org, 1000)

    assert theirs.number not in body(site().get("/account/invoices"))


# --- one invoice ------------------------------------------------------------------------


def test_an_invoice_shows_its_lines_totals_credit_notes_and_payments(site, team):
    team.org.tax_rate = Decimal("10")
    team.org.save()
    invoice = InvoiceFactory(organization=team.org, lines=[usage_line(), 2000], finalized=True)
    note = credit_note_issue(
        invoice=invoice, lines=[CreditLine(description="Sorry", amount_cents=500)], reason="goodwill"
    )
    Payment.objects.create(
        organization=team.org,
        invoice=invoice,
        gateway="sandbox",
        kind="off_session",
        reference="sbx_pi_declined",
        amount_cents=invoice.amount_due_cents,
        currency="USD",
        status=PaymentStatus.FAILED,
        failure_reason="card_declined: The card was declined.",
    )
    invoice.refresh_from_db()

    page = site("billing").get(f"/account/invoices/{invoice.pk}")

    assert page.status_code == 200
    html = body(page)
    assert "Call minutes" in html and "1,250" in html
    assert "$0.008" in html  # the unit price of 0.8 cents
    assert "$30.00" in html  # subtotal
    assert "Tax (10%)" in html and "$3.00" in html
    assert note.number in html and f"/account/credit-notes/{note.pk}.pdf" in html
    assert "card_declined: The card was declined." in html and ">Failed<" in html
    assert f"/account/invoices/{invoice.pk}.pdf" in html
    assert f"Pay {invoice.number}" in html
    assert invoice.amount_due_cents == 3300 - 550
    assert "$27.50" in html


def test_a_paid_invoice_has_no_pay_button(site, team):
    invoice = issued(team.org, 1000)
    invoice_mark_paid(invoice=invoice)

    html = body(site().get(f"/account/invoices/{invoice.pk}"))

    assert f"Pay {invoice.number}" not in html
    assert "Download PDF" in html


def test_another_organizations_invoice_and_a_draft_are_404(site, team, other_team):
    theirs = issued(other_team.org, 1000)
    draft = InvoiceFactory(organization=team.org, lines=[1000])
    client = site()

    assert client.get(f"/account/invoices/{theirs.pk}").status_code == 404
    assert client.get(f"/account/invoices/{draft.pk}").status_code == 404
    assert client.get(f"/account/invoices/{theirs.pk}.pdf").status_code == 404


def test_a_member_is_refused_an_invoice_and_its_pdf(site, team):
    invoice = issued(team.org, 1000)
    client = site("member")

    assert client.get(f"/account/invoices/{invoice.pk}").status_code == 403
    assert client.get(f"/account/invoices/{invoice.pk}.pdf").status_code == 403


def test_the_pdf_downloads(site, team):
    invoice = issued(team.org, 1000)

    response = site("billing").get(f"/account/invoices/{invoice.pk}.pdf")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'inline; filename="{invoice.number}.pdf"'
    assert b"".join(response.streaming_content).startswith(b"%PDF")


def test_a_credit_note_pdf_downloads_for_its_organization_only(site, team, other_team):
    note = credit_note_issue(
        invoice=issued(team.org, 1000), lines=[CreditLine(description="Sorry", amount_cents=100)], reason="goodwill"
    )
    theirs = credit_note_issue(
        invoice=issued(other_team.org, 1000), lines=[CreditLine(description="x", amount_cents=100)], reason="goodwill"
    )

    response = site().get(f"/account/credit-notes/{note.pk}.pdf")

    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert site().get(f"/account/credit-notes/{theirs.pk}.pdf").status_code == 404
    assert site("member").get(f"/account/credit-notes/{note.pk}.pdf").status_code == 403


# --- Pay --------------------------------------------------------------------------------


def pay(client, invoice, key: str | None = None):
    if key is None:
        key = form_key_of(body(client.get(f"/account/invoices/{invoice.pk}")))
    return client.post(f"/account/invoices/{invoice.pk}/pay", {"idempotency_key": key})


def test_pay_goes_to_the_sandbox_page_and_back_to_the_paid_invoice(site, team):
    invoice = issued(team.org, 2999)
    client = site("billing")

    response = pay(client, invoice)

    assert response.status_code == 302
    payment = Payment.objects.get(invoice=invoice)
    assert response["Location"] == payment.checkout_url
    assert payment.success_url == f"{settings.SITE_URL}/account/invoices/{invoice.pk}"
    checkout = sandbox_path(response["Location"])
    assert "$29.99" in body(client.get(checkout))
    back = client.post(checkout, {"action": "pay"})
    assert back.status_code == 302
    assert back["Location"] == f"{payment.success_url}?session_id={payment.pk}"
    returned = client.get(urlparse(back["Location"]).path, {"session_id": str(payment.pk)})
    assert "Payment of $29.99 received." in body(returned)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert ">Succeeded<" in body(returned)


def test_a_declined_payment_comes_back_to_the_invoice_saying_so(site, team):
    invoice = issued(team.org, 2999)
    client = site()
    checkout = sandbox_path(pay(client, invoice)["Location"])

    back = client.post(checkout, {"action": "decline"})

    payment = Payment.objects.get(invoice=invoice)
    returned = client.get(urlparse(back["Location"]).path, {"session_id": str(payment.pk)})
    assert "The payment was declined (card_declined: The card was declined.)" in body(returned)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN


def test_the_same_pay_form_posted_twice_opens_one_payment(site, team):
    invoice = issued(team.org, 2999)
    client = site()
    key = form_key_of(body(client.get(f"/account/invoices/{invoice.pk}")))

    first = pay(client, invoice, key)
    second = pay(client, invoice, key)

    assert Payment.objects.filter(invoice=invoice).count() == 1
    assert second.status_code == 302 and second["Location"] == first["Location"]
    assert second["Idempotent-Replayed"] == "true"


def test_the_home_pages_pay_button_posts_here(site, team, pro):
    subscribe(team.org, pro)
    invoice = issued(team.org, 2999)
    client = site()
    home = body(client.get("/account/"))
    assert f'action="/account/invoices/{invoice.pk}/pay"' in home

    response = client.post(f"/account/invoices/{invoice.pk}/pay", {"idempotency_key": form_key_of(home)})

    assert response.status_code == 302
    assert response["Location"] == Payment.objects.get(invoice=invoice).checkout_url


def test_paying_a_paid_invoice_says_so_and_opens_nothing(site, team):
    invoice = issued(team.org, 1000)
    client = site()
    key = form_key_of(body(client.get(f"/account/invoices/{invoice.pk}")))
    invoice_mark_paid(invoice=invoice)

    response = pay(client, invoice, key)

    assert response.status_code == 302 and response["Location"] == f"/account/invoices/{invoice.pk}"
    assert "This invoice is already paid." in body(client.get(response["Location"]))
    assert not Payment.objects.filter(invoice=invoice).exists()


def test_a_member_cannot_pay(site, team):
    invoice = issued(team.org, 1000)
    key = form_key_of(body(site().get(f"/account/invoices/{invoice.pk}")))

    response = site("member").post(f"/account/invoices/{invoice.pk}/pay", {"idempotency_key": key})

    assert response.status_code == 403
    assert not Payment.objects.exists()


def test_paying_another_organizations_invoice_is_404(site, other_team):
    theirs = issued(other_team.org, 1000)

    response = site().post(f"/account/invoices/{theirs.pk}/pay", {"idempotency_key": "a" * 32})

    assert response.status_code == 404
    assert not Payment.objects.exists()


def test_pay_without_a_form_key_is_refused(site, team):
    invoice = issued(team.org, 1000)

    response = site().post(f"/account/invoices/{invoice.pk}/pay", {})

    assert response.status_code == 400
    assert "This form is out of date" in body(response)
    assert not Payment.objects.exists()


def test_signed_out_pay_sends_to_sign_in_and_opens_nothing(team):
    from django.test import Client

    invoice = issued(team.org, 1000)

    response = Client().post(f"/account/invoices/{invoice.pk}/pay", {"idempotency_key": "a" * 32})

    assert response.status_code == 302 and response["Location"].startswith("/login?next=")
    assert not Payment.objects.exists()


def test_pay_is_post_only(site, team):
    invoice = issued(team.org, 1000)

    assert site().get(f"/account/invoices/{invoice.pk}/pay").status_code == 405


def test_every_pay_button_says_which_invoice(site, team):
    invoices = [issued(team.org, 1000), issued(team.org, 2000)]

    html = body(site().get("/account/invoices"))

    buttons = re.findall(r"<button[^>]*>(Pay [^<]+)</button>", html)
    assert sorted(buttons) == sorted(f"Pay {invoice.number}" for invoice in invoices)


def test_a_personal_organization_switch_shows_its_own_invoices(team):
    owner = team.users[Role.OWNER]
    personal = owner.memberships.exclude(organization=team.org).get().organization
    mine = issued(personal, 700)
    teams = issued(team.org, 800)

    html = body(site_client(owner, personal).get("/account/invoices"))

    assert mine.number in html and teams.number not in html
