"""Editing plans the way staff do: the admin change form of a plan with its charges
inline, posted with the Django test client as a superuser."""

from __future__ import annotations

import json

from django.test import Client

from billing_project.tests.world import staff_client  # noqa: F401 - re-exported
from plans.models import Plan

PLAN_ADMIN = "/admin/plans/plan/"


def change_url(plan: Plan) -> str:
    return f"{PLAN_ADMIN}{plan.pk}/change/"


def plan_form(plan: Plan, charges: dict[str, dict] | None = None, **fields) -> dict:
    """The change form of `plan` as the admin renders it, with `fields` changed and, per
    metric code in `charges`, that charge's terms changed."""
    plan.refresh_from_db()
    data = {
        "code": plan.code,
        "name": plan.name,
        "description": plan.description,
        "price_cents": str(plan.price_cents),
        "currency": plan.currency,
        "interval": plan.interval,
        "trial_days": str(plan.trial_days),
        "features": json.dumps(plan.features),
        "sort_order": str(plan.sort_order),
    }
    if plan.is_active:
        data["is_active"] = "on"
    if plan.is_default:
        data["is_default"] = "on"
    rows = list(plan.charges.select_related("metric").order_by("metric__code"))
    data.update(
        {
            "charges-TOTAL_FORMS": str(len(rows)),
            "charges-INITIAL_FORMS": str(len(rows)),
            "charges-MIN_NUM_FORMS": "0",
            "charges-MAX_NUM_FORMS": "1000",
        }
    )
    for index, charge in enumerate(rows):
        terms = {
            "id": str(charge.pk),
            "plan": str(plan.pk),
            "metric": str(charge.metric_id),
            "included_quantity": "" if charge.included_quantity is None else str(charge.included_quantity),
            "policy": charge.policy,
            "pricing_model": charge.pricing_model,
            "unit_price": str(charge.unit_price),
            "package_size": str(charge.package_size),
            "tiers": json.dumps(charge.tiers),
        }
        terms.update((charges or {}).get(charge.metric.code, {}))
        data.update({f"charges-{index}-{name}": value for name, value in terms.items()})
    data.update(fields)
    return data


def post_change(client: Client, plan: Plan, data: dict):
    """Post the change form; the admin must accept it (a redirect). Returns the response
    after following the redirect (its messages)."""
    response = client.post(change_url(plan), data)
    if response.status_code != 302:
        context = response.context
        inlines = [inline.formset.errors for inline in context["inline_admin_formsets"]]
        errors = [context["adminform"].form.errors, *inlines]
        raise AssertionError(f"the admin refused the change: {errors}")
    return client.get(response["Location"])


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]
