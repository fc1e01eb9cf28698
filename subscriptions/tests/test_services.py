"""subscriptions.services: the lifecycle (one transition function), one live subscription
per organization, and calendar billing periods from the anchor (month ends, leap years,
yearly plans, trials)."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction

from billing_project.errors import Conflict
from organizations.tests.factories import OrganizationFactory
from subscriptions.models import Status, Subscription, SubscriptionEvent
from subscriptions.services import next_period, subscription_create, subscription_transition

from .factories import SubscriptionFactory
from .helpers import utc

pytestmark = pytest.mark.django_db

# The lifecycle, written out independently of services.TRANSITIONS.
ALLOWED_MOVES = {
    (Status.INCOMPLETE, Status.TRIALING),
    (Status.INCOMPLETE, Status.ACTIVE),
    (Status.INCOMPLETE, Status.CANCELED),
    (Status.TRIALING, Status.ACTIVE),
    (Status.TRIALING, Status.PAST_DUE),
    (Status.TRIALING, Status.CANCELED),
    (Status.ACTIVE, Status.PAST_DUE),
    (Status.ACTIVE, Status.CANCELED),
    (Status.PAST_DUE, Status.ACTIVE),
    (Status.PAST_DUE, Status.CANCELED),
}
ALL_MOVES = [(a, b) for a, b in itertools.permutations(Status.values, 2)]
REFUSED_MOVES = [move for move in ALL_MOVES if move not in ALLOWED_MOVES]


def in_status(status: str, **kwargs) -> Subscription:
    """A subscription created directly in `status` (no trial)."""
    return SubscriptionFactory(status=status, trial_days=0, **kwargs)


def advance(subscription: Subscription) -> Subscription:
    """Roll the subscription into its next period (what a renewal does to the dates)."""
    subscription.current_period_start, subscription.current_period_end = next_period(subscription)
    subscription.save(update_fields=["current_period_start", "current_period_end"])
    return subscription


def periods(subscription: Subscription, count: int) -> list[tuple]:
    """The current period and the `count - 1` following ones."""
    found = [(subscription.current_period_start, subscription.current_period_end)]
    for _ in range(count - 1):
        found.append((advance(subscription).current_period_start, subscription.current_period_end))
    return found


# --- the transition function -------------------------------------------------------------


@pytest.mark.parametrize("from_status, to_status", sorted(ALLOWED_MOVES))
def test_transition_allows_the_lifecycle_moves(from_status, to_status):
    subscription = in_status(from_status)

    moved = subscription_transition(subscription=subscription, to_status=to_status, reason="test")

    assert moved.status == to_status
    subscription.refresh_from_db()
    assert subscription.status == to_status


@pytest.mark.parametrize("from_status, to_status", REFUSED_MOVES)
def test_transition_refuses_other_moves_with_409_invalid_transition(from_status, to_status):
    subscription = in_status(from_status)
    events_before = subscription.history.count()

    with pytest.raises(Conflict) as caught:
        subscription_transition(subscription=subscription, to_status=to_status)

    assert caught.value.status_code == 409
    assert caught.value.code == "invalid_transition"
    subscription.refresh_from_db()
    assert subscription.status == from_status
    assert subscription.history.count() == events_before


def test_the_allowed_moves_are_exactly_the_transition_table():
    from subscriptions.services import TRANSITIONS

    table = {(source, target) for source, targets in TRANSITIONS.items() for target in targets}
    assert table == ALLOWED_MOVES


def test_canceled_is_terminal():
    subscription = in_status(Status.ACTIVE)
    subscription_transition(subscription=subscription, to_status=Status.CANCELED)

    for target in (Status.ACTIVE, Status.TRIALING, Status.PAST_DUE, Status.INCOMPLETE):
        with pytest.raises(Conflict):
            subscription_transition(subscription=subscription, to_status=target)


@pytest.mark.parametrize("from_status, to_status", sorted(ALLOWED_MOVES))
def test_each_transition_records_one_status_changed_event(from_status, to_status, user):
    subscription = in_status(from_status)

    subscription_transition(subscription=subscription, to_status=to_status, reason="because", actor=user)

    changes = list(subscription.history.filter(event="status_changed"))
    assert len(changes) == 1
    assert (changes[0].from_status, changes[0].to_status) == (from_status, to_status)
    assert changes[0].reason == "because"
    assert changes[0].actor == user


def test_a_chain_of_transitions_is_recorded_in_order():
    subscription = in_status(Status.INCOMPLETE)

    for target in (Status.ACTIVE, Status.PAST_DUE, Status.ACTIVE, Status.CANCELED):
        subscription_transition(subscription=subscription, to_status=target)

    moves = list(subscription.history.filter(event="status_changed").values_list("from_status", "to_status"))
    assert moves == [
        ("incomplete", "active"),
        ("active", "past_due"),
        ("past_due", "active"),
        ("active", "canceled"),
    ]


@pytest.mark.parametrize("status", Status.values)
def test_moving_to_the_same_status_is_a_no_op(status):
    subscription = in_status(status)
    updated_at = Subscription.objects.get(pk=subscription.pk).updated_at
    events_before = SubscriptionEvent.objects.filter(subscription=subscription).count()

    same = subscription_transition(subscription=subscription, to_status=status)

    assert same.status == status
    assert SubscriptionEvent.objects.filter(subscription=subscription).count() == events_before
    assert Subscription.objects.get(pk=subscription.pk).updated_at == updated_at


def test_canceling_records_when_and_why():
    subscription = in_status(Status.ACTIVE)
    at = utc(2026, 5, 17, 9, 30)

    canceled = subscription_transition(
        subscription=subscription, to_status=Status.CANCELED, reason="too expensive", at=at
    )

    assert (canceled.canceled_at, canceled.ended_at, canceled.cancel_reason) == (at, at, "too expensive")


def test_canceling_keeps_an_earlier_cancellation_request():
    subscription = in_status(Status.ACTIVE)
    requested = utc(2026, 5, 1)
    Subscription.objects.filter(pk=subscription.pk).update(
        cancel_at_period_end=True, canceled_at=requested, cancel_reason="moving on"
    )

    canceled = subscription_transition(
        subscription=subscription, to_status=Status.CANCELED, reason="period ended", at=utc(2026, 6, 1)
    )

    assert canceled.canceled_at == requested
    assert canceled.ended_at == utc(2026, 6, 1)
    assert canceled.cancel_reason == "moving on"


def test_creation_is_recorded_in_the_history(plan):
    subscription = subscription_create(organization=OrganizationFactory(), plan=plan, status=Status.ACTIVE)

    created = subscription.history.get()
    assert (created.event, created.from_status, created.to_status) == ("created", "", "active")
    assert created.data == {"plan": plan.code}


def test_a_subscription_starts_incomplete_by_default(plan):
    subscription = subscription_create(organization=OrganizationFactory(), plan=plan)

    assert subscription.status == Status.INCOMPLETE


# --- one live subscription per organization ----------------------------------------------


def test_the_database_refuses_a_second_live_subscription(plan):
    first = in_status(Status.ACTIVE, plan=plan)

    with pytest.raises(IntegrityError), transaction.atomic():
        Subscription.objects.create(
            organization=first.organization,
            plan=plan,
            status=Status.INCOMPLETE,
            billing_anchor=first.billing_anchor,
            current_period_start=first.current_period_start,
            current_period_end=first.current_period_end,
        )


@pytest.mark.parametrize("live_status", [Status.INCOMPLETE, Status.TRIALING, Status.ACTIVE, Status.PAST_DUE])
def test_subscription_create_refuses_a_second_live_subscription_with_409(plan, live_status):
    first = in_status(live_status, plan=plan)

    with pytest.raises(Conflict) as caught:
        subscription_create(organization=first.organization, plan=plan, status=Status.ACTIVE)

    assert caught.value.status_code == 409
    assert caught.value.code == "conflict"
    assert Subscription.objects.filter(organization=first.organization).count() == 1


def test_a_new_subscription_is_allowed_after_cancellation(plan):
    first = in_status(Status.ACTIVE, plan=plan)
    subscription_transition(subscription=first, to_status=Status.CANCELED)

    second = subscription_create(organization=first.organization, plan=plan, status=Status.ACTIVE)

    assert second.pk != first.pk
    statuses = set(Subscription.objects.filter(organization=first.organization).values_list("status", flat=True))
    assert statuses == {"canceled", "active"}


def test_other_organizations_each_have_their_own_live_subscription(plan):
    in_status(Status.ACTIVE, plan=plan)
    in_status(Status.ACTIVE, plan=plan)

    assert Subscription.objects.filter(status=Status.ACTIVE).count() == 2


def test_the_database_refuses_an_empty_period(plan):
    subscription = in_status(Status.ACTIVE, plan=plan)

    with pytest.raises(IntegrityError), transaction.atomic():
        Subscription.objects.filter(pk=subscription.pk).update(current_period_end=subscription.current_period_start)


# --- calendar periods ----------------------------------------------------------------------


def test_periods_start_at_the_moment_of_purchase(plan):
    subscription = in_status(Status.ACTIVE, plan=plan, start=utc(2026, 3, 10, 15, 45))

    assert subscription.billing_anchor == subscription.started_at == utc(2026, 3, 10, 15, 45)
    assert (subscription.current_period_start, subscription.current_period_end) == (
        utc(2026, 3, 10, 15, 45),
        utc(2026, 4, 10, 15, 45),
    )


def test_a_new_subscription_has_one_open_segment_on_its_plan(plan):
    subscription = in_status(Status.ACTIVE, plan=plan, start=utc(2026, 3, 10, 15, 45))

    assert list(subscription.segments.values_list("plan_id", "starts_at", "ends_at")) == [
        (plan.pk, utc(2026, 3, 10, 15, 45), None)
    ]


def test_a_jan_31_anchor_renews_on_feb_28_then_mar_31(plan):
    subscription = in_status(Status.ACTIVE, plan=plan, start=utc(2026, 1, 31))

    assert periods(subscription, 4) == [
        (utc(2026, 1, 31), utc(2026, 2, 28)),
        (utc(2026, 2, 28), utc(2026, 3, 31)),
        (utc(2026, 3, 31), utc(2026, 4, 30)),
        (utc(2026, 4, 30), utc(2026, 5, 31)),
    ]


def test_a_jan_31_anchor_renews_on_feb_29_in_a_leap_year(plan):
    subscription = in_status(Status.ACTIVE, plan=plan, start=utc(2028, 1, 31))

    assert periods(subscription, 3) == [
        (utc(2028, 1, 31), utc(2028, 2, 29)),
        (utc(2028, 2, 29), utc(2028, 3, 31)),
        (utc(2028, 3, 31), utc(2028, 4, 30)),
    ]


def test_short_months_do_not_pull_later_renewals_earlier(plan):
    """Each boundary comes from the anchor, not from the previous boundary."""
    subscription = in_status(Status.ACTIVE, plan=plan, start=utc(2026, 1, 30))

    ends = [end for _, end in periods(subscription, 4)]

    assert ends == [utc(2026, 2, 28), utc(2026, 3, 30), utc(2026, 4, 30), utc(2026, 5, 30)]


def test_monthly_periods_cross_the_year_end(plan):
    subscription = in_status(Status.ACTIVE, plan=plan, start=utc(2026, 12, 15))

    assert periods(subscription, 2) == [
        (utc(2026, 12, 15), utc(2027, 1, 15)),
        (utc(2027, 1, 15), utc(2027, 2, 15)),
    ]


def test_a_yearly_plan_has_yearly_periods(yearly_plan):
    subscription = in_status(Status.ACTIVE, plan=yearly_plan, start=utc(2026, 3, 15))

    assert periods(subscription, 3) == [
        (utc(2026, 3, 15), utc(2027, 3, 15)),
        (utc(2027, 3, 15), utc(2028, 3, 15)),
        (utc(2028, 3, 15), utc(2029, 3, 15)),
    ]


def test_a_yearly_plan_anchored_on_feb_29_renews_on_feb_28_until_the_next_leap_year(yearly_plan):
    subscription = in_status(Status.ACTIVE, plan=yearly_plan, start=utc(2028, 2, 29))

    ends = [end for _, end in periods(subscription, 4)]

    assert ends == [utc(2029, 2, 28), utc(2030, 2, 28), utc(2031, 2, 28), utc(2032, 2, 29)]


def test_next_period_after_a_switch_to_a_yearly_plan_starts_when_the_current_period_ends(plan, yearly_plan):
    subscription = in_status(Status.ACTIVE, plan=plan, start=utc(2026, 1, 10))
    advance(advance(subscription))  # now in [Mar 10, Apr 10)
    subscription.scheduled_plan = yearly_plan

    assert next_period(subscription) == (utc(2026, 4, 10), utc(2027, 4, 10))


def test_next_period_after_a_switch_to_a_monthly_plan_starts_when_the_year_ends(plan, yearly_plan):
    subscription = in_status(Status.ACTIVE, plan=yearly_plan, start=utc(2026, 1, 10))
    subscription.scheduled_plan = plan

    assert next_period(subscription) == (utc(2027, 1, 10), utc(2027, 2, 10))


# --- trials --------------------------------------------------------------------------------


def test_a_plan_with_trial_days_starts_trialing_until_the_trial_ends(trial_plan):
    subscription = SubscriptionFactory(plan=trial_plan, start=utc(2026, 3, 10, 8), status=Status.INCOMPLETE)

    assert subscription.status == Status.TRIALING
    assert subscription.trial_end == utc(2026, 3, 24, 8)
    assert (subscription.current_period_start, subscription.current_period_end) == (
        utc(2026, 3, 10, 8),
        utc(2026, 3, 24, 8),
    )


def test_paid_periods_are_anchored_at_the_trial_end(trial_plan):
    subscription = SubscriptionFactory(plan=trial_plan, start=utc(2026, 3, 10))

    assert subscription.billing_anchor == utc(2026, 3, 24)
    assert periods(subscription, 3) == [
        (utc(2026, 3, 10), utc(2026, 3, 24)),
        (utc(2026, 3, 24), utc(2026, 4, 24)),
        (utc(2026, 4, 24), utc(2026, 5, 24)),
    ]


def test_the_trial_days_argument_overrides_the_plans(trial_plan):
    subscription = SubscriptionFactory(plan=trial_plan, start=utc(2026, 3, 10), trial_days=30)

    assert subscription.status == Status.TRIALING
    assert subscription.trial_end == utc(2026, 4, 9)
    assert next_period(subscription) == (utc(2026, 4, 9), utc(2026, 5, 9))


def test_a_trial_can_be_given_on_a_plan_without_one(plan):
    subscription = SubscriptionFactory(plan=plan, start=utc(2026, 3, 10), trial_days=7)

    assert subscription.status == Status.TRIALING
    assert subscription.current_period_end == subscription.trial_end == utc(2026, 3, 17)


def test_zero_trial_days_skips_the_plans_trial(trial_plan):
    subscription = SubscriptionFactory(plan=trial_plan, start=utc(2026, 3, 10), trial_days=0)

    assert subscription.status == Status.ACTIVE
    assert subscription.trial_end is None
    assert subscription.current_period_end == utc(2026, 4, 10)


def test_a_trial_across_the_month_end_anchors_paid_periods_there(trial_plan):
    subscription = SubscriptionFactory(plan=trial_plan, start=utc(2026, 1, 17))

    assert subscription.trial_end == utc(2026, 1, 31)
    assert [end for _, end in periods(subscription, 3)] == [utc(2026, 1, 31), utc(2026, 2, 28), utc(2026, 3, 31)]


def test_a_trial_on_a_yearly_plan_is_followed_by_a_year(yearly_plan):
    subscription = SubscriptionFactory(plan=yearly_plan, start=utc(2026, 3, 10), trial_days=14)

    assert next_period(subscription) == (utc(2026, 3, 24), utc(2027, 3, 24))


def test_a_trialing_subscription_ends_its_trial_at_trial_days_exactly(trial_plan):
    start = utc(2026, 6, 1)
    subscription = SubscriptionFactory(plan=trial_plan, start=start)

    assert subscription.trial_end - start == timedelta(days=trial_plan.trial_days)
