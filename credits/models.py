"""Prepaid credit: an append-only ledger, a cached balance per organization, and lots.

The ledger is the truth: an organization's balance is the sum of its entries' amounts.
`CreditBalance` caches that sum; every write locks it (SELECT ... FOR UPDATE) first, so
writes of one organization run one at a time and `sequence` numbers them without gaps.
`CreditLot` is mutable bookkeeping beside the ledger: what is left of each credit that
came in, so spends can use soonest-expiring credit first and expiry knows what to take.
The lots' remaining amounts always sum to the balance. `CreditLotUse` says which lots each
later entry moved, so credit returned from an invoice goes back to the lots it came from
and keeps their expiry.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from organizations.models import Organization, currency_validator


class EntryKind(models.TextChoices):
    GRANT = "grant", "Grant"
    PURCHASE = "purchase", "Purchase"
    SPEND = "spend", "Spend"
    INVOICE_APPLICATION = "invoice_application", "Applied to an invoice"
    REFUND = "refund", "Refund"
    ADJUSTMENT = "adjustment", "Adjustment"
    EXPIRY = "expiry", "Expiry"
    RETURN = "return", "Returned from an invoice"


# Kinds that always add to the balance, and kinds that always take from it; an
# adjustment goes either way (never zero).
CREDITING_KINDS = (EntryKind.GRANT, EntryKind.PURCHASE, EntryKind.REFUND, EntryKind.RETURN)
DEBITING_KINDS = (EntryKind.SPEND, EntryKind.INVOICE_APPLICATION, EntryKind.EXPIRY)
# Kinds whose credit may expire.
EXPIRING_KINDS = (EntryKind.GRANT, EntryKind.PURCHASE)
# At most one entry of these kinds per invoice: finalizing or paying an invoice twice
# must not move credit twice.
ONCE_PER_INVOICE_KINDS = (EntryKind.PURCHASE, EntryKind.INVOICE_APPLICATION, EntryKind.ADJUSTMENT)
# Kinds that only exist for an invoice: credit applied to it, and credit given back from it.
INVOICE_KINDS = (EntryKind.INVOICE_APPLICATION, EntryKind.RETURN)


class CreditLedgerEntry(models.Model):
    """One movement of credit. Never updated or deleted (a PostgreSQL trigger refuses it);
    a mistake is corrected by a reversing entry."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="credit_entries")
    sequence = models.PositiveBigIntegerField(help_text="1, 2, 3, ... per organization, without gaps.")
    kind = models.CharField(max_length=24, choices=EntryKind.choices)
    amount_cents = models.BigIntegerField(help_text="Positive adds to the balance, negative takes from it.")
    currency = models.CharField(max_length=3, validators=[currency_validator])
    balance_after_cents = models.BigIntegerField()
    reference = models.CharField(max_length=255, blank=True, help_text="The caller's reference (order, job, ...).")
    description = models.CharField(max_length=500, blank=True, help_text="Why: a grant's reason, what was paid.")
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    invoice = models.ForeignKey(
        "invoices.Invoice", null=True, blank=True, on_delete=models.PROTECT, related_name="credit_entries"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True, help_text="When unused credit of a grant expires.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-sequence"]
        verbose_name = "credit ledger entry"
        verbose_name_plural = "credit ledger entries"
        constraints = [
            models.UniqueConstraint(fields=["organization", "sequence"], name="credits_entry_sequence_unique"),
            models.UniqueConstraint(
                fields=["organization", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="credits_entry_idempotency_key_unique",
            ),
            models.UniqueConstraint(
                fields=["invoice", "kind"],
                condition=Q(invoice__isnull=False, kind__in=ONCE_PER_INVOICE_KINDS),
                name="credits_entry_once_per_invoice",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=CREDITING_KINDS, amount_cents__gt=0)
                | Q(kind__in=DEBITING_KINDS, amount_cents__lt=0)
                | (Q(kind=EntryKind.ADJUSTMENT) & ~Q(amount_cents=0)),
                name="credits_entry_amount_sign_matches_kind",
            ),
            models.CheckConstraint(condition=Q(balance_after_cents__gte=0), name="credits_entry_balance_not_negative"),
            models.CheckConstraint(
                condition=~Q(kind__in=INVOICE_KINDS) | Q(invoice__isnull=False),
                name="credits_entry_invoice_kinds_have_invoice",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True) | Q(kind__in=EXPIRING_KINDS),
                name="credits_entry_only_grants_expire",
            ),
        ]
        indexes = [models.Index(fields=["organization", "created_at"], name="credits_entry_org_created")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount_cents:+d} {self.currency} ({self.organization_id})"


class CreditBalance(models.Model):
    """The cached sum of an organization's ledger; the row writers lock."""

    organization = models.OneToOneField(
        Organization, primary_key=True, on_delete=models.CASCADE, related_name="credit_balance"
    )
    balance_cents = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, validators=[currency_validator])
    entry_count = models.PositiveBigIntegerField(default=0, help_text="The sequence of the last ledger entry.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(balance_cents__gte=0), name="credits_balance_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.balance_cents} {self.currency}"


class CreditLot(models.Model):
    """What is left of one credit that came in (a grant, purchase, refund, positive
    adjustment). Spends take from lots soonest-expiring first, then oldest; lots that
    never expire last. Credit returned from an invoice goes back into the lots it was
    taken from; what is left of a lot past its `expires_at` is never spent."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="credit_lots")
    source_entry = models.OneToOneField(CreditLedgerEntry, on_delete=models.PROTECT, related_name="lot")
    amount_cents = models.BigIntegerField()
    remaining_cents = models.BigIntegerField()
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = [F("expires_at").asc(nulls_last=True), "created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="credits_lot_amount_positive"),
            models.CheckConstraint(
                condition=Q(remaining_cents__gte=0) & Q(remaining_cents__lte=F("amount_cents")),
                name="credits_lot_remaining_within_amount",
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "expires_at", "created_at"],
                condition=Q(remaining_cents__gt=0),
                name="credits_lot_open",
            ),
            models.Index(
                fields=["expires_at"],
                condition=Q(remaining_cents__gt=0, expires_at__isnull=False),
                name="credits_lot_expiring",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.remaining_cents}/{self.amount_cents} until {self.expires_at or 'forever'}"


class CreditLotUse(models.Model):
    """How much of one lot one ledger entry moved, signed like the entry: a debit's share
    of each lot it took from and an expiry are negative, credit returned from an invoice
    to the lot it came from is positive. A lot's remaining is its amount plus its uses;
    an entry's uses sum to its amount (except an entry that opened a lot)."""

    # The unique (entry, lot) index serves lookups by entry; no second index on it.
    entry = models.ForeignKey(CreditLedgerEntry, on_delete=models.PROTECT, related_name="lot_uses", db_index=False)
    lot = models.ForeignKey(CreditLot, on_delete=models.CASCADE, related_name="uses")
    amount_cents = models.BigIntegerField(help_text="Negative: taken from the lot; positive: given back to it.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["entry", "lot"], name="credits_lot_use_once_per_entry"),
            models.CheckConstraint(condition=~Q(amount_cents=0), name="credits_lot_use_not_zero"),
        ]

    def __str__(self) -> str:
        return f"{self.amount_cents:+d} of lot {self.lot_id} by entry {self.entry_id}"
