"""The public pricing page: the live catalogue, as GET /plans shows it."""

from __future__ import annotations

from django.shortcuts import render

from plans.models import Interval
from plans.selectors import plans_public


def _feature_lines(features: dict) -> list[str]:
    lines = []
    for name, value in sorted(features.items()):
        label = name.replace("_", " ")
        if value is True:
            lines.append(label.capitalize())
        elif value in (False, None, 0, ""):
            continue
        elif isinstance(value, list):
            lines.append(f"{label.capitalize()}: {', '.join(str(item) for item in value)}")
        else:
            lines.append(f"{label.capitalize()}: {value}")
    return lines


def plan_cards(plans) -> list[dict]:
    """What a plan card shows: price, interval, trial, included quantities, features."""
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
