"""The public pricing page: the live catalogue, as GET /plans shows it."""

from __future__ import annotations

from decimal import Decimal

from django.shortcuts import render

from plans.models import Interval
from plans.selectors import plans_public

# Flags the catalogue still carries that no longer tell plans apart: every plan reads its
# usage history.
NOT_A_DIFFERENCE = {"usage_history"}
LABEL_WORDS = {"api": "API", "sla": "SLA", "sso": "SSO", "ai": "AI"}


def _feature_lines(features: dict) -> list[str]:
    lines = []
    for name, value in sorted(features.items()):
        if name in NOT_A_DIFFERENCE:
            continue
        label = " ".join(LABEL_WORDS.get(word, word) for word in name.split("_"))
        label = label[:1].upper() + label[1:]
        if value is True:
            lines.append(label)
        elif value in (False, None, 0, ""):
            continue
        elif isinstance(value, list):
            lines.append(f"{label}: {', '.join(str(item) for item in value)}")
        else:
            lines.append(f"{label}: {value}")
    return lines


def plan_cards(plans) -> list[dict]:
    """What a plan card shows: price, interval, trial, included quantities, how usage
    beyond them is priced (per unit, per package, by tiers), features."""
    cards = []
    for plan in plans:
        cards.append(
            {
                "plan": plan,
                "per": "year" if plan.interval == Interval.YEAR else "month",
                "charges": [
                    {
                        "name": charge.metric.name,
                        "unit": charge.metric.unit,
                        "included": charge.included_quantity,
                        "unit_price": charge.unit_price,
                        "policy": charge.policy,
                        "pricing_model": charge.pricing_model,
                        "package_size": charge.package_size,
                        "tiers": [
                            {"up_to": tier.get("up_to"), "unit_price": Decimal(str(tier.get("unit_price") or 0))}
                            for tier in charge.tiers or []
                        ],
                    }
                    for charge in plan.charges.all()
                ],
                "features": _feature_lines(plan.features or {}),
            }
        )
    return cards


def pricing(request):
    plans = plans_public().filter(is_active=True).order_by("sort_order", "price_cents")
    return render(request, "web/pricing.html", {"cards": plan_cards(plans)})
