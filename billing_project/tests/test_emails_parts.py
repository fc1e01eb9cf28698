"""Every email the product sends has a plain-text and an HTML part; the text has no HTML
entities and the HTML shows what a customer typed escaped; every link of either part goes
to a page of this site (or to the gateway's hosted page) whose route exists; the "invoice
issued" email of a paid invoice says paid, an open one what is due."""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.test import Client
from django.urls import Resolver404, resolve

from accounts.emails import password_reset_email_send
from billing.services import gateway_for, hosted_payment_create, invoice_collect
from billing_project.tests.world import CHECKOUT
from credits.services import credits_grant
from invoices.builder import period_invoice
from invoices.services import invoice_create, invoice_finalize
from invoices.tasks import send_invoice_issued_email, send_payment_reminder_email, send_subscription_canceled_email
from invoices.tests.factories import manual_draft
from organizations.emails import invitation_email_send
from organizations.tests.factories import InvitationFactory
from payments.models import PaymentKind
from payments.tasks import send_payment_failed_email, send_payment_link_email
from payments.tests.support import subscribe

pytestmark = pytest.mark.django_db

SITE = "https://billing.example.test"
SUCCESS = "http://localhost:3000/billing/success"  # an allowed redirect of the test settings
HOSTILE_NAME = "O'Brien & <b>Sons</b>"

URL_IN_TEXT = re.compile(r"https?://[^\s<>\"']+")
HREF = re.compile(r"""href="([^"]*)\"""")
TAG = re.compile(r"</?(p|a|br|table|tr|td|strong|code|html|body)\b")
ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")


@pytest.fixture(autouse=True)
def _site(settings):
    settings.SITE_URL = SITE
    settings.PASSWORD_RESET_URL = SITE + "/reset-password?token={token}"
    settings.INVITATION_URL = SITE + "/invitations/accept?token={token}"


@pytest.fixture
def hostile_org(org):
    org.name = HOSTILE_NAME
    org.billing_email = "billing@example.com"
    org.save()
    return org


def html_of(message) -> str:
    parts = [content for content, mimetype in message.alternatives if mimetype == "text/html"]
    assert len(parts) == 1, f"{message.subject}: one HTML part expected, found {len(parts)}"
    return parts[0]


def links_of(message) -> set[str]:
    """Every http(s) URL of the text part and of the HTML part (hrefs and visible text)."""
    text_links = set(URL_IN_TEXT.findall(message.body))
    page = html_of(message)
    html_links = {html.unescape(href) for href in HREF.findall(page) if not href.startswith("mailto:")}
    html_links |= {html.unescape(url) for url in URL_IN_TEXT.findall(page)}
    assert text_links == html_links, f"{message.subject}: the parts link to different places"
    return text_links


def only(subject_start: str):
    found = [message for message in mail.outbox if message.subject.startswith(subject_start)]
    assert len(found) == 1, [message.subject for message in mail.outbox]
    return found[0]


@pytest.fixture
def every_email(hostile_org, pro, user):
    """Each email the product sends, once, with the paths its links must go to."""
    expected = {}

    user.name = HOSTILE_NAME
    user.save()
    password_reset_email_send(email=user.email)
    expected["Reset your password"] = {"/reset-password"}

    invitation = InvitationFactory(organization=hostile_org, email="new@example.com")
    invitation_email_send(invitation_id=str(invitation.pk), token=invitation.token)
    expected["You are invited"] = {"/invitations/accept"}

    subscription = subscribe(hostile_org, pro, payment_method="pm_sandbox_decline")
    invoice = invoice_create(draft=period_invoice(subscription))
    invoice_page = f"/account/invoices/{invoice.pk}"
    failed = invoice_collect(invoice=invoice)
    send_invoice_issued_email(str(invoice.pk))
    expected[f"Invoice {invoice.number}"] = {invoice_page}
    send_payment_failed_email(str(failed.pk))
    expected["Payment failed"] = {invoice_page, "/account/payment"}
    send_payment_reminder_email(str(invoice.pk))
    expected["Payment due"] = {invoice_page, "/account/payment"}
    link = hosted_payment_create(
        invoice=invoice,
        gateway=gateway_for(None, invoice.currency, hostile_org),
        kind=PaymentKind.PAY_LINK,
        description=f"Invoice {invoice.number}",
    )
    send_payment_link_email(str(link.pk))
    expected["Pay invoice"] = {invoice_page, urlsplit(link.checkout_url).path}
    send_subscription_canceled_email(str(subscription.pk))
    expected["Your Pro subscription has ended"] = {"/account/plans"}
    return {only(start): paths for start, paths in expected.items()}, link.checkout_url


def test_every_email_has_a_text_and_an_html_part(every_email):
    emails, _ = every_email

    assert len(emails) == 7 == len(mail.outbox)
    for message in emails:
        page = html_of(message)
        assert page.lstrip().lower().startswith("<!doctype html>"), message.subject
        assert message.subject in html.unescape(page)  # the layout's title
        assert not TAG.search(message.body), (message.subject, TAG.search(message.body).group(0))


def test_plain_text_has_no_html_entities_and_html_escapes_what_customers_typed(every_email):
    emails, _ = every_email

    for message in emails:
        assert not ENTITY.search(message.body), (message.subject, ENTITY.search(message.body).group(0))
        page = html_of(message)
        assert "<b>Sons</b>" not in page, message.subject
        if HOSTILE_NAME in message.body:
            assert "O&#x27;Brien &amp; &lt;b&gt;Sons&lt;/b&gt;" in page, message.subject


def test_every_link_goes_to_a_page_of_this_site_or_to_the_gateway(every_email):
    emails, checkout_url = every_email
    unresolved = []

    for message, expected_paths in emails.items():
        links = links_of(message)
        assert links, f"{message.subject}: no link"
        for url in links:
            assert url == checkout_url or url.startswith(SITE + "/"), (message.subject, url)
        paths = {urlsplit(url).path for url in links}
        assert paths == expected_paths, message.subject
        for path in paths:
            try:
                resolve(path)
            except Resolver404:
                unresolved.append((message.subject, path))

    assert not unresolved, f"links to routes that do not exist: {unresolved}"


def test_the_reset_and_invitation_links_carry_their_token(every_email):
    emails, _ = every_email
    reset, invitation = (next(m for m in emails if m.subject.startswith(s)) for s in ("Reset", "You are"))

    for message in (reset, invitation):
        (link,) = links_of(message)
        token = re.search(r"token=([^&\s]+)", link).group(1)
        assert token in message.body


def test_the_reset_link_opens_the_reset_page(user):
    password_reset_email_send(email=user.email)
    (link,) = links_of(mail.outbox[0])

    page = Client().get(link.removeprefix(SITE))

    assert page.status_code == 200
    assert 'name="token"' in page.content.decode()


def test_an_open_invoice_says_what_is_due_by_when_and_links_to_pay(hostile_org, pro):
    subscription = subscribe(hostile_org, pro)
    subscription.payment_method = ""  # paid by link: no charge for the email to wait for
    subscription.save()
    invoice = invoice_create(draft=period_invoice(subscription))
    assert invoice.status == "open"

    send_invoice_issued_email(str(invoice.pk))

    message = only(f"Invoice {invoice.number}")
    assert message.subject == f"Invoice {invoice.number}"
    for part in (message.body, html.unescape(html_of(message))):
        assert "Amount due" in part and "$29.99" in part
        assert f"Due date: {invoice.due_date:%Y-%m-%d}" in part.replace('</td><td style="padding:3px 0;">', ": ")
        assert "Nothing to pay" not in part and "Paid on" not in part
    assert f"Pay {invoice.number}" in html_of(message)
    assert f"{SITE}/account/invoices/{invoice.pk}" in message.body


def test_an_invoice_paid_at_checkout_says_paid_not_amount_due(org, pro, team):
    org.billing_email = "billing@example.com"
    org.save()
    checkout = team.owner.post(
        CHECKOUT,
        {"plan_id": str(pro.pk), "success_url": SUCCESS, "cancel_url": SUCCESS},
        format="json",
    ).json()["data"]
    browser = Client()
    path = urlsplit(checkout["checkout_url"]).path
    browser.post(path, {"action": "pay"})
    invoice = org.invoices.get(status="paid")

    send_invoice_issued_email(str(invoice.pk))

    message = only(f"Invoice {invoice.number}")
    assert message.subject == f"Invoice {invoice.number}: paid"
    text = message.body
    assert "is paid" in text
    assert "Amount paid: $29.99" in text
    assert f"Paid on: {invoice.paid_at:%Y-%m-%d}" in text
    assert "Nothing to pay" in text
    assert "Amount due" not in text and "Due date" not in text
    page = html.unescape(html_of(message))
    assert "Amount paid" in page and "Paid on" in page and "Nothing to pay" in page
    assert "Amount due" not in page and "Pay " + invoice.number not in page


def test_an_invoice_covered_by_prepaid_credit_says_paid(hostile_org):
    credits_grant(organization=hostile_org, amount_cents=5000, reason="welcome")
    invoice = invoice_finalize(invoice=manual_draft(hostile_org, 2000))
    assert invoice.status == "paid" and invoice.total_cents == 0

    send_invoice_issued_email(str(invoice.pk))

    text = only(f"Invoice {invoice.number}").body
    assert "is paid" in text
    assert "after $20.00 of prepaid credit" in text
    assert "covered by prepaid credit" in text
    assert "Nothing to pay" in text
    assert "Amount due" not in text and "Amount paid" not in text


def test_the_checkout_invoice_is_announced_once_paid_on_the_gateways_page(
    org, pro, team, django_capture_on_commit_callbacks
):
    # No explicit send: what the customer receives from the checkout itself.
    org.billing_email = "billing@example.com"
    org.save()
    with django_capture_on_commit_callbacks(execute=True):
        checkout = team.owner.post(
            CHECKOUT, {"plan_id": str(pro.pk), "success_url": SUCCESS, "cancel_url": SUCCESS}, format="json"
        ).json()["data"]
    assert not [m for m in mail.outbox if m.subject.startswith("Invoice ")]  # not while the page is open
    with django_capture_on_commit_callbacks(execute=True):
        Client().post(urlsplit(checkout["checkout_url"]).path, {"action": "pay"})
    invoice = org.invoices.get(status="paid")

    issued = [m for m in mail.outbox if m.subject.startswith("Invoice ")]
    assert [m.subject for m in issued] == [f"Invoice {invoice.number}: paid"]
    assert "Amount due" not in issued[0].body and "Nothing to pay" in issued[0].body
