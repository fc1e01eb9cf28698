"""What plans asks of the apps above it. plans imports none of them (the apps are layered:
each imports only the apps below it); they register the answers here when they start.

- Currency validators (payments): whether a plan may be priced in a currency. Plan.clean
  runs them, so the admin form and plans.services.plan_revise check them alike.
- The entitled subscription (subscriptions): the subscription whose plan an organization
  is on now, if any (plans.selectors.plan_id_for_organization).
- Live subscription counts (subscriptions): plans annotated with `live_subscriptions`, the
  number of live subscriptions on each (plans.selectors, the plan admin).

Asking a hook nobody registered is an ImproperlyConfigured error, not a quiet "none": an
organization would otherwise fall back to the default plan's limits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet

# Key -> validator(currency): raises ValidationError, with the message for the plan's
# currency field, when a plan cannot be priced in `currency`.
_currency_validators: dict[str, Callable[[str], None]] = {}
_entitled_subscription: Callable[..., Any] | None = None
_live_subscription_counts: Callable[[QuerySet], QuerySet] | None = None


def register_currency_validator(key: str, validator: Callable[[str], None]) -> None:
    """Register (or, under the same key, replace) a check of a plan's currency."""
    _currency_validators[key] = validator


def validate_currency(currency: str) -> None:
    """Raises the first registered validator's ValidationError for `currency`."""
    for validator in tuple(_currency_validators.values()):
        validator(currency)


def register_entitled_subscription(lookup: Callable[..., Any]) -> None:
    """`lookup(*, organization_id)`: the subscription (with a `plan_id`) whose plan the
    organization is on now, or None."""
    global _entitled_subscription
    _entitled_subscription = lookup


def entitled_subscription(*, organization_id):
    if _entitled_subscription is None:
        raise ImproperlyConfigured("No app registered plans.hooks.register_entitled_subscription.")
    return _entitled_subscription(organization_id=organization_id)


def register_live_subscription_counts(annotate: Callable[[QuerySet], QuerySet]) -> None:
    """`annotate(plans)`: the plans queryset annotated with `live_subscriptions`, counted in
    the same query."""
    global _live_subscription_counts
    _live_subscription_counts = annotate


def with_live_subscription_counts(queryset: QuerySet) -> QuerySet:
    if _live_subscription_counts is None:
        raise ImproperlyConfigured("No app registered plans.hooks.register_live_subscription_counts.")
    return _live_subscription_counts(queryset)
