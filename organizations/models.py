import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

currency_validator = RegexValidator(r"^[A-Z]{3}$", "Use a three-letter ISO 4217 code, e.g. USD.")
country_validator = RegexValidator(r"^[A-Z]{2}$", "Use a two-letter ISO 3166 code, e.g. US.")


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    BILLING = "billing", "Billing"
    MEMBER = "member", "Member"


# Roles that may manage members, invitations and API keys.
MANAGER_ROLES = frozenset({Role.OWNER, Role.ADMIN})
# Roles that may change billing: plans, payment methods, checkout.
BILLING_ROLES = frozenset({Role.OWNER, Role.ADMIN, Role.BILLING})


class Organization(models.Model):
    """The billing customer: subscriptions, usage, invoices and credits belong to it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    billing_email = models.EmailField(blank=True)
    country = models.CharField(max_length=2, blank=True, validators=[country_validator])
    tax_id = models.CharField(max_length=64, blank=True, help_text="Printed on invoices (VAT number, NPWP, ...).")
    billing_address = models.CharField(max_length=500, blank=True, help_text="Postal address printed on invoices.")
    currency = models.CharField(max_length=3, default="USD", validators=[currency_validator])
    is_personal = models.BooleanField(default=False, help_text="Created with the account at registration.")
    tax_rate = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text="Tax added to invoices, in percent (e.g. 11 for Indonesian VAT). Set by staff.",
    )
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="organizations")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"

    @property
    def email(self) -> str:
        """Where gateways send receipts (dj-stripe's subscriber model needs `email`)."""
        return self.billing_email


class Membership(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="organizations_membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization.slug} as {self.role}"

    @property
    def can_manage_members(self) -> bool:
        return self.role in MANAGER_ROLES

    @property
    def can_manage_billing(self) -> bool:
        return self.role in BILLING_ROLES


class Invitation(models.Model):
    """An emailed invitation to join an organization; only its token's hash is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One open invitation per organization and address; re-inviting renews it.
            models.UniqueConstraint(
                fields=["organization", "email"],
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="organizations_invitation_one_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} -> {self.organization.slug} ({self.status})"

    @property
    def status(self) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"
