"""Invoice PDFs: the document shows the number, the lines and the amounts, formatted for
the currency, and a PAID stamp once paid. Text is read back with pdftotext when it is
installed, else the HTML the PDF is rendered from is checked."""

from __future__ import annotations

import shutil
import subprocess
import time
from datetime import date
from decimal import Decimal

import pytest
from django.template.loader import render_to_string

from billing_project.money import format_money, format_unit_price
from billing_project.tests.world import subscribe
from invoices.pdf import invoice_context, invoice_pdf_bytes, invoice_pdf_store
from invoices.services import invoice_finalize, invoice_for_first_period, invoice_for_period_end, invoice_mark_paid
from organizations.tests.factories import OrganizationFactory
from plans.tests.factories import PlanFactory

from .helpers import add_golden_usage, manual_draft, utc

pytestmark = pytest.mark.django_db

NOW = utc(2026, 11, 1, 9)
PDFTOTEXT = shutil.which("pdftotext")


def text_of(invoice) -> str:
    """The invoice's words: pdftotext of the PDF, or its HTML without pdftotext."""
    if PDFTOTEXT:
        return pdf_text(invoice_pdf_bytes(invoice))
    return render_to_string("invoices/invoice.html", invoice_context(invoice))


def pdf_text(pdf: bytes) -> str:
    """The text of a PDF in content-stream order (`-raw` keeps the rotated stamp one word)."""
    assert pdf.startswith(b"%PDF")
    result = subprocess.run([PDFTOTEXT, "-raw", "-", "-"], input=pdf, capture_output=True, check=True, timeout=30)
    return result.stdout.decode()


def has_paid_stamp(text: str) -> bool:
    """The stamp is the word PAID on its own (the "Paid on" date label is upper-cased too)."""
    if PDFTOTEXT:
        return "PAID" in [line.strip() for line in text.splitlines()]
    return 'class="stamp">PAID<' in text


@pytest.fixture
def golden(org, pro):
    """The golden invoice with 11% tax: 6,864 + 755 = 7,619 cents, open."""
    org.tax_rate = Decimal("11")
    org.save()
    subscription = subscribe(org, pro, utc(2026, 10, 1))
    add_golden_usage(org, date(2026, 10, 15))
    return invoice_for_period_end(subscription=subscription, now=NOW)


# --- money formatting ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount, currency, expected",
    [
        (6864, "USD", "$68.64"),
        (123456, "USD", "$1,234.56"),
        (5, "USD", "$0.05"),
        (0, "USD", "$0.00"),
        (150000, "IDR", "Rp 150.000"),
        (1500000, "IDR", "Rp 1.500.000"),
    ],
)
def test_format_money(amount, currency, expected):
    assert format_money(amount, currency).replace("\xa0", " ") == expected


def test_a_fractional_unit_price_shows_every_digit():
    assert format_unit_price(Decimal("0.1"), "USD") == "$0.001"


# --- the document ----------------------------------------------------------------------------


def test_the_pdf_is_a_pdf(golden):
    assert invoice_pdf_bytes(golden).startswith(b"%PDF")


def test_pdftotext_is_used_where_it_is_installed():
    # Not a requirement of the product: documents which branch of text_of() ran.
    assert PDFTOTEXT is None or PDFTOTEXT.endswith("pdftotext")


def test_the_pdf_shows_the_number_and_the_amounts(golden):
    text = text_of(golden)

    assert "INV-2026-000001" in text
    for amount in ("$29.99", "$5.90", "$21.25", "$11.50", "$68.64", "$7.55", "$76.19"):
        assert amount in text, amount


def test_the_pdf_lists_each_line(golden):
    text = text_of(golden)

    for description in ("Pro plan, monthly", "Call minutes: 425 minutes", "SMS messages: 1,150 messages"):
        assert description in text, description
    assert "Telephony API calls: 5,900 calls" in text
    assert "$0.001" in text  # the API calls' unit price, a tenth of a cent


def test_the_pdf_shows_the_buyer_and_the_tax_rate(golden, org):
    text = text_of(golden)

    assert org.name in text
    assert "Tax (11%)" in text


def test_the_pdf_shows_applied_credits(org):
    from credits.services import credits_grant

    credits_grant(organization=org, amount_cents=1000, reason="welcome")
    invoice = invoice_finalize(invoice=manual_draft(org, 6864), now=NOW)

    text = text_of(invoice)

    assert "Prepaid credit applied" in text
    assert "-$10.00" in text
    assert "$58.64" in text


def test_an_idr_invoice_shows_rupiah_without_decimals(demo):
    organization = OrganizationFactory(currency="IDR", country="ID")
    plan = PlanFactory(name="Bisnis", price_cents=150_000, currency="IDR")
    invoice = invoice_for_first_period(subscription=subscribe(organization, plan, utc(2026, 10, 1)), now=NOW)

    text = text_of(invoice)

    assert "Rp 150.000" in text.replace("\xa0", " ")
    assert "150.000,00" not in text


def test_a_paid_invoice_has_a_paid_stamp(golden):
    paid = invoice_mark_paid(invoice=golden, now=NOW)

    assert has_paid_stamp(text_of(paid))


def test_an_open_invoice_has_no_paid_stamp(golden):
    assert not has_paid_stamp(text_of(golden))


def test_a_stored_pdf_is_rendered_again_once_paid(golden, django_capture_on_commit_callbacks):
    first = invoice_pdf_store(invoice_id=golden.pk).pdf
    storage, first_name = first.storage, first.name

    with django_capture_on_commit_callbacks(execute=True):
        invoice_mark_paid(invoice=golden, now=NOW)

    golden.refresh_from_db()
    assert golden.pdf.name != first_name
    assert not storage.exists(first_name)
    with golden.pdf.open("rb") as file:
        stored = file.read()
    assert stored.startswith(b"%PDF")
    if PDFTOTEXT:
        assert has_paid_stamp(pdf_text(stored))


def test_a_draft_is_not_rendered(org):
    draft = manual_draft(org, 1000)

    invoice_pdf_store(invoice_id=draft.pk)

    draft.refresh_from_db()
    assert not draft.pdf


def test_rendering_one_invoice_takes_under_a_second(golden):
    invoice_pdf_bytes(golden)  # warm-up: the first rendering of a process loads the fonts

    started = time.perf_counter()
    invoice_pdf_bytes(golden)
    elapsed = time.perf_counter() - started

    assert elapsed < 1.0, f"{elapsed:.3f} s"
