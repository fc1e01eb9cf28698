import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from organizations.models import Organization


class Scope(models.TextChoices):
    USAGE_WRITE = "usage:write", "Report usage"
    USAGE_READ = "usage:read", "Check quotas"
    CREDITS_WRITE = "credits:write", "Spend credits"


class Mode(models.TextChoices):
    LIVE = "live", "Live"
    TEST = "test", "Test (usage is validated and stored, never counted or billed)"


class APIKey(models.Model):
    """A service credential of one organization. Only a SHA-256 hash of the secret is kept;
    the secret is shown once, when created or rotated."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    mode = models.CharField(max_length=4, choices=Mode.choices, default=Mode.LIVE)
    prefix = models.CharField(max_length=24, help_text="The first characters of the key, to recognize it.")
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "revoked_at"], name="apikeys_org_revoked")]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        if self.revoked_at:
            return False
        return not (self.expires_at and self.expires_at <= timezone.now())

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= timezone.now():
            return "expired"
        return "active"
