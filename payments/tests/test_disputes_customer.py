"""Customer disputes (payments.disputes): opening one about an invoice or a credit charge,
messages, staff's moves through review, the confirmation email, and the chargebacks that
share the table."""

from __future__ import annotations

import uuid

import pytest
from django.core import mail
from django.db import IntegrityError, transaction

from billing_project.errors import Conflict, NotFound, ValidationFailed
from billing_project.testing import run_concurrently
from credits.services import credits_grant, credits_spend
from invoices.services import invoice_mark_paid, invoice_void
from invoices.tests.factories import InvoiceFactory
from payments import disputes
from payments.models import (
    Dispute,
    DisputeActor,
    DisputeEvent,
    DisputeEventKind,
    DisputeResolution,
    DisputeSource,
    DisputeStatus,
)
from payments.tests.factories import chargeback as chargeback_of

pytestmark = pytest.mark.django_db


def paid_invoice(org, amount=2999):
    invoice = InvoiceFactory(organization=org, lines=[amount], finalized=True)
    return invoice_mark_paid(invoice=invoice)


def spend_entry(org, amount=500, reference="job-7"):
    credits_grant(organization=org, amount_cents=10_000, reason="Goodwill")
    return credits_spend(organization=org, amount_cents=amount, reference=reference, idempotency_key=reference).entry


def open_about(org, user, *, invoice=None, entry=None, requested=0, reason="duplicate", description="Charged twice."):
    return disputes.dispute_open(
        organization=org,
        opened_by=user,
        reason=reason,
        description=description,
        requested_refund_cents=requested,
        invoice_id=invoice.pk if invoice else None,
        transaction_id=entry.pk if entry else None,
    )


@pytest.fixture
def owner_user(team):
    return team.users["owner"]


# --- opening -------------------------------------------------------------------------------------


def test_a_paid_invoice_is_disputed_with_its_history_started(team, owner_user):
    invoice = paid_invoice(team.org)
    dispute = open_about(team.org, owner_user, invoice=invoice, requested=2999)

    assert (dispute.source, dispute.status, dispute.invoice_id, dispute.credit_entry_id) == (
        DisputeSource.CUSTOMER,
        DisputeStatus.OPEN,
        invoice.pk,
        None,
    )
    assert (dispute.requested_refund_cents, dispute.amount_cents, dispute.currency) == (2999, 2999, invoice.currency)
    assert (dispute.gateway, dispute.reference, dispute.opened_by) == ("", "", owner_user)
    [event] = dispute.events.all()
    assert (event.kind, event.actor, event.author, event.from_status, event.to_status) == (
        DisputeEventKind.STATUS_CHANGED,
        DisputeActor.CUSTOMER,
        owner_user,
        "",
        DisputeStatus.OPEN,
    )


def test_a_credit_spend_is_disputed_up_to_what_it_took(team, owner_user):
    entry = spend_entry(team.org, amount=500)
    dispute = open_about(team.org, owner_user, entry=entry, requested=500, reason="service_not_provided")
    assert (dispute.credit_entry_id, dispute.invoice_id, dispute.requested_refund_cents) == (entry.pk, None, 500)

    with pytest.raises(ValidationFailed) as caught:
        open_about(team.org, owner_user, entry=spend_entry(team.org, 300, "job-8"), requested=301)
    assert "requested_refund_cents" in caught.value.details


def test_the_refund_asked_is_at_most_what_the_invoice_was_paid(team, owner_user):
    invoice = paid_invoice(team.org, 2999)
    with pytest.raises(ValidationFailed) as caught:
        open_about(team.org, owner_user, invoice=invoice, requested=3000)
    assert caught.value.details == {
        "requested_refund_cents": ["At most 2999 ($29.99): what was paid on " + invoice.number + "."]
    }
    assert not Dispute.objects.exists()


def test_an_open_invoice_can_be_disputed_without_a_refund(team, owner_user):
    invoice = InvoiceFactory(organization=team.org, lines=[2999], finalized=True)
    assert open_about(team.org, owner_user, invoice=invoice, reason="incorrect_amount").requested_refund_cents == 0
    other = InvoiceFactory(organization=team.org, lines=[1000], finalized=True)
    with pytest.raises(ValidationFailed):
        open_about(team.org, owner_user, invoice=other, requested=1)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"reason": "fraudulent"}, "reason"),
        ({"reason": ""}, "reason"),
        ({"description": ""}, "description"),
        ({"description": "   "}, "description"),
        ({"description": "x" * 2001}, "description"),
        ({"description": "nul \x00 inside"}, "description"),
        ({"description": "lone \ud800 surrogate"}, "description"),
        ({"requested_refund_cents": -1}, "requested_refund_cents"),
        ({"requested_refund_cents": 1.0}, "requested_refund_cents"),
        ({"requested_refund_cents": True}, "requested_refund_cents"),
        ({"requested_refund_cents": "10"}, "requested_refund_cents"),
        ({"invoice_id": "not-a-uuid"}, "invoice_id"),
    ],
)
def test_invalid_input_is_refused_per_field_and_nothing_is_written(team, owner_user, changes, field):
    invoice = paid_invoice(team.org)
    arguments = {
        "organization": team.org,
        "opened_by": owner_user,
        "reason": "duplicate",
        "description": "Charged twice.",
        "requested_refund_cents": 100,
        "invoice_id": invoice.pk,
        **changes,
    }
    with pytest.raises(ValidationFailed) as caught:
        disputes.dispute_open(**arguments)
    assert field in caught.value.details
    assert not Dispute.objects.exists()


def test_exactly_one_of_invoice_and_transaction(team, owner_user):
    invoice, entry = paid_invoice(team.org), spend_entry(team.org)
    for both_or_none in ({"invoice_id": invoice.pk, "transaction_id": entry.pk}, {}):
        with pytest.raises(ValidationFailed) as caught:
            disputes.dispute_open(
                organization=team.org,
                opened_by=owner_user,
                reason="other",
                description="Which one?",
                requested_refund_cents=0,
                **both_or_none,
            )
        assert set(caught.value.details) == {"invoice_id", "transaction_id"}


def test_another_organizations_invoice_or_transaction_is_not_found(team, other_team, owner_user):
    theirs_invoice, theirs_entry = paid_invoice(other_team.org), spend_entry(other_team.org)
    with pytest.raises(NotFound):
        open_about(team.org, owner_user, invoice=theirs_invoice)
    with pytest.raises(NotFound):
        open_about(team.org, owner_user, entry=theirs_entry)
    with pytest.raises(NotFound):
        disputes.dispute_open(
            organization=team.org,
            opened_by=owner_user,
            reason="other",
            description="Unknown.",
            requested_refund_cents=0,
            invoice_id=uuid.uuid4(),
        )
    assert not Dispute.objects.exists()


def test_drafts_are_not_found_and_void_invoices_are_refused(team, owner_user):
    draft = InvoiceFactory(organization=team.org, lines=[1000])
    with pytest.raises(NotFound):
        open_about(team.org, owner_user, invoice=draft)
    void = invoice_void(invoice=InvoiceFactory(organization=team.org, lines=[1000], finalized=True))
    with pytest.raises(ValidationFailed) as caught:
        open_about(team.org, owner_user, invoice=void)
    assert caught.value.details == {"invoice_id": ["A void invoice cannot be disputed."]}


def test_credit_that_came_in_is_not_disputable(team, owner_user):
    grant = credits_grant(organization=team.org, amount_cents=1000, reason="Goodwill")
    with pytest.raises(ValidationFailed) as caught:
        open_about(team.org, owner_user, entry=grant)
    assert "transaction_id" in caught.value.details


def test_one_unresolved_dispute_at_a_time_per_invoice_and_per_entry(team, owner_user):
    invoice, entry = paid_invoice(team.org), spend_entry(team.org)
    first = open_about(team.org, owner_user, invoice=invoice)
    open_about(team.org, owner_user, entry=entry)
    with pytest.raises(Conflict, match="already has an open dispute"):
        open_about(team.org, owner_user, invoice=invoice)
    with pytest.raises(Conflict):
        open_about(team.org, owner_user, entry=entry)

    disputes.dispute_transition(dispute=first, to_status=DisputeStatus.UNDER_REVIEW)
    with pytest.raises(Conflict):
        open_about(team.org, owner_user, invoice=invoice)
    disputes.dispute_transition(dispute=first, to_status=DisputeStatus.RESOLVED, resolution=DisputeResolution.REJECTED)
    assert open_about(team.org, owner_user, invoice=invoice).status == DisputeStatus.OPEN


def test_the_database_refuses_a_second_unresolved_dispute_of_one_invoice(team, owner_user):
    invoice = paid_invoice(team.org)
    open_about(team.org, owner_user, invoice=invoice)
    with pytest.raises(IntegrityError), transaction.atomic():
        Dispute.objects.create(
            organization=team.org, source=DisputeSource.CUSTOMER, invoice=invoice, reason="other", description="x"
        )


def test_the_database_refuses_a_customer_dispute_about_nothing_or_two_things(team):
    invoice, entry = paid_invoice(team.org), spend_entry(team.org)
    for about in ({}, {"invoice": invoice, "credit_entry": entry}):
        with pytest.raises(IntegrityError), transaction.atomic():
            Dispute.objects.create(organization=team.org, source=DisputeSource.CUSTOMER, reason="other", **about)


# --- the confirmation email --------------------------------------------------------------------


def test_opening_emails_the_billing_contacts_a_confirmation_with_the_link(
    team, owner_user, settings, django_capture_on_commit_callbacks, media_in_tmp
):
    settings.SITE_URL = "https://billing.example"
    team.org.billing_email = ""
    team.org.save(update_fields=["billing_email"])
    invoice = paid_invoice(team.org)
    with django_capture_on_commit_callbacks(execute=True):
        dispute = open_about(team.org, owner_user, invoice=invoice, requested=1500, description="Charged <twice>.")

    [message] = mail.outbox
    assert message.to == [owner_user.email]  # no billing email: the owners
    assert message.subject == f"Dispute opened: invoice {invoice.number}"
    link = f"https://billing.example/account/disputes/{dispute.pk}"
    assert link in message.body
    assert "$15.00" in message.body
    assert "Charged <twice>." in message.body  # plain text is not escaped
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    assert f'href="{link}"' in html
    assert "Charged &lt;twice&gt;." in html

    disputes.dispute_opened_email(dispute_id=dispute.pk)  # a retry sends nothing more
    assert len(mail.outbox) == 1


def test_the_confirmation_goes_to_the_billing_email_when_there_is_one(
    team, owner_user, django_capture_on_commit_callbacks
):
    team.org.billing_email = "accounts@acme.example"
    team.org.save(update_fields=["billing_email"])
    with django_capture_on_commit_callbacks(execute=True):
        open_about(team.org, owner_user, entry=spend_entry(team.org), requested=100)
    assert [message.to for message in mail.outbox] == [["accounts@acme.example"]]
    assert "spend of $5.00 (job-7)" in mail.outbox[0].subject


def test_a_failed_email_does_not_undo_the_dispute(team, owner_user, settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "billing_project.tests.does_not_exist.Backend"
    with django_capture_on_commit_callbacks(execute=True):
        dispute = open_about(team.org, owner_user, entry=spend_entry(team.org))
    assert Dispute.objects.filter(pk=dispute.pk).exists()
    assert mail.outbox == []


# --- messages and staff's moves ----------------------------------------------------------------


def test_messages_are_added_until_the_dispute_is_resolved(team, owner_user):
    dispute = open_about(team.org, owner_user, invoice=paid_invoice(team.org), requested=100)
    event = disputes.dispute_message_add(
        dispute=dispute, message="  Our statement shows two charges.  ", author=owner_user
    )
    assert (event.kind, event.actor, event.message) == (
        DisputeEventKind.MESSAGE,
        DisputeActor.CUSTOMER,
        "Our statement shows two charges.",
    )
    disputes.dispute_message_add(dispute=dispute, message="We are looking into it.", actor=DisputeActor.STAFF)

    disputes.dispute_transition(
        dispute=dispute, to_status=DisputeStatus.RESOLVED, resolution=DisputeResolution.REFUND, note="Refunded."
    )
    with pytest.raises(Conflict, match="resolved"):
        disputes.dispute_message_add(dispute=dispute, message="Thanks!", author=owner_user)
    assert [e.kind for e in dispute.events.all()] == ["status_changed", "message", "message", "status_changed"]


@pytest.mark.parametrize("message", ["", "   ", "x" * 2001, "a \x00 b"])
def test_a_message_must_be_storable_text_of_at_most_2000_characters(team, owner_user, message):
    dispute = open_about(team.org, owner_user, invoice=paid_invoice(team.org))
    with pytest.raises(ValidationFailed) as caught:
        disputes.dispute_message_add(dispute=dispute, message=message, author=owner_user)
    assert "message" in caught.value.details
    assert dispute.events.count() == 1


def test_staff_review_then_resolve_with_a_resolution_and_a_note(team, owner_user):
    dispute = open_about(team.org, owner_user, entry=spend_entry(team.org), requested=500)
    disputes.dispute_transition(dispute=dispute, to_status=DisputeStatus.UNDER_REVIEW)
    resolved = disputes.dispute_transition(
        dispute=dispute, to_status=DisputeStatus.RESOLVED, resolution=DisputeResolution.CREDIT, note="Credit returned."
    )
    assert (resolved.status, resolved.resolution, resolved.resolution_note) == (
        "resolved",
        "credit",
        "Credit returned.",
    )
    assert resolved.resolved_at is not None and resolved.closed_at == resolved.resolved_at
    assert resolved.is_resolved
    last = DisputeEvent.objects.filter(dispute=dispute).last()
    assert (last.actor, last.from_status, last.to_status, last.message) == (
        DisputeActor.STAFF,
        "under_review",
        "resolved",
        "Credit returned.",
    )


def test_moves_that_do_not_exist_are_refused(team, owner_user):
    dispute = open_about(team.org, owner_user, invoice=paid_invoice(team.org))
    with pytest.raises(ValidationFailed):
        disputes.dispute_transition(dispute=dispute, to_status=DisputeStatus.RESOLVED)  # no resolution
    with pytest.raises(ValidationFailed):
        disputes.dispute_transition(dispute=dispute, to_status=DisputeStatus.UNDER_REVIEW, resolution="refund")
    with pytest.raises(ValidationFailed):
        disputes.dispute_transition(dispute=dispute, to_status=DisputeStatus.WON)
    with pytest.raises(Conflict):
        disputes.dispute_transition(dispute=dispute, to_status=DisputeStatus.OPEN)
    disputes.dispute_transition(dispute=dispute, to_status=DisputeStatus.RESOLVED, resolution="rejected")
    with pytest.raises(Conflict):
        disputes.dispute_transition(dispute=dispute, to_status=DisputeStatus.UNDER_REVIEW)


# --- chargebacks in the same table ---------------------------------------------------------------


def chargeback(org, reference="du_1", status=DisputeStatus.OPEN):
    return chargeback_of(org, reference=reference, status=status)


def test_a_chargeback_is_read_only_here(team, owner_user):
    dispute = chargeback(team.org)
    assert dispute.source == DisputeSource.GATEWAY and dispute.is_chargeback
    with pytest.raises(Conflict):
        disputes.dispute_message_add(dispute=dispute, message="Hello", author=owner_user)
    with pytest.raises(Conflict):
        disputes.dispute_transition(dispute=dispute, to_status=DisputeStatus.UNDER_REVIEW)


def test_a_chargeback_does_not_block_a_customer_dispute_of_the_same_invoice(team, owner_user):
    dispute = chargeback(team.org)
    assert open_about(team.org, owner_user, invoice=dispute.invoice).status == DisputeStatus.OPEN


def test_a_gateway_reference_is_still_recorded_once_and_customer_disputes_need_none(team, owner_user):
    chargeback(team.org, reference="du_same")
    with pytest.raises(IntegrityError), transaction.atomic():
        chargeback(team.org, reference="du_same")
    open_about(team.org, owner_user, invoice=paid_invoice(team.org))
    open_about(team.org, owner_user, invoice=paid_invoice(team.org))  # both with reference ""
    assert Dispute.objects.filter(reference="").count() == 2


def test_the_history_of_a_chargeback_the_gateway_reported(team):
    dispute = chargeback(team.org)
    disputes.dispute_gateway_status_record(dispute=dispute, from_status="")
    dispute.status = DisputeStatus.WON
    dispute.save()
    disputes.dispute_gateway_status_record(dispute=dispute, from_status=DisputeStatus.OPEN)
    assert [(e.actor, e.from_status, e.to_status) for e in dispute.events.all()] == [
        ("system", "", "open"),
        ("system", "open", "won"),
    ]


# --- reads -------------------------------------------------------------------------------------------


def test_the_organizations_disputes_of_both_kinds_newest_first(team, other_team, owner_user, clock):
    clock.move_to("2026-11-01T10:00:00Z")
    gateway = chargeback(team.org)
    clock.move_to("2026-11-02T10:00:00Z")
    customer = open_about(team.org, owner_user, invoice=paid_invoice(team.org))
    chargeback(other_team.org, reference="du_theirs")

    assert list(disputes.disputes_of(organization=team.org)) == [customer, gateway]
    assert disputes.dispute_of(organization=team.org, dispute_id=customer.pk) == customer
    assert disputes.dispute_of(organization=other_team.org, dispute_id=customer.pk) is None
    assert disputes.dispute_of(organization=team.org, dispute_id="not-an-id") is None


def test_what_the_page_offers_to_dispute(team, owner_user):
    paid, open_one = paid_invoice(team.org), InvoiceFactory(organization=team.org, lines=[500], finalized=True)
    InvoiceFactory(organization=team.org, lines=[700])  # a draft
    void = invoice_void(invoice=InvoiceFactory(organization=team.org, lines=[900], finalized=True))
    spend = spend_entry(team.org)
    open_about(team.org, owner_user, invoice=paid)

    offered = disputes.disputable_invoices(organization=team.org)
    assert open_one in offered and paid not in offered and void not in offered and len(offered) == 1
    assert disputes.disputable_entries(organization=team.org) == [spend]  # not the grant


# --- concurrency (PostgreSQL) ---------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_openings_of_one_invoice_open_one_dispute(team, owner_user, media_in_tmp):
    invoice = paid_invoice(team.org)

    def attempt():
        try:
            return open_about(team.org, owner_user, invoice=invoice, requested=100).pk
        except Conflict:
            return "conflict"

    results = run_concurrently([attempt, attempt, attempt])
    assert sorted(results, key=str).count("conflict") == 2
    assert Dispute.objects.filter(invoice=invoice).count() == 1
