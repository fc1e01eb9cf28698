import uuid
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from organizations.models import Organization, currency_validator
from plans.models import BillableMetric


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    OPEN = "open", "Open"
    PAID = "paid", "Paid"
    VOID = "void", "Void"
    UNCOLLECTIBLE = "uncollectible", "Uncollectible"


class InvoiceReason(models.TextChoices):
    SUBSCRIPTION_CREATE = "subscription_create", "First period of a subscription"
    SUBSCRIPTION_CYCLE = "subscription_cycle", "Renewal"
    SUBSCRIPTION_UPDATE = "subscription_update", "Plan change"
    SUBSCRIPTION_CANCEL = "subscription_cancel", "Final usage at cancellation"
    CREDIT_PURCHASE = "credit_purchase", "Credit top-up"
    MANUAL = "manual", "Manual"


class Invoice(models.Model):
    """An invoice of one organization. Its total is always the sum of its lines minus the
    credits applied plus tax; numbers are assigned, gapless per year, when it is finalized."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="invoices")
    subscription = models.ForeignKey(
        "subscriptions.Subscription", null=True, blank=True, on_delete=models.PROTECT, related_name="invoices"
    )
    plan = models.ForeignKey(
        "plans.Plan",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The plan whose charges rate the usage of the invoiced period.",
    )
    number = models.CharField(max_length=32, unique=True, null=True, blank=True)
    status = models.CharField(max_length=16, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT)
    reason = models.CharField(max_length=32, choices=InvoiceReason.choices, default=InvoiceReason.MANUAL)
    currency = models.CharField(max_length=3, validators=[currency_validator])
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    subtotal_cents = models.BigIntegerField(default=0)
    credit_applied_cents = models.BigIntegerField(
        default=0, help_text="Prepaid credit used; negative when the invoice added credit to the balance."
    )
    tax_rate = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("0"), help_text="Percent.")
    tax_cents = models.BigIntegerField(default=0)
    total_cents = models.BigIntegerField(default=0)
    amount_paid_cents = models.BigIntegerField(default=0)
    pre_payment_credited_cents = models.BigIntegerField(
        default=0, help_text="Credit notes issued while it was unpaid: taken off what is owed."
    )
    post_payment_credited_cents = models.BigIntegerField(
        default=0, help_text="Credit notes issued after payment: refunded or credited to the balance."
    )
    corrects = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="corrections",
        help_text="The voided or fully credited invoice this one reissues.",
    )
    due_date = models.DateField(null=True, blank=True)
    finalized_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    # The buyer as they were when the invoice was issued.
    billing_name = models.CharField(max_length=200, blank=True)
    billing_email = models.EmailField(blank=True)
    billing_country = models.CharField(max_length=2, blank=True)
    billing_tax_id = models.CharField(max_length=64, blank=True)
    billing_address = models.CharField(max_length=500, blank=True)
    pdf = models.FileField(upload_to="invoices/%Y/%m/", blank=True)
    attempt_count = models.PositiveIntegerField(default=0)
    next_payment_attempt = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(total_cents=F("subtotal_cents") - F("credit_applied_cents") + F("tax_cents")),
                name="invoices_total_is_lines_minus_credit_plus_tax",
            ),
            models.CheckConstraint(
                condition=Q(total_cents__gte=0) | Q(status="draft"), name="invoices_total_not_negative"
            ),
            # Tax follows the lines: an invoice whose lines sum below zero (credit it owes the
            # customer) carries negative tax on that credit.
            models.CheckConstraint(
                condition=Q(tax_cents__gte=0) | Q(subtotal_cents__lt=0), name="invoices_tax_sign_follows_subtotal"
            ),
            models.UniqueConstraint(
                fields=["subscription", "period_start", "reason"],
                condition=Q(reason="subscription_cycle", corrects__isnull=True) & ~Q(status="void"),
                name="invoices_one_cycle_invoice_per_period",
            ),
            models.CheckConstraint(
                condition=Q(pre_payment_credited_cents__gte=0, post_payment_credited_cents__gte=0),
                name="invoices_credited_not_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "status"], name="invoices_org_status"),
            models.Index(fields=["status", "next_payment_attempt"], name="invoices_dunning"),
        ]

    def __str__(self) -> str:
        return self.number or f"draft {self.id}"

    @property
    def amount_due_cents(self) -> int:
        return max(self.total_cents - self.amount_paid_cents - self.pre_payment_credited_cents, 0)

    @property
    def gross_cents(self) -> int:
        """What the lines and their tax come to, before prepaid credit paid part of it."""
        return self.subtotal_cents + self.tax_cents

    @property
    def credited_cents(self) -> int:
        return self.pre_payment_credited_cents + self.post_payment_credited_cents

    def clean(self):
        super().clean()
        if self.total_cents != self.subtotal_cents - self.credit_applied_cents + self.tax_cents:
            raise ValidationError("The total must equal the lines minus credits applied plus tax.")

    def check_lines(self) -> None:
        """Raise if the stored subtotal is not the sum of the lines."""
        total = sum(self.lines.values_list("amount_cents", flat=True))
        if total != self.subtotal_cents:
            raise ValidationError(f"Subtotal {self.subtotal_cents} differs from the lines' sum {total}.")


class LineKind(models.TextChoices):
    BASE_FEE = "base_fee", "Base fee"
    USAGE = "usage", "Usage"
    PRORATION = "proration", "Proration"
    CREDIT = "credit", "Credit"
    ADJUSTMENT = "adjustment", "Adjustment"


class InvoiceLine(models.Model):
    id = models.BigAutoField(primary_key=True)
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    kind = models.CharField(max_length=16, choices=LineKind.choices)
    description = models.CharField(max_length=300)
    metric = models.ForeignKey(BillableMetric, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(max_digits=24, decimal_places=6, default=Decimal("1"))
    unit_price = models.DecimalField(
        max_digits=24, decimal_places=6, default=Decimal("0"), help_text="Minor units, fractions allowed."
    )
    amount_cents = models.BigIntegerField()
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_cents__gte=0) | Q(kind__in=["credit", "adjustment"]),
                name="invoices_only_credit_lines_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.description}: {self.amount_cents}"


class InvoiceNumberSequence(models.Model):
    """The last invoice number issued in a year; locked while the next one is taken."""

    year = models.PositiveIntegerField(primary_key=True)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last_number}"


class PendingLineItem(models.Model):
    """A charge or credit waiting for the subscription's next period invoice."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    subscription = models.ForeignKey(
        "subscriptions.Subscription", on_delete=models.CASCADE, related_name="pending_items"
    )
    kind = models.CharField(max_length=16, choices=LineKind.choices)
    description = models.CharField(max_length=300)
    quantity = models.DecimalField(max_digits=24, decimal_places=6, default=Decimal("1"))
    unit_price = models.DecimalField(max_digits=24, decimal_places=6, default=Decimal("0"))
    amount_cents = models.BigIntegerField()
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.description}: {self.amount_cents}"


class SentEmail(models.Model):
    """One billing email that went out, by what it was about (`payment_failed:<payment
    id>`...): a task run twice (a retry, a redelivered message) sends it once."""

    key = models.CharField(max_length=200, unique=True)
    sent_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.key


class CreditNoteReason(models.TextChoices):
    REFUND = "refund", "Refund"
    PLAN_CHANGE = "plan_change", "Unused time after a plan change"
    BILLING_ERROR = "billing_error", "Billing error"
    DUPLICATE = "duplicate", "Duplicate charge"
    GOODWILL = "goodwill", "Goodwill"
    OTHER = "other", "Other"


class CreditNoteRefundMethod(models.TextChoices):
    """Where the part of a credit note that was already paid goes. What is still owed on
    the invoice is always reduced first, whatever the method."""

    REFUND = "refund", "Refund to the payment method"
    CREDIT = "credit", "Credit balance"
    INVOICE = "invoice", "Off the amount owed"


class CreditNote(models.Model):
    """A correction of an issued invoice, which itself is never edited: it reduces what the
    invoice asks for by its total (lines plus their tax at the invoice's rate). That total
    went first off what was still owed on the invoice, then back to the customer: refunded
    through the gateway or credited to the balance (cash paid), and returned to the lots it
    came from (prepaid credit that paid part of the invoice). Numbered gaplessly per year in
    its own series (CN-2026-000001) when issued."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="credit_notes")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    number = models.CharField(max_length=32, unique=True)
    reason = models.CharField(max_length=32, choices=CreditNoteReason.choices)
    memo = models.CharField(max_length=500, blank=True)
    refund_method = models.CharField(max_length=16, choices=CreditNoteRefundMethod.choices)
    currency = models.CharField(max_length=3, validators=[currency_validator])
    tax_rate = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("0"), help_text="Percent.")
    subtotal_cents = models.BigIntegerField()
    tax_cents = models.BigIntegerField(default=0)
    total_cents = models.BigIntegerField()
    off_invoice_cents = models.BigIntegerField(default=0, help_text="Taken off what the invoice still owed.")
    refunded_cents = models.BigIntegerField(default=0, help_text="Refunded through the gateway.")
    credited_cents = models.BigIntegerField(default=0, help_text="Paid money put on the credit balance.")
    returned_credit_cents = models.BigIntegerField(
        default=0, help_text="Prepaid credit that paid the invoice, returned with its expiry."
    )
    issued_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The buyer as printed on the invoice.
    billing_name = models.CharField(max_length=200, blank=True)
    billing_email = models.EmailField(blank=True)
    billing_country = models.CharField(max_length=2, blank=True)
    billing_tax_id = models.CharField(max_length=64, blank=True)
    billing_address = models.CharField(max_length=500, blank=True)
    pdf = models.FileField(upload_to="credit_notes/%Y/%m/", blank=True)

    class Meta:
        ordering = ["-issued_at", "-number"]
        constraints = [
            models.CheckConstraint(
                condition=Q(total_cents=F("subtotal_cents") + F("tax_cents")),
                name="credit_notes_total_is_lines_plus_tax",
            ),
            models.CheckConstraint(condition=Q(total_cents__gt=0), name="credit_notes_total_positive"),
            models.CheckConstraint(
                condition=Q(
                    off_invoice_cents__gte=0, refunded_cents__gte=0, credited_cents__gte=0, returned_credit_cents__gte=0
                ),
                name="credit_notes_allocations_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(
                    total_cents=F("off_invoice_cents")
                    + F("refunded_cents")
                    + F("credited_cents")
                    + F("returned_credit_cents")
                ),
                name="credit_notes_total_allocated",
            ),
        ]
        indexes = [models.Index(fields=["organization", "issued_at"], name="credit_notes_org_issued")]

    def __str__(self) -> str:
        return self.number


class CreditNoteLine(models.Model):
    """What is credited: an amount of an invoice line (or of the invoice as a whole)."""

    id = models.BigAutoField(primary_key=True)
    credit_note = models.ForeignKey(CreditNote, on_delete=models.CASCADE, related_name="lines")
    invoice_line = models.ForeignKey(
        InvoiceLine, null=True, blank=True, on_delete=models.PROTECT, related_name="credit_note_lines"
    )
    description = models.CharField(max_length=300)
    quantity = models.DecimalField(max_digits=24, decimal_places=6, default=Decimal("1"))
    unit_price = models.DecimalField(max_digits=24, decimal_places=6, default=Decimal("0"))
    amount_cents = models.BigIntegerField(help_text="Before tax; positive: what is taken off.")
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.CheckConstraint(condition=Q(amount_cents__gt=0), name="credit_note_lines_positive")]

    def __str__(self) -> str:
        return f"{self.description}: {self.amount_cents}"


class CreditNoteNumberSequence(models.Model):
    """The last credit note number issued in a year; locked while the next one is taken."""

    year = models.PositiveIntegerField(primary_key=True)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last_number}"
