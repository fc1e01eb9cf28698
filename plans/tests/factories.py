"""Factories for plans, billable metrics and the charges that join them."""

from decimal import Decimal

import factory

from plans.models import Aggregation, BillableMetric, Plan, PlanCharge, Policy, PricingModel


class PlanFactory(factory.django.DjangoModelFactory):
    """A free, active, non-default monthly plan with no features."""

    class Meta:
        model = Plan

    code = factory.Sequence(lambda n: f"plan_{n}")
    name = factory.Sequence(lambda n: f"Plan {n}")
    description = "A plan made by a test."
    price_cents = 0
    currency = "USD"
    interval = "month"
    trial_days = 0
    features = factory.LazyFunction(dict)
    is_active = True
    is_default = False
    sort_order = 100


class BillableMetricFactory(factory.django.DjangoModelFactory):
    """An active sum metric fed by an event type no other metric uses."""

    class Meta:
        model = BillableMetric

    code = factory.Sequence(lambda n: f"metric_{n}")
    name = factory.Sequence(lambda n: f"Metric {n}")
    unit = "unit"
    event_types = factory.Sequence(lambda n: [f"test_event_{n}"])
    aggregation = Aggregation.SUM
    aggregation_key = ""
    is_active = True


class PlanChargeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PlanCharge

    plan = factory.SubFactory(PlanFactory)
    metric = factory.SubFactory(BillableMetricFactory)
    included_quantity = 1000
    policy = Policy.SOFT
    pricing_model = PricingModel.PER_UNIT
    unit_price = Decimal("0.5")
    package_size = 1
    tiers = factory.LazyFunction(list)
