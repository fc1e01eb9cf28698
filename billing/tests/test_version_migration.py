"""Moving the subscribers of a replaced plan version to the current one (audit item 11):
at their next renewal, or now (usage from the move on rated on the new version, the base
fee already invoiced for the period left as it is). Staff move them with the plan admin's
actions; subscribers subscribe and report usage through the API."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.subscriptions import subscription_change_plan, subscriptions_move_to_version
from billing.tests.cycle_helpers import after_grace, base_fees, cycle, cycle_invoices, usage_lines
from billing_project.errors import ValidationFailed
from billing_project.tests.world import utc
from plans.models import Plan
from plans.services import plan_revise
from plans.tests.admin_forms import PLAN_ADMIN, messages_of, staff_client
from plans.tests.factories import PlanFactory
from subscriptions.models import PlanSegment, Status, Subscription, SubscriptionEvent
from subscriptions.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

PRO_V1, PRO_V2 = 2999, 3999


@pytest.fixture
def customer(customer, clock):
    """The shared world's customer on `pro` (version 1) since 2025-03-01 09:00, who used
    10 call minutes on the 5th; the period runs to 2025-04-01 09:00."""
    clock.move_to(utc(2025, 3, 1, 9), tick=False)
    customer.subscribe("pro")
    clock.move_to(utc(2025, 3, 5, 12), tick=False)
    customer.report_ok("call_minutes", utc(2025, 3, 5, 12), 10)
    return customer


def revise_pro() -> tuple[Plan, Plan]:
    """Version 2 of pro: $39.99 and 9c a call minute (version 1: $29.99 and 5c)."""
    v1 = Plan.objects.get(code="pro")
    charges = [
        {"metric": charge.metric, **{name: getattr(charge, name) for name in CHARGE_TERMS}}
        for charge in v1.charges.select_related("metric")
    ]
    for charge in charges:
        if charge["metric"].code == "call_minutes":
            charge["unit_price"] = Decimal("9")
    v2 = plan_revise(plan=v1, changes={"price_cents": PRO_V2}, charges=charges)
    v1.refresh_from_db()
    return v1, v2


CHARGE_TERMS = ("included_quantity", "policy", "pricing_model", "unit_price", "package_size", "tiers")


def run_action(plan: Plan, action: str):
    response = staff_client().post(
        PLAN_ADMIN, {"action": action, "_selected_action": [str(plan.pk)], "index": "0"}, follow=True
    )
    assert response.status_code == 200
    return messages_of(response)


def call_minute_lines(invoice) -> list[tuple[int, int]]:
    return sorted(
        (int(line.quantity), line.amount_cents)
        for line in invoice.lines.filter(kind="usage", metric__code="call_minutes")
    )


# --- at the next renewal ---------------------------------------------------------------------


def test_moved_at_renewal_the_next_period_is_billed_on_the_new_version_and_this_ones_usage_on_the_old(customer, clock):
    v1, v2 = revise_pro()
    subscription = customer.subscription
    period_end = subscription.current_period_end

    messages = run_action(v1, "move_subscribers_at_renewal")

    assert "1 subscription of version 1 of pro move to version 2 at their next renewal." in messages
    subscription = customer.subscription
    assert (subscription.plan_id, subscription.scheduled_plan_id) == (v1.pk, v2.pk)
    cycle(after_grace(period_end), clock)
    renewal = cycle_invoices(subscription).get(period_start=subscription.current_period_start)
    assert base_fees(renewal) == [(PRO_V2, period_end, utc(2025, 5, 1, 9))]
    assert usage_lines(renewal)["call_minutes"] == (10, 50)  # 5c a minute: version 1's price
    assert customer.subscription.plan_id == v2.pk


def test_at_renewal_keeps_another_scheduled_change_and_replaces_one_to_an_older_version(demo):
    v1 = Plan.objects.get(code="pro")
    team = Plan.objects.get(code="team")
    SubscriptionFactory(plan=v1)
    v2 = plan_revise(plan=v1, changes={"price_cents": PRO_V2})
    downgrading = SubscriptionFactory(plan=v2)
    subscription_change_plan(subscription=downgrading, new_plan=team, prorate=False)
    to_older = SubscriptionFactory(plan=v2)
    Subscription.objects.filter(pk=to_older.pk).update(scheduled_plan=v1)
    other = PlanFactory(code="other", price_cents=100)
    coming = SubscriptionFactory(plan=other)
    subscription_change_plan(subscription=coming, new_plan=v2, prorate=False)
    plain = SubscriptionFactory(plan=v2)
    v3 = plan_revise(plan=v2, changes={"price_cents": 4999})
    v2.refresh_from_db()

    moved = subscriptions_move_to_version(from_plan=v2, to_plan=v3, at_renewal=True)

    assert moved == 3
    for subscription, plan, scheduled in [
        (downgrading, v2, team),  # another change stays
        (to_older, v2, v3),  # an older version of the same plan: replaced
        (coming, other, v3),  # only scheduled onto version 2: re-pointed
        (plain, v2, v3),
    ]:
        subscription.refresh_from_db()
        assert (subscription.plan_id, subscription.scheduled_plan_id) == (plan.pk, scheduled.pk)
    event = SubscriptionEvent.objects.filter(subscription=plain, event="plan_version_migration_scheduled").get()
    assert event.data == {"code": "pro", "from_version": 2, "to_version": 3}


# --- now -----------------------------------------------------------------------------------------


def test_moved_now_usage_after_the_move_is_rated_on_the_new_version(customer, clock):
    v1, v2 = revise_pro()
    subscription = customer.subscription
    period_start, period_end = subscription.current_period_start, subscription.current_period_end
    clock.move_to(utc(2025, 3, 16, 9), tick=False)

    messages = run_action(v1, "move_subscribers_now")

    assert "1 subscription of version 1 of pro move to version 2 now." in messages
    assert customer.subscription.plan_id == v2.pk
    clock.move_to(utc(2025, 3, 20, 12), tick=False)
    customer.report_ok("call_minutes", utc(2025, 3, 20, 12), 20)
    cycle(after_grace(period_end), clock)

    renewal = cycle_invoices(subscription).get(period_start=period_start)
    assert call_minute_lines(renewal) == [(10, 50), (20, 180)]  # 5c before the move, 9c after


def test_moved_now_the_periods_base_fee_is_not_charged_again_and_the_next_is_the_new_price(customer, clock):
    v1, v2 = revise_pro()
    subscription = customer.subscription
    period_start, period_end = subscription.current_period_start, subscription.current_period_end
    clock.move_to(utc(2025, 3, 16, 9), tick=False)

    moved = subscriptions_move_to_version(from_plan=v1, to_plan=v2, at_renewal=False, now=utc(2025, 3, 16, 9))

    assert moved == 1
    invoices = list(subscription.invoices.order_by("created_at"))
    assert [(invoice.reason, invoice.total_cents) for invoice in invoices] == [("subscription_create", PRO_V1)]
    subscription = customer.subscription
    assert (subscription.current_period_start, subscription.current_period_end) == (period_start, period_end)
    segments = PlanSegment.objects.filter(subscription=subscription).values_list("plan_id", "starts_at", "ends_at")
    assert list(segments) == [
        (v1.pk, period_start, utc(2025, 3, 16, 9)),
        (v2.pk, utc(2025, 3, 16, 9), None),
    ]
    event = SubscriptionEvent.objects.get(subscription=subscription, event="plan_version_migrated")
    assert (event.data["from_version"], event.data["to_version"]) == (1, 2)
    cycle(after_grace(period_end), clock)
    renewal = cycle_invoices(subscription).get(period_start=period_start)
    assert base_fees(renewal) == [(PRO_V2, period_end, utc(2025, 5, 1, 9))]


def test_moving_now_to_a_version_with_another_interval_is_refused(demo):
    pro = Plan.objects.get(code="pro")
    SubscriptionFactory(plan=pro)
    yearly = plan_revise(plan=pro, changes={"interval": "year"})
    pro.refresh_from_db()

    with pytest.raises(ValidationFailed, match="next renewal"):
        subscriptions_move_to_version(from_plan=pro, to_plan=yearly, at_renewal=False)

    assert subscriptions_move_to_version(from_plan=pro, to_plan=yearly, at_renewal=True) == 1


def test_only_live_subscriptions_move_and_a_rerun_moves_nothing(demo):
    pro = Plan.objects.get(code="pro")
    live = SubscriptionFactory(plan=pro)
    canceled = SubscriptionFactory(plan=pro, status=Status.CANCELED)
    v2 = plan_revise(plan=pro, changes={"price_cents": PRO_V2})
    pro.refresh_from_db()

    assert subscriptions_move_to_version(from_plan=pro, to_plan=v2, at_renewal=False) == 1
    assert subscriptions_move_to_version(from_plan=pro, to_plan=v2, at_renewal=False) == 0
    live.refresh_from_db()
    canceled.refresh_from_db()
    assert (live.plan_id, canceled.plan_id) == (v2.pk, pro.pk)


def test_the_current_version_cannot_be_moved_from(demo):
    pro = Plan.objects.get(code="pro")
    SubscriptionFactory(plan=pro)

    messages = run_action(pro, "move_subscribers_now")

    assert any("this is the current version" in message for message in messages)
