"""Every write to an organization's credit.

Each service is one transaction that first locks the organization's `CreditBalance` row
(creating it, in the organization's currency, on the first write), so one organization's
credit moves one write at a time. Under that lock it writes one ledger entry per movement
(with the balance after it and the next `sequence`), updates the cached balance and the
lots, and checks idempotency keys; a caller racing with a replay of its own key waits for
the lock and then sees the first entry. Nothing here ever takes the balance below zero.

Every debit (spend, invoice application, negative adjustment) first expires, under the
same lock, the lots whose `expires_at` has passed, so expired credit is never spent
whether or not the hourly expiry job has run yet; the job then finds nothing to do.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from billing_project.errors import DomainError, InsufficientCredits, ValidationFailed
from organizations.models import Organization

from .models import INVOICE_KINDS, CreditBalance, CreditLedgerEntry, CreditLot, CreditLotUse, EntryKind

logger = logging.getLogger(__name__)

# One movement at most: 10 billion in major units of a two-decimal currency. Keeps sums
# far from the 64-bit limit of the columns.
MAX_AMOUNT_CENTS = 10**12
MAX_TEXT = 255
LOT_PAGE = 100


class IdempotencyKeyReused(DomainError):
    """An idempotency key seen before, sent with another request (API.md: 422)."""

    status_code = 422
    code = "idempotency_key_reused"
    default_message = "This idempotency key was used for a different request."


@dataclass(frozen=True)
class SpendResult:
    entry: CreditLedgerEntry
    balance_cents: int
    duplicate: bool


# --- checks ------------------------------------------------------------------------------


def _check_amount(amount_cents, *, field: str = "amount_cents", allow_negative: bool = False) -> int:
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
        raise ValidationFailed.for_field(field, "Must be a whole number of minor units.")
    if allow_negative:
        if amount_cents == 0:
            raise ValidationFailed.for_field(field, "Must not be zero.")
    elif amount_cents <= 0:
        raise ValidationFailed.for_field(field, "Must be greater than zero.")
    if abs(amount_cents) > MAX_AMOUNT_CENTS:
        raise ValidationFailed.for_field(field, f"Must be at most {MAX_AMOUNT_CENTS} in absolute value.")
    return amount_cents


def _check_text(value, *, field: str, required: bool, max_length: int = MAX_TEXT) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValidationFailed.for_field(field, "This field is required.")
    if len(value) > max_length:
        raise ValidationFailed.for_field(field, f"At most {max_length} characters.")
    return value.strip()


def _check_invoice(invoice, *, organization: Organization, balance: CreditBalance) -> None:
    if invoice.organization_id != organization.pk:
        raise ValidationFailed.for_field("invoice", "The invoice belongs to another organization.")
    if invoice.currency != balance.currency:
        raise ValidationFailed.for_field(
            "invoice", f"The invoice is in {invoice.currency}; the credit balance is in {balance.currency}."
        )


# --- the locked write path ---------------------------------------------------------------


def _locked_balance(organization: Organization) -> CreditBalance:
    """The organization's balance row, locked until the transaction ends."""
    try:
        return CreditBalance.objects.select_for_update().get(pk=organization.pk)
    except CreditBalance.DoesNotExist:
        CreditBalance.objects.get_or_create(organization=organization, defaults={"currency": organization.currency})
        return CreditBalance.objects.select_for_update().get(pk=organization.pk)


def _entry_for_key(organization: Organization, idempotency_key: str | None) -> CreditLedgerEntry | None:
    if idempotency_key is None:
        return None
    return CreditLedgerEntry.objects.filter(organization=organization, idempotency_key=idempotency_key).first()


def _entry_for_invoice(invoice, kind: str) -> CreditLedgerEntry | None:
    return CreditLedgerEntry.objects.filter(invoice=invoice, kind=kind).first()


def _check_replay(entry: CreditLedgerEntry, *, kind: str, amount_cents: int, reference: str) -> None:
    if entry.kind != kind or entry.amount_cents != amount_cents or entry.reference != reference:
        raise IdempotencyKeyReused(
            details={"idempotency_key": ["Already used for another amount, reference or kind of movement."]}
        )


def _open_lots(organization_id):
    """Lots with credit left, in the order spends use them: soonest expiry, then oldest;
    lots that never expire last."""
    return CreditLot.objects.filter(organization_id=organization_id, remaining_cents__gt=0).order_by(
        F("expires_at").asc(nulls_last=True), "source_entry__sequence"
    )


def _take_from_lots(entry: CreditLedgerEntry, amount_cents: int) -> None:
    """Lower the open lots by `amount_cents`, in spending order, and record what `entry`
    took from each (one bulk INSERT)."""
    organization_id = entry.organization_id
    left = amount_cents
    touched: list[CreditLot] = []
    uses: list[CreditLotUse] = []
    offset = 0
    while left:
        page = list(_open_lots(organization_id)[offset : offset + LOT_PAGE])
        if not page:
            # The lots always sum to the balance, which the caller checked covers this.
            raise RuntimeError(f"Credit lots of {organization_id} do not cover the balance.")
        for lot in page:
            taken = min(lot.remaining_cents, left)
            lot.remaining_cents -= taken
            touched.append(lot)
            uses.append(CreditLotUse(entry=entry, lot=lot, amount_cents=-taken))
            left -= taken
            if not left:
                break
        offset += LOT_PAGE
    CreditLot.objects.bulk_update(touched, ["remaining_cents"])
    CreditLotUse.objects.bulk_create(uses)


def _append(
    balance: CreditBalance,
    *,
    kind: str,
    amount_cents: int,
    reference: str = "",
    description: str = "",
    idempotency_key: str | None = None,
    invoice=None,
    created_by=None,
    expires_at: datetime | None = None,
) -> CreditLedgerEntry:
    """Append one entry and move the cached balance with it; the caller moves the lots.
    The caller holds the balance lock and has checked that the balance covers a debit."""
    new_balance = balance.balance_cents + amount_cents
    if new_balance < 0:
        raise InsufficientCredits()
    balance.balance_cents = new_balance
    balance.entry_count += 1
    entry = CreditLedgerEntry.objects.create(
        organization_id=balance.organization_id,
        sequence=balance.entry_count,
        kind=kind,
        amount_cents=amount_cents,
        currency=balance.currency,
        balance_after_cents=new_balance,
        reference=reference,
        description=description,
        idempotency_key=idempotency_key,
        invoice=invoice,
        created_by=created_by,
        expires_at=expires_at,
    )
    balance.save(update_fields=["balance_cents", "entry_count", "updated_at"])
    return entry


def _open_lot(entry: CreditLedgerEntry, amount_cents: int, *, expires_at: datetime | None = None) -> CreditLot:
    return CreditLot.objects.create(
        organization_id=entry.organization_id,
        source_entry=entry,
        amount_cents=amount_cents,
        remaining_cents=amount_cents,
        expires_at=expires_at,
        created_at=entry.created_at,
    )


def _write(balance: CreditBalance, *, kind: str, amount_cents: int, **fields) -> CreditLedgerEntry:
    """Append one entry and move the lots with it: a credit opens a lot, a debit takes
    from the lots in spending order. The caller holds the balance lock, has expired the
    lots past their expiry (before a debit) and checked that the balance covers a debit."""
    entry = _append(balance, kind=kind, amount_cents=amount_cents, **fields)
    if amount_cents > 0:
        _open_lot(entry, amount_cents, expires_at=fields.get("expires_at"))
    else:
        _take_from_lots(entry, -amount_cents)
    return entry


def _expire_lots(balance: CreditBalance, lots: Iterable[CreditLot]) -> int:
    """One `expiry` entry for what is left of each lot (read under the balance lock, with
    its source entry). Returns the number of entries written."""
    touched: list[CreditLot] = []
    uses: list[CreditLotUse] = []
    for lot in lots:
        source = lot.source_entry
        entry = _append(
            balance,
            kind=EntryKind.EXPIRY,
            amount_cents=-lot.remaining_cents,
            reference=str(source.pk),
            description=f"Unused {source.get_kind_display().lower()} credit expired "
            f"({lot.expires_at:%Y-%m-%d %H:%M} UTC)",
        )
        uses.append(CreditLotUse(entry=entry, lot=lot, amount_cents=entry.amount_cents))
        lot.remaining_cents = 0
        touched.append(lot)
    if touched:
        CreditLot.objects.bulk_update(touched, ["remaining_cents"])
        CreditLotUse.objects.bulk_create(uses)
    return len(touched)


def _expire_due(balance: CreditBalance, now: datetime) -> int:
    """Expire the organization's lots whose `expires_at` <= `now`: the first step of every
    debit, under the balance lock, so credit past its expiry is never spent whatever the
    hourly job did. One query on the `credits_lot_open` index when nothing is due."""
    due = (
        CreditLot.objects.filter(organization_id=balance.organization_id, remaining_cents__gt=0, expires_at__lte=now)
        .select_related("source_entry")
        .order_by("expires_at", "source_entry__sequence")
    )
    return _expire_lots(balance, due)


def _insufficient(balance: CreditBalance, amount_cents: int) -> InsufficientCredits:
    return InsufficientCredits(
        f"The credit balance ({balance.balance_cents}) is lower than {amount_cents}.",
        data={"balance_cents": balance.balance_cents, "currency": balance.currency, "required_cents": amount_cents},
    )


# --- use cases ---------------------------------------------------------------------------


def credits_grant(
    *,
    organization: Organization,
    amount_cents: int,
    reason: str,
    created_by=None,
    expires_at: datetime | None = None,
) -> CreditLedgerEntry:
    """Give the organization free credit (staff goodwill, promotions), optionally expiring."""
    _check_amount(amount_cents)
    reason = _check_text(reason, field="reason", required=True, max_length=500)
    with transaction.atomic():
        balance = _locked_balance(organization)
        return _write(
            balance,
            kind=EntryKind.GRANT,
            amount_cents=amount_cents,
            description=reason,
            created_by=created_by,
            expires_at=expires_at,
        )


def credits_purchase(
    *,
    organization: Organization,
    amount_cents: int,
    reference: str,
    idempotency_key: str | None = None,
    invoice=None,
) -> CreditLedgerEntry:
    """Add credit the organization paid for. Idempotent: a replay of `idempotency_key`, or
    a second purchase for the same `invoice`, returns the first entry and adds nothing."""
    _check_amount(amount_cents)
    reference = _check_text(reference, field="reference", required=True)
    if idempotency_key is not None:
        idempotency_key = _check_text(idempotency_key, field="idempotency_key", required=True)
    with transaction.atomic():
        balance = _locked_balance(organization)
        if invoice is not None:
            _check_invoice(invoice, organization=organization, balance=balance)
        earlier = _entry_for_key(organization, idempotency_key) or (
            _entry_for_invoice(invoice, EntryKind.PURCHASE) if invoice is not None else None
        )
        if earlier is not None:
            _check_replay(earlier, kind=EntryKind.PURCHASE, amount_cents=amount_cents, reference=reference)
            return earlier
        return _write(
            balance,
            kind=EntryKind.PURCHASE,
            amount_cents=amount_cents,
            reference=reference,
            description="Credit purchase",
            idempotency_key=idempotency_key,
            invoice=invoice,
        )


def credits_spend(
    *, organization: Organization, amount_cents: int, reference: str, idempotency_key: str
) -> SpendResult:
    """Take `amount_cents` from the balance for the caller's `reference`.

    Not enough credit: InsufficientCredits (402) and nothing is written. A replay of
    `idempotency_key` returns the first spend's result with `duplicate=True` and moves
    nothing; the same key with another amount or reference is IdempotencyKeyReused (422).
    """
    _check_amount(amount_cents)
    reference = _check_text(reference, field="reference", required=True)
    idempotency_key = _check_text(idempotency_key, field="idempotency_key", required=True)
    with transaction.atomic():
        balance = _locked_balance(organization)
        # Only now, under the lock: a concurrent first use of the key has committed or not.
        earlier = _entry_for_key(organization, idempotency_key)
        if earlier is not None:
            _check_replay(earlier, kind=EntryKind.SPEND, amount_cents=-amount_cents, reference=reference)
            return SpendResult(entry=earlier, balance_cents=earlier.balance_after_cents, duplicate=True)
        _expire_due(balance, timezone.now())  # rolled back with the spend when it is refused
        if balance.balance_cents < amount_cents:
            raise _insufficient(balance, amount_cents)
        entry = _write(
            balance,
            kind=EntryKind.SPEND,
            amount_cents=-amount_cents,
            reference=reference,
            idempotency_key=idempotency_key,
        )
        return SpendResult(entry=entry, balance_cents=entry.balance_after_cents, duplicate=False)


def credits_apply_to_invoice(*, organization: Organization, invoice, max_amount_cents: int, reference: str) -> int:
    """Use credit to pay up to `max_amount_cents` of `invoice`; returns the amount applied
    (0 when the balance is empty, or in another currency than the invoice).

    Once per invoice: a second call applies nothing more and returns what the first applied.
    Runs inside the caller's transaction when there is one (invoice finalization).
    """
    if isinstance(max_amount_cents, bool) or not isinstance(max_amount_cents, int) or max_amount_cents < 0:
        raise ValidationFailed.for_field("max_amount_cents", "Must be a whole number >= 0.")
    reference = _check_text(reference, field="reference", required=False)
    if invoice.organization_id != organization.pk:
        raise ValidationFailed.for_field("invoice", "The invoice belongs to another organization.")
    with transaction.atomic():
        balance = _locked_balance(organization)
        earlier = _entry_for_invoice(invoice, EntryKind.INVOICE_APPLICATION)
        if earlier is not None:
            return -earlier.amount_cents
        if invoice.currency != balance.currency:
            logger.warning(
                "Credit of %s is in %s, invoice %s in %s: none applied",
                organization.pk,
                balance.currency,
                invoice.pk,
                invoice.currency,
            )
            return 0
        _expire_due(balance, timezone.now())
        amount = min(balance.balance_cents, max_amount_cents)
        if amount <= 0:
            return 0
        _write(
            balance,
            kind=EntryKind.INVOICE_APPLICATION,
            amount_cents=-amount,
            reference=reference,
            description=f"Applied to invoice {invoice.number or invoice.pk}",
            invoice=invoice,
        )
        return amount


def credits_issue_from_invoice(
    *, organization: Organization, invoice, amount_cents: int, reference: str
) -> CreditLedgerEntry:
    """Add the credit an invoice owes the customer (its lines sum below zero, e.g. after a
    downgrade) as a positive adjustment. Once per invoice: a second call returns the first."""
    _check_amount(amount_cents)
    reference = _check_text(reference, field="reference", required=False)
    with transaction.atomic():
        balance = _locked_balance(organization)
        _check_invoice(invoice, organization=organization, balance=balance)
        earlier = _entry_for_invoice(invoice, EntryKind.ADJUSTMENT)
        if earlier is not None:
            _check_replay(earlier, kind=EntryKind.ADJUSTMENT, amount_cents=amount_cents, reference=reference)
            return earlier
        return _write(
            balance,
            kind=EntryKind.ADJUSTMENT,
            amount_cents=amount_cents,
            reference=reference,
            description=f"Credit from invoice {invoice.number or invoice.pk}",
            invoice=invoice,
        )


def credits_refund(*, organization: Organization, amount_cents: int, reference: str, invoice=None) -> CreditLedgerEntry:
    """Return money to the customer as credit (a refund paid out to the balance)."""
    _check_amount(amount_cents)
    reference = _check_text(reference, field="reference", required=True)
    with transaction.atomic():
        balance = _locked_balance(organization)
        if invoice is not None:
            _check_invoice(invoice, organization=organization, balance=balance)
        return _write(
            balance,
            kind=EntryKind.REFUND,
            amount_cents=amount_cents,
            reference=reference,
            description="Refund as credit",
            invoice=invoice,
        )


def credits_return(
    *,
    organization: Organization,
    invoice,
    amount_cents: int,
    reference: str,
    idempotency_key: str | None = None,
) -> CreditLedgerEntry | None:
    """Give back up to `amount_cents` of the credit applied to `invoice` (it was voided, or
    a credit note returns it): never more than was applied less what earlier returns gave
    back; None when nothing is left to return. One `return` entry; the credit goes back
    into the lots it was taken from, most recently taken first, and keeps their expiry, so
    what goes back to a lot already past it expires at once. A replay of
    `idempotency_key` returns the first entry and moves nothing."""
    _check_amount(amount_cents)
    reference = _check_text(reference, field="reference", required=True)
    if idempotency_key is not None:
        idempotency_key = _check_text(idempotency_key, field="idempotency_key", required=True)
    with transaction.atomic():
        balance = _locked_balance(organization)
        _check_invoice(invoice, organization=organization, balance=balance)
        earlier = _entry_for_key(organization, idempotency_key)
        if earlier is not None:
            _check_return_replay(earlier, invoice=invoice, amount_cents=amount_cents, reference=reference)
            return earlier
        amount = min(amount_cents, _returnable(invoice))
        if amount <= 0:
            return None
        lots = _lots_to_return_to(invoice)
        entry = _append(
            balance,
            kind=EntryKind.RETURN,
            amount_cents=amount,
            reference=reference,
            description=f"Returned from invoice {invoice.number or invoice.pk}",
            idempotency_key=idempotency_key,
            invoice=invoice,
        )
        left = amount
        touched: list[CreditLot] = []
        uses: list[CreditLotUse] = []
        for lot, outstanding in lots:
            given = min(outstanding, left)
            lot.remaining_cents += given
            touched.append(lot)
            uses.append(CreditLotUse(entry=entry, lot=lot, amount_cents=given))
            left -= given
            if not left:
                break
        CreditLot.objects.bulk_update(touched, ["remaining_cents"])
        CreditLotUse.objects.bulk_create(uses)
        if left:
            # Applied before lot uses were recorded: where it came from is unknown.
            logger.warning("Credit applied to invoice %s has no lot uses; %s returned without expiry", invoice.pk, left)
            _open_lot(entry, left)
        _expire_due(balance, timezone.now())
        return entry


def _returnable(invoice, *, through_sequence: int | None = None) -> int:
    """Credit applied to `invoice` not given back by its returns (those up to
    `through_sequence` when given)."""
    application = _entry_for_invoice(invoice, EntryKind.INVOICE_APPLICATION)
    if application is None:
        return 0
    returns = CreditLedgerEntry.objects.filter(invoice=invoice, kind=EntryKind.RETURN)
    if through_sequence is not None:
        returns = returns.filter(sequence__lte=through_sequence)
    returned = returns.aggregate(total=Sum("amount_cents"))["total"] or 0
    return -application.amount_cents - returned


def _lots_to_return_to(invoice) -> list[tuple[CreditLot, int]]:
    """The lots `invoice`'s application took credit from, each with what is not given back
    yet, most recently taken first (the reverse of spending order)."""
    outstanding = dict(
        CreditLotUse.objects.filter(entry__invoice=invoice, entry__kind__in=INVOICE_KINDS)
        .values("lot_id")
        .annotate(net=Sum("amount_cents"))
        .filter(net__lt=0)
        .values_list("lot_id", "net")
    )
    lots = CreditLot.objects.filter(pk__in=outstanding).order_by(
        F("expires_at").desc(nulls_first=True), "-source_entry__sequence"
    )
    return [(lot, -outstanding[lot.pk]) for lot in lots]


def _check_return_replay(entry: CreditLedgerEntry, *, invoice, amount_cents: int, reference: str) -> None:
    """A replay asks for what the first return gave back, or for more when the first one
    gave back all that was left (it was capped)."""
    same_request = entry.kind == EntryKind.RETURN and entry.invoice_id == invoice.pk and entry.reference == reference
    if same_request and (
        entry.amount_cents == amount_cents
        or (amount_cents > entry.amount_cents and _returnable(invoice, through_sequence=entry.sequence) == 0)
    ):
        return
    raise IdempotencyKeyReused(
        details={"idempotency_key": ["Already used for another amount, reference, invoice or kind of movement."]}
    )


def credits_adjust(*, organization: Organization, amount_cents: int, reason: str, created_by=None) -> CreditLedgerEntry:
    """Correct the balance by a signed amount (staff). A negative adjustment larger than
    the balance is InsufficientCredits and writes nothing."""
    _check_amount(amount_cents, allow_negative=True)
    reason = _check_text(reason, field="reason", required=True, max_length=500)
    with transaction.atomic():
        balance = _locked_balance(organization)
        if amount_cents < 0:
            _expire_due(balance, timezone.now())
        if balance.balance_cents + amount_cents < 0:
            raise _insufficient(balance, -amount_cents)
        return _write(
            balance, kind=EntryKind.ADJUSTMENT, amount_cents=amount_cents, description=reason, created_by=created_by
        )


def credits_expire_due(*, now: datetime) -> int:
    """Expire what is left of every lot whose `expires_at` <= `now`: one `expiry` entry per
    lot. Returns the number of entries written; running it again writes none."""
    due = (
        CreditLot.objects.filter(expires_at__lte=now, remaining_cents__gt=0)
        .order_by("organization_id")
        .values_list("organization_id", "id")
    )
    lots_by_org: dict = defaultdict(list)
    for organization_id, lot_id in due:
        lots_by_org[organization_id].append(lot_id)
    written = 0
    for organization_id, lot_ids in lots_by_org.items():
        organization = Organization.objects.get(pk=organization_id)
        with transaction.atomic():  # one organization at a time: short locks
            balance = _locked_balance(organization)
            # Re-read under the lock: a debit may have used or expired these lots meanwhile.
            lots = (
                CreditLot.objects.filter(pk__in=lot_ids, remaining_cents__gt=0)
                .select_related("source_entry")
                .order_by("expires_at", "source_entry__sequence")
            )
            written += _expire_lots(balance, lots)
    return written
