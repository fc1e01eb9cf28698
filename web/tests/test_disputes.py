"""/account/disputes (the list and the form to open one) and /account/disputes/<id> (the
history and the form to add a message)."""

from __future__ import annotations

import uuid

import pytest
from django.core import mail
from django.test import Client

from credits.services import credits_grant, credits_spend
from invoices.services import invoice_mark_paid, invoice_void
from invoices.tests.factories import InvoiceFactory
from payments import disputes
from payments.models import Dispute, DisputeEvent, DisputeResolution, DisputeStatus
from payments.tests.factories import chargeback as chargeback_of

from .conftest import form_key_of

pytestmark = pytest.mark.django_db

LIST = "/account/disputes"


def page_of(dispute) -> str:
    return f"/account/disputes/{dispute.pk}"


@pytest.fixture(autouse=True)
def _pdfs_in_tmp(media_in_tmp):
    """Paying invoices renders their PDFs: into a temporary directory."""


def paid_invoice(org, amount=2999):
    return invoice_mark_paid(invoice=InvoiceFactory(organization=org, lines=[amount], finalized=True))


def spend_entry(org, amount=500, reference="job-7"):
    credits_grant(organization=org, amount_cents=10_000, reason="Goodwill")
    return credits_spend(organization=org, amount_cents=amount, reference=reference, idempotency_key=reference).entry


def opened(team, invoice=None, entry=None, requested=0, description="Charged twice."):
    return disputes.dispute_open(
        organization=team.org,
        opened_by=team.users["owner"],
        reason="duplicate",
        description=description,
        requested_refund_cents=requested,
        invoice_id=invoice.pk if invoice else None,
        transaction_id=entry.pk if entry else None,
    )


def chargeback(org, reference="du_page"):
    return chargeback_of(org, reference=reference, status=DisputeStatus.LOST, reason="product_not_received")


def open_form(browser, **fields) -> dict:
    key = form_key_of(browser.get(LIST).content.decode())
    return {"idempotency_key": key, "reason": "duplicate", "description": "Charged twice.", **fields}


# --- the list --------------------------------------------------------------------------------------


def test_the_list_shows_both_kinds_with_their_real_figures(site, team):
    invoice = paid_invoice(team.org)
    mine = opened(team, invoice=invoice, requested=1500)
    theirs = chargeback(team.org)

    response = site("billing").get(LIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Disputes</h1>" in html
    assert f"Invoice {invoice.number}" in html and f'href="/account/invoices/{invoice.pk}"' in html
    assert "Charged twice" in html  # the reason's label
    assert "$15.00" in html and "Open" in html
    assert f'href="{page_of(mine)}"' in html
    assert f"Invoice {theirs.invoice.number}" in html and "Chargeback lost" in html and "$29.99" in html
    assert "Product not received" in html
    assert f'href="{page_of(theirs)}"' in html


def test_the_form_offers_the_organizations_issued_invoices_and_credit_charges(site, team, other_team):
    paid = paid_invoice(team.org)
    draft = InvoiceFactory(organization=team.org, lines=[700])
    void = invoice_void(invoice=InvoiceFactory(organization=team.org, lines=[900], finalized=True))
    spend = spend_entry(team.org, 500, "job-42")
    theirs = paid_invoice(other_team.org)

    html = site("owner").get(LIST).content.decode()
    assert f'value="invoice:{paid.pk}"' in html and paid.number in html and "paid $29.99" in html
    assert f'value="transaction:{spend.pk}"' in html and "Spend of $5.00 · job-42" in html
    for hidden in (draft, void, theirs):
        assert str(hidden.pk) not in html
    assert 'name="idempotency_key"' in html
    assert '<label for="id_description">' in html


def test_with_nothing_to_dispute_the_page_says_so(site):
    html = site("owner").get(LIST).content.decode()
    assert "No disputes so far." in html
    assert "There is nothing to dispute" in html


# --- opening one ------------------------------------------------------------------------------------


def test_open_a_dispute_about_an_invoice_then_see_it(site, team, django_capture_on_commit_callbacks):
    invoice = paid_invoice(team.org)
    browser = site("owner")
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(
            LIST, open_form(browser, about=f"invoice:{invoice.pk}", requested_refund="29.99", reason="incorrect_amount")
        )

    dispute = Dispute.objects.get()
    assert response.status_code == 302 and response["Location"] == page_of(dispute)
    assert (dispute.invoice_id, dispute.reason, dispute.requested_refund_cents) == (
        invoice.pk,
        "incorrect_amount",
        2999,
    )
    assert dispute.opened_by == team.users["owner"]
    [email] = mail.outbox
    assert page_of(dispute) in email.body
    page = browser.get(response["Location"]).content.decode()
    assert "Dispute opened." in page
    assert f"Dispute about Invoice {invoice.number}" in page and "$29.99" in page and "Charged twice." in page
    assert "Opened the dispute." in page


def test_open_a_dispute_about_a_credit_charge_without_a_refund(site, team):
    entry = spend_entry(team.org)
    browser = site("admin")
    response = browser.post(LIST, open_form(browser, about=f"transaction:{entry.pk}", requested_refund=""))
    assert response.status_code == 302
    dispute = Dispute.objects.get()
    assert (dispute.credit_entry_id, dispute.requested_refund_cents) == (entry.pk, 0)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"reason": ""}, "This field is required."),
        ({"reason": "fraudulent"}, "Select a valid choice."),
        ({"description": ""}, "This field is required."),
        ({"description": "x" * 2001}, "Ensure this value has at most 2000 characters"),
        ({"requested_refund": "-1"}, "greater than or equal to 0"),
        ({"requested_refund": "abc"}, "Enter a number."),
        ({"requested_refund": "1.001"}, "USD takes at most 2 decimals."),
        ({"requested_refund": "30.00"}, "At most 2999 ($29.99): what was paid on"),
        ({"about": ""}, "This field is required."),
        ({"about": f"invoice:{uuid.uuid4()}"}, "Select a valid choice."),
    ],
)
def test_invalid_input_is_a_400_with_the_message_and_nothing_is_written(site, team, fields, message):
    invoice = paid_invoice(team.org)
    browser = site("owner")
    response = browser.post(
        LIST, open_form(browser, **{"about": f"invoice:{invoice.pk}", "requested_refund": "5", **fields})
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Dispute.objects.exists()


def test_another_organizations_invoice_cannot_be_chosen(site, team, other_team):
    theirs = paid_invoice(other_team.org)
    form = {"idempotency_key": uuid.uuid4().hex, "about": f"invoice:{theirs.pk}", "reason": "other", "description": "x"}
    response = site("owner").post(LIST, form)
    assert response.status_code == 400
    assert "Select a valid choice." in response.content.decode()
    assert not Dispute.objects.exists()


def test_a_second_open_dispute_of_the_same_invoice_is_refused(site, team):
    invoice = paid_invoice(team.org)
    browser = site("owner")
    form = open_form(browser, about=f"invoice:{invoice.pk}")  # rendered while it was still disputable
    opened(team, invoice=invoice)
    response = browser.post(LIST, form)
    assert response.status_code == 400  # no longer offered
    assert Dispute.objects.count() == 1


def test_the_same_form_posted_twice_opens_one_dispute(site, team, django_capture_on_commit_callbacks):
    invoice = paid_invoice(team.org)
    browser = site("owner")
    form = open_form(browser, about=f"invoice:{invoice.pk}", requested_refund="10")
    with django_capture_on_commit_callbacks(execute=True):
        first = browser.post(LIST, form)
        second = browser.post(LIST, form)
    assert first.status_code == second.status_code == 302
    assert second["Location"] == first["Location"]
    assert second["Idempotent-Replayed"] == "true"
    assert Dispute.objects.count() == 1
    assert len(mail.outbox) == 1


def test_a_post_without_its_form_key_is_refused(site, team):
    invoice = paid_invoice(team.org)
    form = open_form(site("owner"), about=f"invoice:{invoice.pk}")
    del form["idempotency_key"]
    response = site("owner").post(LIST, form)
    assert response.status_code == 400
    assert not Dispute.objects.exists()


# --- who may -------------------------------------------------------------------------------------------


def test_not_signed_in_goes_to_the_login_page(team):
    dispute = opened(team, invoice=paid_invoice(team.org))
    for url in (LIST, page_of(dispute)):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"] == f"/login?next={url}"
    assert Client().post(LIST, {"reason": "other"}).status_code == 302
    assert Dispute.objects.count() == 1


def test_a_member_is_refused_and_nothing_is_written(site, team):
    invoice = paid_invoice(team.org)
    dispute = opened(team, invoice=invoice)
    member = site("member")
    assert member.get(LIST).status_code == 403
    assert member.get(page_of(dispute)).status_code == 403
    posted = member.post(LIST, {"idempotency_key": "k1", "about": f"invoice:{invoice.pk}", "reason": "other"})
    assert posted.status_code == 403
    assert member.post(page_of(dispute), {"idempotency_key": "k2", "message": "Hi"}).status_code == 403
    assert "cannot see this page" in member.get(LIST).content.decode()
    assert Dispute.objects.count() == 1 and DisputeEvent.objects.count() == 1


def test_another_organizations_dispute_is_not_found(site, other_team):
    theirs = disputes.dispute_open(
        organization=other_team.org,
        opened_by=other_team.users["owner"],
        reason="other",
        description="Theirs.",
        requested_refund_cents=0,
        transaction_id=spend_entry(other_team.org).pk,
    )
    browser = site("owner")
    assert browser.get(page_of(theirs)).status_code == 404
    response = browser.post(page_of(theirs), {"idempotency_key": "k", "message": "Hello"})
    assert response.status_code == 404
    assert theirs.events.count() == 1
    assert browser.get(f"/account/disputes/{uuid.uuid4()}").status_code == 404


# --- one dispute: history and messages -------------------------------------------------------------------


def test_the_history_and_a_message_added(site, team):
    dispute = opened(team, invoice=paid_invoice(team.org), requested=1000)
    disputes.dispute_transition(dispute=dispute, to_status=DisputeStatus.UNDER_REVIEW, note="Looking into it.")
    browser = site("billing")
    page = browser.get(page_of(dispute)).content.decode()
    assert "Under review" in page and "Looking into it." in page and "Support" in page
    assert "$10.00" in page

    key = form_key_of(page)
    response = browser.post(page_of(dispute), {"idempotency_key": key, "message": "Our bank statement agrees."})
    assert response.status_code == 302 and response["Location"] == page_of(dispute)
    again = browser.post(page_of(dispute), {"idempotency_key": key, "message": "Our bank statement agrees."})
    assert again.status_code == 302
    [message] = dispute.events.filter(kind="message")
    assert (message.message, message.author) == ("Our bank statement agrees.", team.users["billing"])
    shown = browser.get(page_of(dispute)).content.decode()
    assert "Message added." in shown and "Our bank statement agrees." in shown
    assert team.users["billing"].get_full_name() in shown


@pytest.mark.parametrize(("message", "error"), [("", "This field is required."), ("x" * 2001, "at most 2000")])
def test_an_invalid_message_is_a_400_with_the_error(site, team, message, error):
    dispute = opened(team, invoice=paid_invoice(team.org))
    browser = site("owner")
    key = form_key_of(browser.get(page_of(dispute)).content.decode())
    response = browser.post(page_of(dispute), {"idempotency_key": key, "message": message})
    assert response.status_code == 400
    assert error in response.content.decode()
    assert dispute.events.count() == 1


def test_a_resolved_dispute_shows_the_decision_and_takes_no_message(site, team):
    dispute = opened(team, entry=spend_entry(team.org), requested=500)
    browser = site("owner")
    key = form_key_of(browser.get(page_of(dispute)).content.decode())
    disputes.dispute_transition(
        dispute=dispute, to_status=DisputeStatus.RESOLVED, resolution=DisputeResolution.CREDIT, note="Credit returned."
    )
    page = browser.get(page_of(dispute)).content.decode()
    assert "Resolved: credited to the balance" in page and "Credit returned." in page
    assert 'name="message"' not in page

    response = browser.post(page_of(dispute), {"idempotency_key": key, "message": "Thanks"})
    assert response.status_code == 409
    assert "it takes no more messages" in response.content.decode()
    assert not dispute.events.filter(kind="message").exists()


def test_a_chargeback_page_is_read_only(site, team):
    dispute = chargeback(team.org)
    page = site("owner").get(page_of(dispute)).content.decode()
    assert "Chargeback about Invoice" in page and "Chargeback lost" in page and "$29.99" in page
    assert "decided by your card issuer" in page
    assert 'name="message"' not in page
    response = site("owner").post(page_of(dispute), {"idempotency_key": "k", "message": "Hello"})
    assert response.status_code == 409
    assert dispute.events.count() == 0
