import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from invoices.models import Invoice
from organizations.models import Organization


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"
    REFUNDED = "refunded", "Refunded"
    PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"


class PaymentKind(models.TextChoices):
    CHECKOUT = "checkout", "Hosted checkout"
    OFF_SESSION = "off_session", "Charge of a saved payment method"
    PAY_LINK = "pay_link", "Pay link"


class Payment(models.Model):
    """One attempt to collect an invoice through a gateway."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="payments")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    gateway = models.CharField(max_length=20)
    kind = models.CharField(max_length=16, choices=PaymentKind.choices)
    reference = models.CharField(max_length=255, help_text="The gateway's id of this attempt.")
    amount_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.PENDING)
    failure_reason = models.CharField(max_length=500, blank=True)
    payment_method = models.CharField(max_length=255, blank=True)
    checkout_url = models.URLField(max_length=2000, blank=True)
    success_url = models.URLField(max_length=2000, blank=True)
    cancel_url = models.URLField(max_length=2000, blank=True)
    attempt = models.PositiveIntegerField(default=1, help_text="Which collection attempt of the invoice.")
    amount_refunded_cents = models.BigIntegerField(default=0)
    is_applied = models.BooleanField(
        default=False,
        help_text="Its money paid the invoice (a payment that arrived for an invoice already settled is "
        "refunded as an overpayment instead).",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["gateway", "reference"], name="payments_reference_unique"),
            models.UniqueConstraint(
                fields=["invoice", "attempt"],
                condition=Q(kind="off_session"),
                name="payments_one_charge_per_attempt",
            ),
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="payments_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.gateway} {self.reference} ({self.status})"

    @property
    def refundable_cents(self) -> int:
        return (
            self.amount_cents - self.amount_refunded_cents if self.status in ("succeeded", "partially_refunded") else 0
        )


class RefundStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    MANUAL = "manual", "Manual: returned outside the gateway"


class Refund(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount_cents = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=RefundStatus.choices, default=RefundStatus.PENDING)
    reference = models.CharField(max_length=255, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    failure_reason = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    credit_note = models.ForeignKey(
        "invoices.CreditNote",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="refunds",
        help_text="The credit note this refund pays out (none for an overpayment given back).",
    )
    is_overpayment = models.BooleanField(
        default=False, help_text="Gives back money the invoice did not need (no credit note)."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=Q(amount_cents__gt=0), name="refunds_amount_positive")]

    def __str__(self) -> str:
        return f"refund {self.amount_cents} of {self.payment}"


class DisputeStatus(models.TextChoices):
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"
    CLOSED = "closed", "Closed"


class Dispute(models.Model):
    """A chargeback opened at a gateway, recorded against its payment and invoice."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="disputes")
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="disputes")
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="disputes")
    gateway = models.CharField(max_length=20)
    reference = models.CharField(max_length=255)
    amount_cents = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, blank=True)
    reason = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=16, choices=DisputeStatus.choices, default=DisputeStatus.OPEN)
    opened_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [models.UniqueConstraint(fields=["gateway", "reference"], name="payments_dispute_once")]

    def __str__(self) -> str:
        return f"dispute {self.reference} ({self.status})"
