"""Customer disputes: the writes (open, message, move through review) and the reads.

A customer disputes one issued invoice of their organization or one charge to its credit
balance; staff review it and resolve it as a refund, a credit or a rejection. Chargebacks
(gateway disputes) share the table and the lists but are written by billing.services from
the gateway's webhooks: nothing here changes their status.

Every write is one transaction that appends to the dispute's history (DisputeEvent). Moving
the money of a refund or credit resolution spans apps and is billing's to do, in the same
transaction as `dispute_transition(..., to_status=RESOLVED, resolution=...)`.
"""

from __future__ import annotations

import logging
import uuid
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from billing_project.api.text import text_problem
from billing_project.errors import Conflict, NotFound, ValidationFailed
from billing_project.money import format_money
from credits.models import CreditLedgerEntry
from invoices.emails import email_send_once
from invoices.models import Invoice, InvoiceStatus
from organizations.models import Organization

from .models import (
    UNRESOLVED_STATUSES,
    Dispute,
    DisputeActor,
    DisputeEvent,
    DisputeEventKind,
    DisputeReason,
    DisputeResolution,
    DisputeSource,
    DisputeStatus,
)

logger = logging.getLogger(__name__)

MAX_TEXT = 2000
# Far above any real charge, far below the 64-bit column (as credits.services.MAX_AMOUNT_CENTS).
MAX_AMOUNT_CENTS = 10**12
# Invoices a dispute may be about: issued and not voided (drafts are internal; a void one is owed by no one).
DISPUTABLE_INVOICE_STATUSES = (InvoiceStatus.OPEN, InvoiceStatus.PAID, InvoiceStatus.UNCOLLECTIBLE)
# Staff's moves of a customer dispute; resolved is final.
TRANSITIONS = {
    DisputeStatus.OPEN: (DisputeStatus.UNDER_REVIEW, DisputeStatus.RESOLVED),
    DisputeStatus.UNDER_REVIEW: (DisputeStatus.OPEN, DisputeStatus.RESOLVED),
    DisputeStatus.RESOLVED: (),
}


# --- checks ------------------------------------------------------------------------------


def _check_text(value, *, field: str) -> str:
    """Required text of at most MAX_TEXT characters that a database can store."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed.for_field(field, "This field is required.")
    value = value.strip()
    if len(value) > MAX_TEXT:
        raise ValidationFailed.for_field(field, f"At most {MAX_TEXT} characters.")
    problem = text_problem(value)
    if problem:
        raise ValidationFailed.for_field(field, problem)
    return value


def _check_uuid(value, *, field: str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise ValidationFailed.for_field(field, "Must be a valid UUID.") from None


def _check_requested(value, *, maximum: int, currency: str, what: str) -> int:
    field = "requested_refund_cents"
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed.for_field(field, "A whole number of minor units is required.")
    if value < 0:
        raise ValidationFailed.for_field(field, "Must be zero or more.")
    if value > maximum:
        raise ValidationFailed.for_field(field, f"At most {maximum} ({format_money(maximum, currency)}): what {what}.")
    return value


def is_disputable_entry(entry: CreditLedgerEntry) -> bool:
    """A charge to the credit balance: an entry that took credit (a spend, credit applied to
    an invoice, an expiry, a debit adjustment)."""
    return entry.amount_cents < 0


# --- writes ------------------------------------------------------------------------------


def _event(dispute: Dispute, *, kind: str, actor: str, author=None, **fields) -> DisputeEvent:
    return DisputeEvent.objects.create(dispute=dispute, kind=kind, actor=actor, author=author, **fields)


def _subject_of(*, organization: Organization, invoice_id, transaction_id) -> dict:
    """What the dispute is about, as Dispute fields; NotFound for another organization's."""
    if (invoice_id is None) == (transaction_id is None):
        message = "Give invoice_id or transaction_id (one of them)."
        raise ValidationFailed(message, details={"invoice_id": [message], "transaction_id": [message]})
    if invoice_id is not None:
        invoice_id = _check_uuid(invoice_id, field="invoice_id")
        invoice = (
            Invoice.objects.filter(organization=organization, pk=invoice_id).exclude(status=InvoiceStatus.DRAFT).first()
        )
        if invoice is None:
            raise NotFound("Invoice not found.")
        if invoice.status not in DISPUTABLE_INVOICE_STATUSES:
            raise ValidationFailed.for_field("invoice_id", f"A {invoice.status} invoice cannot be disputed.")
        return {
            "invoice": invoice,
            "currency": invoice.currency,
            "maximum": invoice.amount_paid_cents,
            "what": f"was paid on {invoice.number}",
        }
    transaction_id = _check_uuid(transaction_id, field="transaction_id")
    entry = CreditLedgerEntry.objects.filter(organization=organization, pk=transaction_id).first()
    if entry is None:
        raise NotFound("Transaction not found.")
    if not is_disputable_entry(entry):
        raise ValidationFailed.for_field(
            "transaction_id", "Only a charge to the credit balance can be disputed, not credit that came in."
        )
    return {
        "credit_entry": entry,
        "currency": entry.currency,
        "maximum": -entry.amount_cents,
        "what": "the transaction took",
    }


def dispute_open(
    *,
    organization: Organization,
    opened_by,
    reason: str,
    description: str,
    requested_refund_cents: int,
    invoice_id=None,
    transaction_id=None,
) -> Dispute:
    """Open a customer dispute about one issued invoice (`invoice_id`) or one charge to the
    credit balance (`transaction_id`) of `organization`, asking back at most what it took.
    Another organization's is NotFound; a second unresolved dispute of the same one is
    Conflict. The billing contacts get a confirmation email once it is committed."""
    if reason not in DisputeReason.values:
        raise ValidationFailed.for_field("reason", f"Must be one of: {', '.join(DisputeReason.values)}.")
    description = _check_text(description, field="description")
    subject = _subject_of(organization=organization, invoice_id=invoice_id, transaction_id=transaction_id)
    requested = _check_requested(
        requested_refund_cents, maximum=subject.pop("maximum"), currency=subject["currency"], what=subject.pop("what")
    )
    about = "invoice" if "invoice" in subject else "transaction"
    unresolved = Dispute.objects.filter(source=DisputeSource.CUSTOMER, status__in=UNRESOLVED_STATUSES)
    if unresolved.filter(
        **{key: value for key, value in subject.items() if key in ("invoice", "credit_entry")}
    ).exists():
        raise Conflict(f"This {about} already has an open dispute.")
    try:
        with transaction.atomic():
            dispute = Dispute.objects.create(
                organization=organization,
                source=DisputeSource.CUSTOMER,
                status=DisputeStatus.OPEN,
                reason=reason,
                description=description,
                requested_refund_cents=requested,
                amount_cents=requested,
                opened_by=opened_by,
                **subject,
            )
            _event(
                dispute,
                kind=DisputeEventKind.STATUS_CHANGED,
                actor=DisputeActor.CUSTOMER,
                author=opened_by,
                to_status=DisputeStatus.OPEN,
            )
    except IntegrityError:
        # A concurrent opening won the race for payments_dispute_one_open_per_invoice / _per_entry.
        raise Conflict(f"This {about} already has an open dispute.") from None
    transaction.on_commit(partial(_confirmation_send, dispute.pk))
    return dispute


def _locked_customer_dispute(dispute: Dispute) -> Dispute:
    locked = Dispute.objects.select_for_update().get(pk=dispute.pk)
    if locked.source != DisputeSource.CUSTOMER:
        raise Conflict("A chargeback is decided by the card issuer through the gateway, not here.")
    return locked


@transaction.atomic
def dispute_message_add(
    *, dispute: Dispute, message: str, author=None, actor: str = DisputeActor.CUSTOMER
) -> DisputeEvent:
    """Add a message to an unresolved customer dispute's history, from the customer
    (`author`) or from staff (`actor=STAFF`). A resolved dispute or a chargeback is Conflict."""
    message = _check_text(message, field="message")
    if actor not in DisputeActor.values:
        raise ValueError(f"actor must be one of {DisputeActor.values}")
    dispute = _locked_customer_dispute(dispute)
    if dispute.status not in UNRESOLVED_STATUSES:
        raise Conflict("This dispute is resolved; it takes no more messages.")
    return _event(dispute, kind=DisputeEventKind.MESSAGE, actor=actor, author=author, message=message)


@transaction.atomic
def dispute_transition(
    *,
    dispute: Dispute,
    to_status: str,
    resolution: str = "",
    note: str = "",
    author=None,
    actor: str = DisputeActor.STAFF,
) -> Dispute:
    """Move a customer dispute on: open <-> under_review, either -> resolved (final).
    Resolving needs a `resolution` (refund, credit, rejected); `note` is shown to the
    customer with the change. The money of a refund or credit is the caller's to move in
    the same transaction. An unknown move is Conflict; a chargeback is Conflict too."""
    if to_status not in TRANSITIONS:
        raise ValidationFailed.for_field("status", f"Must be one of: {', '.join(TRANSITIONS)}.")
    is_resolving = to_status == DisputeStatus.RESOLVED
    if is_resolving and resolution not in DisputeResolution.values:
        raise ValidationFailed.for_field("resolution", f"Must be one of: {', '.join(DisputeResolution.values)}.")
    if not is_resolving and resolution:
        raise ValidationFailed.for_field("resolution", "Only a resolved dispute has a resolution.")
    note = _check_text(note, field="note") if note else ""
    dispute = _locked_customer_dispute(dispute)
    from_status = dispute.status
    if to_status not in TRANSITIONS[from_status]:
        raise Conflict(f"A dispute that is {from_status} cannot become {to_status}.")
    dispute.status = to_status
    fields = ["status"]
    if is_resolving:
        dispute.resolution = resolution
        dispute.resolution_note = note
        dispute.resolved_at = dispute.closed_at = timezone.now()
        fields += ["resolution", "resolution_note", "resolved_at", "closed_at"]
    dispute.save(update_fields=fields)
    _event(
        dispute,
        kind=DisputeEventKind.STATUS_CHANGED,
        actor=actor,
        author=author,
        from_status=from_status,
        to_status=to_status,
        message=note,
    )
    return dispute


def dispute_gateway_status_record(*, dispute: Dispute, from_status: str) -> DisputeEvent:
    """The history line of a chargeback the gateway reported (opened, or closed as won or
    lost); for billing.services to call in its transaction, after saving the dispute."""
    return _event(
        dispute,
        kind=DisputeEventKind.STATUS_CHANGED,
        actor=DisputeActor.SYSTEM,
        from_status=from_status,
        to_status=dispute.status,
    )


# --- the confirmation email ----------------------------------------------------------------


def dispute_link(dispute: Dispute) -> str:
    return f"{settings.SITE_URL}/account/disputes/{dispute.pk}"


def dispute_opened_email(*, dispute_id) -> None:
    """Tell the organization's billing email (else its owners) that a dispute was opened,
    once per dispute (invoices.emails.email_send_once)."""
    dispute = (
        Dispute.objects.select_related("organization", "invoice", "credit_entry", "opened_by")
        .filter(pk=dispute_id, source=DisputeSource.CUSTOMER)
        .first()
    )
    if dispute is None:
        return
    about = dispute_subject_label(dispute)
    context = {
        "dispute": dispute,
        "organization": dispute.organization,
        "about": about,
        "reason": DisputeReason(dispute.reason).label,
        "requested": format_money(dispute.requested_refund_cents, dispute.currency),
        "opened_by": dispute.opened_by.get_full_name() if dispute.opened_by else "",
        "dispute_url": dispute_link(dispute),
    }
    email_send_once(
        f"Dispute opened: {about}", "dispute_opened", context, dispute.organization, key=f"dispute_opened:{dispute.pk}"
    )


def _confirmation_send(dispute_id) -> None:
    try:
        dispute_opened_email(dispute_id=dispute_id)
    except Exception:  # the dispute is committed and stands; a failed email must not turn it into an error
        logger.exception("Could not send the confirmation of dispute %s", dispute_id)


# --- reads -----------------------------------------------------------------------------------


def dispute_subject_label(dispute: Dispute) -> str:
    """What a dispute is about, in words: `invoice INV-2026-000001`, `spend of $5.00 (job-7)`."""
    if dispute.invoice_id:
        return f"invoice {dispute.invoice.number}" if dispute.invoice.number else "an invoice"
    if dispute.credit_entry_id:
        entry = dispute.credit_entry
        label = f"{entry.get_kind_display().lower()} of {format_money(-entry.amount_cents, entry.currency)}"
        return f"{label} ({entry.reference})" if entry.reference else label
    return "a payment"


def disputes_of(*, organization: Organization) -> QuerySet[Dispute]:
    """The organization's disputes of both kinds, newest first, with what they are about
    and their history."""
    return (
        Dispute.objects.filter(organization=organization)
        .select_related("invoice", "credit_entry", "opened_by")
        .prefetch_related(Prefetch("events", queryset=DisputeEvent.objects.select_related("author")))
        .order_by("-opened_at", "-id")
    )


def dispute_of(*, organization: Organization, dispute_id) -> Dispute | None:
    """One of the organization's disputes with its history, or None (unknown, another
    organization's, or not an id)."""
    try:
        dispute_uuid = dispute_id if isinstance(dispute_id, uuid.UUID) else uuid.UUID(str(dispute_id))
    except (TypeError, ValueError, AttributeError):
        return None
    return disputes_of(organization=organization).filter(pk=dispute_uuid).first()


def _unresolved_subjects(organization: Organization, field: str) -> QuerySet:
    return Dispute.objects.filter(
        organization=organization, source=DisputeSource.CUSTOMER, status__in=UNRESOLVED_STATUSES
    ).values(field)


def disputable_invoices(*, organization: Organization, limit: int = 100) -> list[Invoice]:
    """The latest issued, not voided invoices of the organization without an unresolved
    dispute: what the page offers to dispute."""
    return list(
        Invoice.objects.filter(organization=organization, status__in=DISPUTABLE_INVOICE_STATUSES)
        .exclude(pk__in=_unresolved_subjects(organization, "invoice_id").exclude(invoice_id=None))
        .order_by("-finalized_at", "-created_at")[:limit]
    )


def disputable_entries(*, organization: Organization, limit: int = 100) -> list[CreditLedgerEntry]:
    """The latest charges to the organization's credit balance without an unresolved dispute."""
    return list(
        CreditLedgerEntry.objects.filter(organization=organization, amount_cents__lt=0)
        .exclude(pk__in=_unresolved_subjects(organization, "credit_entry_id").exclude(credit_entry_id=None))
        .order_by("-created_at", "-sequence")[:limit]
    )
