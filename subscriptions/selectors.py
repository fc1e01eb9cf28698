from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Q, QuerySet

from .models import ENTITLED_STATUSES, LIVE_STATUSES, PlanSegment, Subscription


def live_subscription(*, organization_id) -> Subscription | None:
    """The organization's one live subscription (incomplete, trialing, active, past due)."""
    return (
        Subscription.objects.select_related("plan", "scheduled_plan")
        .filter(organization_id=organization_id, status__in=LIVE_STATUSES)
        .first()
    )


def latest_subscription(*, organization_id) -> Subscription | None:
    """The live subscription, else the organization's most recent ended one (canceling or
    reactivating a canceled subscription is then refused for what it is, not a 404)."""
    return live_subscription(organization_id=organization_id) or (
        Subscription.objects.filter(organization_id=organization_id).order_by("-created_at").first()
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


def plan_segments(*, windows: dict) -> dict:
    """For each `windows[key] = (subscription id, start, end)`: [(plan id, start, end)] of
    the subscription's segments inside the window, clipped to it, oldest first (keys
    without a segment in their window are absent). One query for all of them."""
    found: dict = {}
    by_subscription: dict = {}
    for key, (subscription_id, start, end) in windows.items():
        by_subscription.setdefault(subscription_id, []).append((key, start, end))
    if not by_subscription:
        return found
    segments = PlanSegment.objects.filter(subscription_id__in=list(by_subscription)).order_by(
        "subscription_id", "starts_at", "id"
    )
    for segment in segments:
        for key, start, end in by_subscription[segment.subscription_id]:
            seg_start = max(segment.starts_at, start)
            seg_end = end if segment.ends_at is None else min(segment.ends_at, end)
            if seg_start < seg_end:
                found.setdefault(key, []).append((segment.plan_id, seg_start, seg_end))
    return found


def plans_with_live_subscription_counts(plans: QuerySet) -> QuerySet:
    """`plans` annotated with `live_subscriptions`: how many live subscriptions (incomplete,
    trialing, active, past due) are on each, counted in the same query."""
    live = Q(subscriptions__status__in=[str(status) for status in LIVE_STATUSES])
    return plans.annotate(live_subscriptions=Count("subscriptions", filter=live))
