"""Demo plans and metrics for `manage.py seed_demo` (idempotent)."""

from decimal import Decimal

from django.db import transaction

from .models import BillableMetric, Plan, PlanCharge

DEMO_METRICS = [
    # code, name, unit, event types, aggregation
    ("call_minutes", "Call minutes", "minute", ["call_completed"], "sum"),
    ("sms", "SMS messages", "message", ["sms_sent"], "count"),
    ("api_calls", "Telephony API calls", "call", ["telephony_api_request"], "count"),
]

DEMO_PLANS = [
    {
        "code": "pro",
        "name": "Pro",
        "description": "For growing products: generous quotas, overage billed per unit.",
        "price_cents": 2999,
        "trial_days": 0,
        "sort_order": 10,
        "features": {
            "usage_history": True,
            "analytics": True,
            "api_keys": 10,
            "team_members": 10,
            "priority_support": False,
        },
        "charges": [
            # metric, included, policy, model, unit price (cents), package size, tiers
            ("tokens", 1_000_000, "soft", "package", Decimal("200"), 100_000, []),
            ("requests", 50_000, "soft", "per_unit", Decimal("0.1"), 1, []),
            ("call_minutes", 0, "soft", "per_unit", Decimal("5"), 1, []),
            ("sms", 0, "soft", "per_unit", Decimal("1"), 1, []),
            ("api_calls", 0, "soft", "per_unit", Decimal("0.1"), 1, []),
        ],
    },
    {
        "code": "team",
        "name": "Team",
        "description": "For teams at scale: volume pricing, priority support, white label.",
        "price_cents": 9999,
        "trial_days": 14,
        "sort_order": 20,
        "features": {
            "usage_history": True,
            "analytics": True,
            "white_label": True,
            "api_keys": 50,
            "team_members": 50,
            "priority_support": True,
        },
        "charges": [
            (
                "tokens",
                5_000_000,
                "soft",
                "graduated",
                Decimal("0"),
                1,
                [
                    {"up_to": 10_000_000, "unit_price": "0.0015", "flat_fee_cents": 0},
                    {"up_to": None, "unit_price": "0.001", "flat_fee_cents": 0},
                ],
            ),
            (
                "requests",
                250_000,
                "soft",
                "volume",
                Decimal("0"),
                1,
                [
                    {"up_to": 1_000_000, "unit_price": "0.08", "flat_fee_cents": 0},
                    {"up_to": None, "unit_price": "0.05", "flat_fee_cents": 0},
                ],
            ),
            ("call_minutes", 500, "soft", "per_unit", Decimal("4"), 1, []),
            ("sms", 1000, "soft", "per_unit", Decimal("0.8"), 1, []),
            ("api_calls", 10_000, "soft", "per_unit", Decimal("0.08"), 1, []),
        ],
    },
]


@transaction.atomic
def demo_catalogue_ensure() -> None:
    for code, name, unit, event_types, aggregation in DEMO_METRICS:
        BillableMetric.objects.get_or_create(
            code=code, defaults={"name": name, "unit": unit, "event_types": event_types, "aggregation": aggregation}
        )
    metrics = {metric.code: metric for metric in BillableMetric.objects.all()}
    for spec in DEMO_PLANS:
        fields = {key: value for key, value in spec.items() if key not in {"code", "charges"}}
        # Looked up among current versions: an edited plan has older ones with its code.
        plan, created = Plan.objects.filter(replaced_by__isnull=True).get_or_create(code=spec["code"], defaults=fields)
        if not created:
            continue
        for metric_code, included, policy, model, unit_price, package_size, tiers in spec["charges"]:
            PlanCharge.objects.create(
                plan=plan,
                metric=metrics[metric_code],
                included_quantity=included,
                policy=policy,
                pricing_model=model,
                unit_price=unit_price,
                package_size=package_size,
                tiers=tiers,
            )
