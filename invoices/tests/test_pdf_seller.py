"""The invoice PDF's seller (name, address, tax id, logo) comes from settings.SELLER, the
logo embedded from a file on disk with nothing fetched while rendering; the PAID and VOID
stamps sit beside the totals and cover no text (read back from the PDF with pdfplumber)."""

from __future__ import annotations

import io
import logging
import urllib.request
from datetime import date

import pdfplumber
import pytest
from PIL import Image

from billing.credit_notes import CreditLine, credit_note_issue
from billing_project.tests.world import subscribe
from credits.services import credits_grant
from invoices.pdf import credit_note_pdf_bytes, invoice_pdf_bytes
from invoices.services import invoice_finalize, invoice_for_period_end, invoice_mark_paid, invoice_void

from .helpers import add_golden_usage, manual_draft, utc

pytestmark = pytest.mark.django_db

NOW = utc(2026, 11, 1, 9)
SELLER = {
    "name": "Kestrel Telephony GmbH",
    "address": "Hafenstrasse 12\n20457 Hamburg\nGermany",
    "email": "invoices@kestrel.example",
    "tax_id": "DE123456789",
    "website": "kestrel.example",
    "logo": "",
}
HEADER_WORDS = {"DESCRIPTION", "QUANTITY", "UNIT", "PRICE", "AMOUNT"}


@pytest.fixture
def seller(settings):
    settings.SELLER = dict(SELLER)
    return settings.SELLER


@pytest.fixture
def golden(org, pro):
    """An open invoice of the golden usage on `pro`: four lines, subtotal $68.64."""
    subscription = subscribe(org, pro, utc(2026, 10, 1))
    add_golden_usage(org, date(2026, 10, 15))
    return invoice_for_period_end(subscription=subscription, now=NOW)


def png_logo(path, color=(200, 30, 40)) -> None:
    Image.new("RGB", (240, 80), color).save(path, format="PNG")


def pages_of(pdf: bytes):
    assert pdf.startswith(b"%PDF")
    return pdfplumber.open(io.BytesIO(pdf))


def text_of(pdf: bytes) -> str:
    with pages_of(pdf) as document:
        return "\n".join(page.extract_text() or "" for page in document.pages)


def intersects(a: tuple, b: tuple) -> bool:
    """Whether boxes (x0, top, x1, bottom) overlap."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def box_of(objects) -> tuple:
    return (
        min(o["x0"] for o in objects),
        min(o["top"] for o in objects),
        max(o["x1"] for o in objects),
        max(o["bottom"] for o in objects),
    )


def is_rotated(char) -> bool:
    """The stamp's letters are the page's only rotated text (its matrix has a skew)."""
    return abs(char["matrix"][1]) > 0.01


def stamp_and_words(pdf: bytes, stamp: str):
    """The stamp's box (its rotated letters and its rotated border, as drawn) and the boxes
    of every other word of the first page."""
    with pages_of(pdf) as document:
        page = document.pages[0]
        rotated = [char for char in page.chars if is_rotated(char)]
        assert "".join(char["text"] for char in rotated) == stamp
        color = rotated[0]["non_stroking_color"]
        border = [  # drawn as filled shapes of the letters' colour around them
            shape
            for shape in page.curves + page.rects
            if shape.get("non_stroking_color") == color and intersects(box_of([shape]), _grown(box_of(rotated), 25))
        ]
        stamp_box = box_of(rotated + border)
        upright = page.filter(lambda obj: obj["object_type"] != "char" or not is_rotated(obj))
        words = [
            (word["text"], (word["x0"], word["top"], word["x1"], word["bottom"])) for word in upright.extract_words()
        ]
    return stamp_box, border, words


def _grown(box: tuple, by: float) -> tuple:
    return (box[0] - by, box[1] - by, box[2] + by, box[3] + by)


# --- the seller ---------------------------------------------------------------------------


def test_the_seller_comes_from_settings(seller, golden):
    text = text_of(invoice_pdf_bytes(golden))

    for part in ("Kestrel Telephony GmbH", "Hafenstrasse 12", "20457 Hamburg", "invoices@kestrel.example"):
        assert part in text, part
    assert "Tax ID: DE123456789" in text
    assert "kestrel.example" in text
    assert "Your Company Ltd" not in text


def test_the_credit_note_shows_the_same_seller(seller, org):
    invoice = invoice_finalize(invoice=manual_draft(org, 5000), now=NOW)
    note = credit_note_issue(
        invoice=invoice, lines=[CreditLine(description="Goodwill", amount_cents=1000)], reason="goodwill"
    )

    text = text_of(credit_note_pdf_bytes(note))

    assert "Kestrel Telephony GmbH" in text and "Tax ID: DE123456789" in text


def test_a_png_logo_from_disk_is_embedded_in_the_header(seller, golden, tmp_path):
    png_logo(tmp_path / "logo.png")
    seller["logo"] = str(tmp_path / "logo.png")

    with pages_of(invoice_pdf_bytes(golden)) as document:
        page = document.pages[0]
        (image,) = page.images
        title = next(word for word in page.extract_words() if word["text"] == "Invoice")

    assert image["srcsize"] == (240, 80)
    assert image["bottom"] <= title["top"]  # above the title, at the top of the page
    assert image["top"] < page.height / 5


def test_an_svg_logo_is_drawn(seller, golden, tmp_path):
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40">'
        '<rect width="120" height="40" fill="#00ff00"/></svg>'
    )
    (tmp_path / "logo.svg").write_text(svg)
    seller["logo"] = str(tmp_path / "logo.svg")

    with pages_of(invoice_pdf_bytes(golden)) as document:
        page = document.pages[0]
        green = [rect for rect in page.rects if tuple(rect.get("non_stroking_color") or ()) == (0, 1, 0)]

    assert green, "the SVG logo's green rectangle is not on the page"
    assert green[0]["top"] < page.height / 5


def test_without_a_logo_there_is_no_image(seller, golden):
    with pages_of(invoice_pdf_bytes(golden)) as document:
        assert document.pages[0].images == []


def test_a_missing_logo_is_logged_and_the_invoice_still_renders(seller, golden, tmp_path, caplog):
    seller["logo"] = str(tmp_path / "nowhere.png")

    with caplog.at_level(logging.WARNING, logger="invoices.pdf"):
        pdf = invoice_pdf_bytes(golden)

    assert "nowhere.png" in caplog.text
    assert "Kestrel Telephony GmbH" in text_of(pdf)


def test_rendering_fetches_nothing_but_the_embedded_logo(seller, golden, tmp_path, monkeypatch):
    png_logo(tmp_path / "inner.png")
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="120" height="40">'
        '<image href="https://tracker.example/pixel.png" width="10" height="10"/>'
        f'<image xlink:href="file://{tmp_path / "inner.png"}" width="10" height="10"/>'
        '<rect width="120" height="40" fill="#0000ff"/></svg>'
    )
    (tmp_path / "logo.svg").write_text(svg)
    seller["logo"] = str(tmp_path / "logo.svg")
    golden.organization.name = '<img src="https://tracker.example/name.png">'
    golden.organization.save()
    opened = []
    real_open = urllib.request.OpenerDirector.open

    def spy(self, url, *args, **kwargs):
        opened.append(getattr(url, "full_url", url))
        return real_open(self, url, *args, **kwargs)

    monkeypatch.setattr(urllib.request.OpenerDirector, "open", spy)

    pdf = invoice_pdf_bytes(golden)

    assert opened and all(url.startswith("data:") for url in opened), opened
    assert pdf.startswith(b"%PDF")


# --- the stamp ----------------------------------------------------------------------------


def paid_invoice(golden):
    return invoice_mark_paid(invoice=golden, now=NOW)


def test_the_paid_stamp_covers_no_text(seller, golden, tmp_path):
    pdf = invoice_pdf_bytes(paid_invoice(golden))
    (tmp_path / "paid-invoice.pdf").write_bytes(pdf)

    stamp, border, words = stamp_and_words(pdf, "PAID")

    assert border, "the stamp's border was not found"
    header = [(text, box) for text, box in words if text in HEADER_WORDS]
    assert {text for text, _ in header} == HEADER_WORDS
    assert not [text for text, box in header if intersects(stamp, box)]
    covered = [text for text, box in words if intersects(stamp, box)]
    assert not covered, f"the stamp covers {covered}"


def test_the_stamp_sits_beside_the_totals(seller, golden):
    stamp, _, words = stamp_and_words(invoice_pdf_bytes(paid_invoice(golden)), "PAID")

    header_bottom = max(box[3] for text, box in words if text in HEADER_WORDS)
    subtotal = next(box for text, box in words if text == "Subtotal")
    assert stamp[1] > header_bottom  # below the lines table's column headers
    assert stamp[2] < subtotal[0]  # left of the totals
    assert stamp[1] < subtotal[3] + 60  # on the totals' level, not lost at the bottom


def test_the_void_stamp_covers_no_text(seller, golden):
    stamp, _, words = stamp_and_words(invoice_pdf_bytes(invoice_void(invoice=golden, now=NOW)), "VOID")

    assert not [text for text, box in words if intersects(stamp, box)]


def test_the_stamp_covers_no_text_with_a_long_seller_and_many_totals(settings, org, pro, tmp_path):
    settings.SELLER = {**SELLER, "address": "\n".join(f"Address line {n}" for n in range(1, 7))}
    png_logo(tmp_path / "logo.png")
    settings.SELLER["logo"] = str(tmp_path / "logo.png")
    credits_grant(organization=org, amount_cents=1000, reason="welcome")
    invoice = invoice_mark_paid(invoice=invoice_finalize(invoice=manual_draft(org, 6864, 1200, -500), now=NOW), now=NOW)

    stamp, _, words = stamp_and_words(invoice_pdf_bytes(invoice), "PAID")

    assert not [text for text, box in words if intersects(stamp, box)]
