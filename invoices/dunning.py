"""The dunning schedule: when an unpaid invoice is charged again."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings

from subscriptions.models import Status


def next_attempt_after(*, invoice, attempt: int, now: datetime) -> datetime | None:
    """When to try again after collection attempt `attempt` (1 = the first, when the
    invoice was issued) fails: DUNNING_RETRY_DAYS after the first attempt, then never.
    Never for an invoice of a canceled subscription: it stays open as a receivable."""
    subscription = invoice.subscription if invoice.subscription_id else None
    if subscription is not None and subscription.status == Status.CANCELED:
        return None
    days = settings.DUNNING_RETRY_DAYS
    if attempt > len(days):
        return None
    first = invoice.finalized_at or now
    return max(first + timedelta(days=days[attempt - 1]), now)


def retries_exhausted(invoice) -> bool:
    return invoice.attempt_count > len(settings.DUNNING_RETRY_DAYS) and invoice.next_payment_attempt is None
