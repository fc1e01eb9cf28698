from __future__ import annotations

from datetime import datetime

from .models import ENTITLED_STATUSES, LIVE_STATUSES, Subscription


def live_subscription(*, organization_id) -> Subscription | None:
    """The organization's one live subscription (incomplete, trialing, active, past due)."""
    return (
        Subscription.objects.select_related("plan", "scheduled_plan")
        .filter(organization_id=organization_id, status__in=LIVE_STATUSES)
        .first()
    )


def entitled_subscription(*, organization_id) -> Subscription | None:
    """The subscription whose plan the organization is on now (trialing, active, past due)."""
    return (
        Subscription.objects.select_related("plan")
        .filter(organization_id=organization_id, status__in=ENTITLED_STATUSES)
        .first()
    )


def quota_anchors() -> dict[str, datetime]:
    """Organization id -> billing anchor, for every organization on a subscription."""
    return {
        str(org_id): anchor
        for org_id, anchor in Subscription.objects.filter(status__in=ENTITLED_STATUSES).values_list(
            "organization_id", "billing_anchor"
        )
    }
