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


class DisputeSource(models.TextChoices):
    GATEWAY = "gateway", "Chargeback at the gateway"
    CUSTOMER = "customer", "Opened by the customer"


class DisputeStatus(models.TextChoices):
    """A chargeback's status is the gateway's (open, then won, lost or closed); a customer
    dispute goes open -> under_review -> resolved (or open -> resolved)."""

    OPEN = "open", "Open"
    UNDER_REVIEW = "under_review", "Under review"
    RESOLVED = "resolved", "Resolved"
    WON = "won", "Won"
    LOST = "lost", "Lost"
    CLOSED = "closed", "Closed"


GATEWAY_DISPUTE_STATUSES = (DisputeStatus.OPEN, DisputeStatus.WON, DisputeStatus.LOST, DisputeStatus.CLOSED)
CUSTOMER_DISPUTE_STATUSES = (DisputeStatus.OPEN, DisputeStatus.UNDER_REVIEW, DisputeStatus.RESOLVED)
# A customer dispute in one of these still waits for a decision: one at a time per invoice or entry.
UNRESOLVED_STATUSES = (DisputeStatus.OPEN, DisputeStatus.UNDER_REVIEW)


class DisputeReason(models.TextChoices):
    """Why a customer disputes a charge (a chargeback's reason is the gateway's own word)."""

    DUPLICATE = "duplicate", "Charged twice"
    INCORRECT_AMOUNT = "incorrect_amount", "Incorrect amount"
    SERVICE_NOT_PROVIDED = "service_not_provided", "Service not provided"
    UNAUTHORIZED = "unauthorized", "Not authorized by us"
    OTHER = "other", "Other"


class DisputeResolution(models.TextChoices):
    REFUND = "refund", "Refunded"
    CREDIT = "credit", "Credited to the balance"
    REJECTED = "rejected", "Rejected"


class Dispute(models.Model):
    """Money a customer contests, in one table so staff see both kinds side by side.

    A *gateway* dispute is a chargeback: the cardholder's bank took the payment back and the
    gateway reports it (billing.services applies its webhooks; `gateway` + `reference` name it
    there and its status is the gateway's). A *customer* dispute is raised on this site about
    one issued invoice or one charge to the credit balance, with a description and the amount
    the customer asks back; staff review and resolve it (payments.disputes). `amount_cents` is
    the money in dispute: the chargeback's amount, or what the customer asks back."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="disputes")
    source = models.CharField(max_length=10, choices=DisputeSource.choices, default=DisputeSource.GATEWAY)
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="disputes")
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="disputes")
    credit_entry = models.ForeignKey(
        "credits.CreditLedgerEntry",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="disputes",
        help_text="The charge to the credit balance a customer disputes (instead of an invoice).",
    )
    gateway = models.CharField(max_length=20, blank=True)
    reference = models.CharField(max_length=255, blank=True, help_text="The gateway's id of a chargeback.")
    amount_cents = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, blank=True)
    reason = models.CharField(max_length=100, blank=True)
    description = models.TextField(blank=True, help_text="The customer's account of what is wrong.")
    requested_refund_cents = models.BigIntegerField(default=0, help_text="What the customer asks back (minor units).")
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=DisputeStatus.choices, default=DisputeStatus.OPEN)
    resolution = models.CharField(max_length=10, choices=DisputeResolution.choices, blank=True)
    resolution_note = models.TextField(blank=True, help_text="Why it was decided so, shown to the customer.")
    opened_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["gateway", "reference"], condition=~Q(reference=""), name="payments_dispute_once"
            ),
            models.UniqueConstraint(
                fields=["invoice"],
                condition=Q(source="customer", status__in=UNRESOLVED_STATUSES),
                name="payments_dispute_one_open_per_invoice",
            ),
            models.UniqueConstraint(
                fields=["credit_entry"],
                condition=Q(source="customer", status__in=UNRESOLVED_STATUSES),
                name="payments_dispute_one_open_per_entry",
            ),
            models.CheckConstraint(
                condition=Q(source="customer")
                | (Q(source="gateway", status__in=GATEWAY_DISPUTE_STATUSES) & ~Q(reference="")),
                name="payments_dispute_gateway_shape",
            ),
            models.CheckConstraint(
                condition=Q(source="gateway")
                | (
                    Q(source="customer", status__in=CUSTOMER_DISPUTE_STATUSES)
                    & (
                        Q(invoice__isnull=False, credit_entry__isnull=True)
                        | Q(invoice__isnull=True, credit_entry__isnull=False)
                    )
                ),
                name="payments_dispute_customer_shape",
            ),
            models.CheckConstraint(
                condition=Q(requested_refund_cents__gte=0), name="payments_dispute_requested_not_negative"
            ),
            models.CheckConstraint(
                condition=(Q(status="resolved") & ~Q(resolution="") & Q(resolved_at__isnull=False))
                | (~Q(status="resolved") & Q(resolution="")),
                name="payments_dispute_resolved_has_resolution",
            ),
        ]

    def __str__(self) -> str:
        if self.source == DisputeSource.CUSTOMER:
            return f"customer dispute {self.pk} ({self.status})"
        return f"dispute {self.reference} ({self.status})"

    @property
    def is_chargeback(self) -> bool:
        return self.source == DisputeSource.GATEWAY

    @property
    def is_resolved(self) -> bool:
        """Decided: a customer dispute resolved, a chargeback won, lost or closed."""
        return self.status not in UNRESOLVED_STATUSES


class DisputeEventKind(models.TextChoices):
    STATUS_CHANGED = "status_changed", "Status changed"
    MESSAGE = "message", "Message"


class DisputeActor(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    STAFF = "staff", "Support"
    SYSTEM = "system", "System"


class DisputeEvent(models.Model):
    """One line of a dispute's history, never changed: a status change (with staff's note)
    or a message between the customer and staff. `author` is the customer who wrote it;
    for staff it is kept for the audit but never shown to the customer; system events
    (a gateway's report) have none."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    dispute = models.ForeignKey(Dispute, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=DisputeEventKind.choices)
    actor = models.CharField(max_length=10, choices=DisputeActor.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_status = models.CharField(max_length=16, choices=DisputeStatus.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=DisputeStatus.choices, blank=True)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="status_changed") & ~Q(to_status=""))
                | (Q(kind="message") & ~Q(message="") & Q(from_status="", to_status="")),
                name="payments_dispute_event_shape",
            ),
        ]
        indexes = [models.Index(fields=["dispute", "created_at"], name="payments_dispute_event_order")]

    def __str__(self) -> str:
        if self.kind == DisputeEventKind.STATUS_CHANGED:
            return f"{self.from_status or '-'} -> {self.to_status}"
        return f"message by {self.actor}"
