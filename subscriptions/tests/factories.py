"""SubscriptionFactory: subscriptions made the way the application makes them, through
subscriptions.services.subscription_create (periods, anchor, trial, plan segment and
history included), with the gateway's saved payment method when one is given."""

from __future__ import annotations

import factory

from subscriptions.models import Status, Subscription
from subscriptions.services import subscription_create, subscription_payment_method_save


class SubscriptionFactory(factory.django.DjangoModelFactory):
    """An active subscription of a new organization to a new $20 monthly plan, starting
    now (to the second). `trial_days=None` means the plan's own trial days. A
    `payment_method` is saved as subscription_payment_method_save does (on `gateway`,
    by default the sandbox's), as after a paid checkout."""

    class Meta:
        model = Subscription

    organization = factory.SubFactory("organizations.tests.factories.OrganizationFactory")
    plan = factory.SubFactory("plans.tests.factories.PlanFactory", price_cents=2000)
    start = None
    status = Status.ACTIVE
    trial_days = None
    gateway = ""
    payment_method = ""

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        raise NotImplementedError("Subscriptions are only made through subscription_create.")

    @classmethod
    def _create(cls, model_class, *args, payment_method="", gateway="", **kwargs):
        if payment_method and not gateway:
            gateway = "sandbox"
        subscription = subscription_create(gateway=gateway, **kwargs)
        if payment_method:
            subscription = subscription_payment_method_save(
                subscription=subscription, gateway=gateway, payment_method=payment_method
            )
        return subscription
