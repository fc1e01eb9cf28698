"""The product's default catalogue (the data migration 0002 creates the same)."""

from .models import BillableMetric, Plan, PlanCharge

FREE_FEATURES = {"usage_history": False, "api_keys": 3, "team_members": 3, "priority_support": False}


def default_catalogue_ensure() -> None:
    """The `tokens` and `requests` metrics and a free default plan, where missing."""
    tokens, _ = BillableMetric.objects.get_or_create(
        code="tokens",
        defaults={"name": "Tokens", "unit": "token", "event_types": ["tokens_used"], "aggregation": "sum"},
    )
    requests, _ = BillableMetric.objects.get_or_create(
        code="requests",
        defaults={"name": "API requests", "unit": "request", "event_types": ["api_call"], "aggregation": "count"},
    )
    if Plan.objects.filter(is_default=True).exists():
        return
    # The current version of `free`: its older versions (if it has any) are not looked at.
    free, created = Plan.objects.filter(replaced_by__isnull=True).get_or_create(
        code="free",
        defaults={
            "name": "Free",
            "description": "For trying things out. Hard monthly limits.",
            "price_cents": 0,
            "features": FREE_FEATURES,
            "is_default": True,
        },
    )
    if not created and free.has_subscribers():
        return  # its charges are frozen (see plans.services.plan_revise)
    for metric, included in ((tokens, 10_000), (requests, 1_000)):
        PlanCharge.objects.get_or_create(
            plan=free, metric=metric, defaults={"included_quantity": included, "policy": "hard"}
        )
