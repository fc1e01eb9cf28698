"""SubscriptionFactory: subscriptions made the way the application makes them, through
subscriptions.services.subscription_create (periods, anchor, trial and history included)."""

from __future__ import annotations

import factory

from accounts.tests.factories import OrganizationFactory
from plans.tests.factories import PlanFactory
from subscriptions.models import Status, Subscription
from subscriptions.services import subscription_create


class SubscriptionFactory(factory.Factory):
    """An active subscription of a new organization to a new $20 monthly plan, starting
    now (midnight UTC). `trial_days=None` means the plan's own trial days."""

    class Meta:
        model = Subscription

    organization = factory.SubFactory(OrganizationFactory)
    plan = factory.SubFactory(PlanFactory, price_cents=2000)
    start = None
    status = Status.ACTIVE
    trial_days = None

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        raise NotImplementedError("Subscriptions are only made through subscription_create.")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return subscription_create(**kwargs)
