"""The product's defaults: the `tokens` and `requests` metrics of API.md and the free
default plan that organizations without a paid subscription are on."""

from django.db import migrations

FREE_FEATURES = {"usage_history": False, "api_keys": 3, "team_members": 3, "priority_support": False}


def create_defaults(apps, schema_editor):
    BillableMetric = apps.get_model("plans", "BillableMetric")
    Plan = apps.get_model("plans", "Plan")
    PlanCharge = apps.get_model("plans", "PlanCharge")
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
    free, _ = Plan.objects.get_or_create(
        code="free",
        defaults={
            "name": "Free",
            "description": "For trying things out. Hard monthly limits.",
            "price_cents": 0,
            "currency": "USD",
            "interval": "month",
            "features": FREE_FEATURES,
            "is_default": True,
            "sort_order": 0,
        },
    )
    for metric, included in ((tokens, 10_000), (requests, 1_000)):
        PlanCharge.objects.get_or_create(
            plan=free,
            metric=metric,
            defaults={"included_quantity": included, "policy": "hard", "pricing_model": "per_unit", "unit_price": 0},
        )


class Migration(migrations.Migration):
    dependencies = [("plans", "0001_initial")]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
