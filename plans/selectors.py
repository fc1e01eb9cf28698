"""Reads about plans: which plan an organization is on and what it entitles."""

from __future__ import annotations

from django.db.models import Prefetch

from .catalogue import PlanTerms, catalogue
from .models import Plan, PlanCharge


def plan_id_for_organization(*, organization_id) -> str | None:
    """The plan an organization is on: its trialing, active or past-due subscription's plan;
    without one, the default plan."""
    from subscriptions.selectors import entitled_subscription

    subscription = entitled_subscription(organization_id=organization_id)
    if subscription is not None:
        return str(subscription.plan_id)
    return catalogue().default_plan_id


def plan_terms_for_organization(*, organization_id) -> PlanTerms | None:
    plan_id = plan_id_for_organization(organization_id=organization_id)
    return catalogue().plans.get(plan_id) if plan_id else None


def plan_for_organization(*, organization_id) -> Plan | None:
    plan_id = plan_id_for_organization(organization_id=organization_id)
    return Plan.objects.filter(pk=plan_id).first() if plan_id else None


def plans_public(*, active: bool | None = None):
    """Plans with the charges that apply: those on inactive metrics are left out, as the
    catalogue (and so quota enforcement and invoicing) leaves them out."""
    charges = PlanCharge.objects.filter(metric__is_active=True).select_related("metric")
    queryset = Plan.objects.prefetch_related(Prefetch("charges", queryset=charges))
    if active is not None:
        queryset = queryset.filter(is_active=active)
    return queryset


def entitlement(*, organization_id, feature: str):
    """The value of `feature` on the organization's plan (None when the plan lacks it)."""
    terms = plan_terms_for_organization(organization_id=organization_id)
    return terms.features.get(feature) if terms else None
