from django.db import models
from django.utils import timezone


class Outcome(models.TextChoices):
    PENDING = "pending", "Not processed yet"
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Acknowledged, nothing to do"
    FAILED = "failed", "Processing failed (kept for a retry)"


class InboundEvent(models.Model):
    """Every verified event a gateway sent, stored once before it is processed."""

    id = models.BigAutoField(primary_key=True)
    gateway = models.CharField(max_length=20)
    event_id = models.CharField(max_length=255)
    event_type = models.CharField(max_length=100)
    payload = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.PENDING)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-received_at"]
        constraints = [models.UniqueConstraint(fields=["gateway", "event_id"], name="webhooks_event_once")]
        indexes = [models.Index(fields=["outcome", "received_at"], name="webhooks_outcome")]

    def __str__(self) -> str:
        return f"{self.gateway} {self.event_type} {self.event_id} ({self.outcome})"
