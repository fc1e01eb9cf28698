"""Reads about plans: which plan an organization is on and what it entitles."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from . import hooks
from .catalogue import PlanTerms, catalogue
from .models import Plan, PlanCharge


def plan_id_for_organization(*, organization_id) -> str | None:
    """The plan an organization is on: its trialing, active or past-due subscription's plan
    (asked of the subscriptions app through plans.hooks); without one, the default plan."""
    subscription = hooks.entitled_subscription(organization_id=organization_id)
    if subscription is not None:
        return str(subscription.plan_id)
    return catalogue().default_plan_id


def plan_terms_for_organization(*, organization_id) -> PlanTerms | None:
    plan_id = plan_id_for_organization(organization_id=organization_id)
    return catalogue().plans.get(plan_id) if plan_id else None


def plan_for_organization(*, organization_id) -> Plan | None:
    plan_id = plan_id_for_organization(organization_id=organization_id)
    return Plan.objects.filter(pk=plan_id).first() if plan_id else None


def plan_of(*, plan_id) -> Plan | None:
    """Any plan by id: a current or replaced version, active or not (the use cases say
    which they take)."""
    return Plan.objects.filter(pk=plan_id).first()


def plans_public(*, current_only: bool = True) -> QuerySet:
    """Plans with the charges that apply: those on inactive metrics are left out, as the
    catalogue (and so quota enforcement and invoicing) leaves them out. Only current
    versions, unless `current_only` is false (a replaced version still answers by id: its
    subscribers are billed on it)."""
    charges = PlanCharge.objects.filter(metric__is_active=True).select_related("metric")
    queryset = Plan.objects.prefetch_related(Prefetch("charges", queryset=charges))
    if current_only:
        queryset = queryset.filter(replaced_by__isnull=True)
    return queryset


def plan_public(*, plan_id) -> Plan | None:
    """One plan as `plans_public` shows it, a replaced version included."""
    return plans_public(current_only=False).filter(pk=plan_id).first()


def entitlements_of(*, organization_id) -> dict:
    """The organization's plan (id, code, name) and its features; without a plan (no
    default plan configured), `plan` is None and there are no features."""
    terms = plan_terms_for_organization(organization_id=organization_id)
    if terms is None:
        return {"plan": None, "features": {}}
    return {"plan": {"id": terms.id, "code": terms.code, "name": terms.name}, "features": terms.features}


def plans_with_live_subscription_counts(queryset: QuerySet | None = None) -> QuerySet:
    """Plans annotated with `live_subscriptions`: how many live subscriptions (incomplete,
    trialing, active, past due) are on each, counted in the same query (by the subscriptions
    app, through plans.hooks)."""
    queryset = Plan.objects.all() if queryset is None else queryset
    return hooks.with_live_subscription_counts(queryset)


def plan_versions(*, code: str) -> QuerySet:
    """Every version of the plan `code`, newest first, with its live subscription count."""
    return plans_with_live_subscription_counts(Plan.objects.filter(code=code)).order_by("-version")


def plan_current_version(*, code: str) -> Plan | None:
    return Plan.objects.filter(code=code, replaced_by__isnull=True).first()


def entitlement(*, organization_id, feature: str):
    """The value of `feature` on the organization's plan (None when the plan lacks it)."""
    terms = plan_terms_for_organization(organization_id=organization_id)
    return terms.features.get(feature) if terms else None
