"""Plan versions (audit item 11): the prices, interval and charges of a plan with
subscribers are frozen; an edit of them is a new version, and subscribers stay on theirs.

Staff edit plans through the admin change form (charges inline); subscribers subscribe
and report usage through the API; periods roll over with the billing cycle."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from billing.tests.cycle_helpers import after_grace, base_fees, cycle, cycle_invoices, error_code, usage_lines
from billing_project.tests.world import CHECKOUT, UPGRADE, customer_create, subscribe, utc
from organizations.tests.factories import OrganizationFactory
from payments.gateways.sandbox import PM_OK
from plans.defaults import default_catalogue_ensure
from plans.demo import demo_catalogue_ensure
from plans.models import Plan
from plans.services import plan_revise
from subscriptions.models import Status
from subscriptions.tests.factories import SubscriptionFactory

from .admin_forms import PLAN_ADMIN, change_url, messages_of, plan_form, post_change, staff_client
from .factories import BillableMetricFactory, PlanChargeFactory, PlanFactory

pytestmark = pytest.mark.django_db

MONTHLY, YEARLY = 2000, 20_000


@pytest.fixture(autouse=True)
def _media_in_tmp(media_in_tmp):
    """Renewals render invoice PDFs: into a temporary directory."""


@pytest.fixture
def monthly_plan() -> Plan:
    """A $20 monthly plan charging 1c a minute beyond 100 included."""
    plan = PlanFactory(code="starter", name="Starter", price_cents=MONTHLY)
    PlanChargeFactory(
        plan=plan, metric=BillableMetricFactory(code="minutes"), included_quantity=100, unit_price=Decimal("1")
    )
    return plan


def versions(code: str) -> list[tuple[int, bool, bool]]:
    """(version, current, active) of every version of `code`, oldest first."""
    return [
        (plan.version, plan.is_current, plan.is_active) for plan in Plan.objects.filter(code=code).order_by("version")
    ]


# --- the audit's two findings ------------------------------------------------------------


def test_editing_a_monthly_plan_to_yearly_keeps_its_subscriber_renewing_monthly(monthly_plan, clock):
    clock.move_to(utc(2025, 1, 1), tick=False)
    subscription = subscribe(OrganizationFactory(), monthly_plan, start=utc(2025, 1, 1), payment_method=PM_OK)
    cycle(utc(2025, 2, 1, 1, 1), clock)
    cycle(utc(2025, 3, 1, 1, 1), clock)
    subscription.refresh_from_db()
    assert (subscription.current_period_start, subscription.current_period_end) == (utc(2025, 3, 1), utc(2025, 4, 1))

    clock.move_to(utc(2025, 3, 15), tick=False)
    page = post_change(staff_client(), monthly_plan, plan_form(monthly_plan, interval="year", price_cents=str(YEARLY)))

    assert versions("starter") == [(1, False, False), (2, True, True)]
    yearly = Plan.objects.get(code="starter", version=2)
    assert (yearly.interval, yearly.price_cents) == ("year", YEARLY)
    assert "Saved as version 2; 1 subscription stays on version 1 until moved." in messages_of(page)
    monthly_plan.refresh_from_db()
    assert (monthly_plan.interval, monthly_plan.price_cents) == ("month", MONTHLY)

    cycle(utc(2025, 4, 1, 1, 1), clock)

    subscription.refresh_from_db()
    assert subscription.plan_id == monthly_plan.pk
    assert (subscription.current_period_start, subscription.current_period_end) == (utc(2025, 4, 1), utc(2025, 5, 1))
    renewal = cycle_invoices(subscription).get(period_start=utc(2025, 3, 1))
    assert base_fees(renewal) == [(MONTHLY, utc(2025, 4, 1), utc(2025, 5, 1))]


def test_editing_a_unit_price_mid_period_does_not_re_rate_the_usage_already_consumed(demo, clock):
    customer = customer_create()
    clock.move_to(utc(2025, 3, 1, 9), tick=False)
    customer.subscribe("pro")
    subscription = customer.subscription
    pro = subscription.plan
    assert pro.charges.get(metric__code="call_minutes").unit_price == Decimal("5")  # cents a minute, none included
    clock.move_to(utc(2025, 3, 10, 12), tick=False)
    customer.report_ok("call_minutes", utc(2025, 3, 10, 12), 10)

    clock.move_to(utc(2025, 3, 15), tick=False)
    post_change(staff_client(), pro, plan_form(pro, charges={"call_minutes": {"unit_price": "9"}}))

    assert versions("pro") == [(1, False, False), (2, True, True)]
    assert Plan.objects.get(code="pro", version=2).charges.get(metric__code="call_minutes").unit_price == 9
    cycle(after_grace(subscription.current_period_end), clock)
    renewal = cycle_invoices(subscription).get(period_start=subscription.current_period_start)
    assert usage_lines(renewal)["call_minutes"] == (10, 50)  # at 5c, not 9c


# --- in place or a new version -------------------------------------------------------------


def test_editing_name_description_and_features_of_a_plan_with_subscribers_changes_it_in_place(monthly_plan):
    SubscriptionFactory(plan=monthly_plan)

    post_change(
        staff_client(),
        monthly_plan,
        plan_form(monthly_plan, name="Starter+", description="Now with analytics.", features='{"analytics": true}'),
    )

    assert versions("starter") == [(1, True, True)]
    monthly_plan.refresh_from_db()
    assert (monthly_plan.name, monthly_plan.description) == ("Starter+", "Now with analytics.")
    assert monthly_plan.features == {"analytics": True}


def test_editing_the_terms_of_a_plan_without_subscribers_changes_it_in_place(monthly_plan):
    post_change(
        staff_client(),
        monthly_plan,
        plan_form(
            monthly_plan, price_cents="2500", charges={"minutes": {"unit_price": "2", "included_quantity": "50"}}
        ),
    )

    assert versions("starter") == [(1, True, True)]
    monthly_plan.refresh_from_db()
    assert monthly_plan.price_cents == 2500
    charge = monthly_plan.charges.get()
    assert (charge.unit_price, charge.included_quantity) == (2, 50)


def test_a_new_version_copies_every_field_and_charge_with_the_edit_applied(monthly_plan):
    monthly_plan.features = {"analytics": True}
    monthly_plan.trial_days = 7
    monthly_plan.save()
    SubscriptionFactory(plan=monthly_plan)
    sms = BillableMetricFactory(code="sms_count")

    new = plan_revise(
        plan=monthly_plan,
        changes={"price_cents": 2500, "name": "Starter 2025"},
        charges=[
            {"metric": monthly_plan.charges.get().metric, "included_quantity": 100, "unit_price": Decimal("1")},
            {"metric": sms, "included_quantity": 10, "unit_price": Decimal("3")},
        ],
    )

    assert (new.code, new.version, new.price_cents, new.name) == ("starter", 2, 2500, "Starter 2025")
    assert (new.interval, new.currency, new.trial_days, new.features) == ("month", "USD", 7, {"analytics": True})
    assert sorted(new.charges.values_list("metric__code", "included_quantity", "unit_price")) == [
        ("minutes", 100, Decimal("1")),
        ("sms_count", 10, Decimal("3")),
    ]
    monthly_plan.refresh_from_db()
    assert (monthly_plan.replaced_by, monthly_plan.is_active, monthly_plan.price_cents) == (new, False, MONTHLY)
    assert monthly_plan.name == "Starter"
    assert list(monthly_plan.charges.values_list("metric__code", flat=True)) == ["minutes"]


def test_the_default_flag_moves_to_the_new_version(free_plan):
    subscribe(OrganizationFactory(), free_plan, payment_method=PM_OK)

    new = plan_revise(plan=free_plan, changes={"interval": "year"})

    free_plan.refresh_from_db()
    assert (free_plan.is_default, new.is_default) == (False, True)
    assert Plan.objects.get(is_default=True) == new


def test_a_third_version_numbers_from_the_latest_and_says_how_many_stay(monthly_plan):
    SubscriptionFactory(plan=monthly_plan)
    second = plan_revise(plan=monthly_plan, changes={"price_cents": 2100})
    SubscriptionFactory.create_batch(2, plan=second)

    page = post_change(staff_client(), second, plan_form(second, price_cents="2200"))

    assert versions("starter") == [(1, False, False), (2, False, False), (3, True, True)]
    assert "Saved as version 3; 2 subscriptions stay on version 2 until moved." in messages_of(page)


def test_a_replaced_version_cannot_have_its_terms_edited(monthly_plan):
    SubscriptionFactory(plan=monthly_plan)
    plan_revise(plan=monthly_plan, changes={"price_cents": 2100})
    monthly_plan.refresh_from_db()

    with pytest.raises(ValidationError, match="has been replaced"):
        plan_revise(plan=monthly_plan, changes={"price_cents": 2200})
    renamed = plan_revise(plan=monthly_plan, changes={"name": "Starter (2024)"})
    assert (renamed.pk, renamed.name) == (monthly_plan.pk, "Starter (2024)")


def test_a_second_current_plan_with_the_same_code_is_refused(monthly_plan):
    response = staff_client().post(f"{PLAN_ADMIN}add/", plan_form(PlanFactory(code="other"), code="starter"))
    assert response.status_code == 200
    assert "A current plan with this code already exists." in response.content.decode()

    with pytest.raises(IntegrityError), transaction.atomic():
        PlanFactory(code="starter", version=2)


def test_a_replaced_version_is_neither_active_nor_the_default(monthly_plan):
    SubscriptionFactory(plan=monthly_plan)
    plan_revise(plan=monthly_plan, changes={"price_cents": 2100})

    with pytest.raises(IntegrityError), transaction.atomic():
        Plan.objects.filter(pk=monthly_plan.pk).update(is_active=True)


# --- the guard ----------------------------------------------------------------------------


def test_saving_a_new_price_on_a_plan_with_a_subscriber_is_refused(monthly_plan):
    SubscriptionFactory(plan=monthly_plan)
    monthly_plan.price_cents = 2500

    with pytest.raises(ValidationError, match="frozen"):
        monthly_plan.save()

    assert Plan.objects.get(pk=monthly_plan.pk).price_cents == MONTHLY


def test_a_plan_only_scheduled_by_a_subscriber_is_frozen_too(monthly_plan):
    subscription = SubscriptionFactory()
    subscription.scheduled_plan = monthly_plan
    subscription.save()
    monthly_plan.interval = "year"

    with pytest.raises(ValidationError):
        monthly_plan.save()


def test_changing_adding_or_removing_a_charge_of_a_plan_with_a_subscriber_is_refused(monthly_plan):
    SubscriptionFactory(plan=monthly_plan)
    charge = monthly_plan.charges.get()

    charge.unit_price = Decimal("2")
    with pytest.raises(ValidationError):
        charge.save()
    with pytest.raises(ValidationError):
        PlanChargeFactory(plan=monthly_plan)
    with pytest.raises(ValidationError):
        charge.delete()

    assert monthly_plan.charges.get().unit_price == 1


def test_fields_that_are_not_terms_still_save_on_a_plan_with_a_subscriber(monthly_plan):
    SubscriptionFactory(plan=monthly_plan)
    monthly_plan.name, monthly_plan.trial_days, monthly_plan.is_active = "Renamed", 3, False

    monthly_plan.save()

    assert Plan.objects.get(pk=monthly_plan.pk).name == "Renamed"


def test_a_metric_page_cannot_change_the_charges_of_a_plan_with_subscribers(monthly_plan):
    SubscriptionFactory(plan=monthly_plan)
    charge = monthly_plan.charges.get()
    metric = charge.metric
    data = {
        "code": metric.code,
        "name": metric.name,
        "unit": metric.unit,
        "event_types": f'["{metric.event_types[0]}"]',
        "aggregation": metric.aggregation,
        "aggregation_key": "",
        "is_active": "on",
        "charges-TOTAL_FORMS": "1",
        "charges-INITIAL_FORMS": "1",
        "charges-MIN_NUM_FORMS": "0",
        "charges-MAX_NUM_FORMS": "1000",
        "charges-0-id": str(charge.pk),
        "charges-0-metric": str(metric.pk),
        "charges-0-plan": str(monthly_plan.pk),
        "charges-0-included_quantity": "100",
        "charges-0-policy": "soft",
        "charges-0-pricing_model": "per_unit",
        "charges-0-unit_price": "7",
        "charges-0-package_size": "1",
        "charges-0-tiers": "[]",
    }

    response = staff_client().post(f"/admin/plans/billablemetric/{metric.pk}/change/", data)

    assert response.status_code == 200
    assert "has subscribers" in response.content.decode()
    assert monthly_plan.charges.get().unit_price == 1


# --- what the admin, the API and checkout show ---------------------------------------------


def live_counts(content: str) -> list[str]:
    marker = 'class="field-live_subscription_count">'
    return [chunk.split("<", 1)[0] for chunk in content.split(marker)[1:]]


def test_the_admin_list_shows_each_version_with_its_live_subscriptions(monthly_plan):
    SubscriptionFactory.create_batch(2, plan=monthly_plan)
    SubscriptionFactory(plan=monthly_plan, status=Status.CANCELED)
    second = plan_revise(plan=monthly_plan, changes={"price_cents": 2100})
    SubscriptionFactory(plan=second)

    response = staff_client().get(PLAN_ADMIN, {"q": "starter"})

    assert response.status_code == 200
    content = response.content.decode()
    assert live_counts(content) == ["1", "2"]  # version 2, then version 1
    assert "replaced by" in content and "current" in content


def test_the_admin_list_counts_subscriptions_in_one_query(monthly_plan, django_assert_max_num_queries):
    client = staff_client()
    client.get(PLAN_ADMIN)  # session and content types warmed up
    with django_assert_max_num_queries(20) as few:
        client.get(PLAN_ADMIN)
    for _ in range(5):
        plan = PlanFactory()
        SubscriptionFactory(plan=plan)
        plan_revise(plan=plan, changes={"price_cents": 100})

    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(PLAN_ADMIN).status_code == 200


def test_the_change_page_lists_the_versions_of_its_code_with_their_subscriptions(monthly_plan):
    SubscriptionFactory.create_batch(3, plan=monthly_plan)
    second = plan_revise(plan=monthly_plan, changes={"price_cents": 2100})

    content = staff_client().get(change_url(second)).content.decode()

    assert "Versions of this code" in content
    assert f'<a href="{change_url(monthly_plan)}">version 1</a></td><td>replaced</td>' in content
    assert "3 subscriptions" in content
    assert f'<a href="{change_url(second)}">version 2</a></td><td>current</td>' in content


def test_get_plans_lists_only_current_versions_and_an_old_one_still_answers_by_id(api_client, monthly_plan):
    SubscriptionFactory(plan=monthly_plan)
    second = plan_revise(plan=monthly_plan, changes={"price_cents": 2100})

    listed = api_client.get("/api/v1/plans").json()["data"]
    old = api_client.get(f"/api/v1/plans/{monthly_plan.pk}").json()["data"]

    starters = [(plan["id"], plan["version"]) for plan in listed if plan["code"] == "starter"]
    assert starters == [(str(second.pk), 2)]
    assert (old["version"], old["price_cents"], old["active"]) == (1, MONTHLY, False)


def test_checkout_of_a_replaced_version_is_400(demo):
    pro = Plan.objects.get(code="pro")
    SubscriptionFactory(plan=pro)
    plan_revise(plan=pro, changes={"price_cents": 3999})
    customer = customer_create()

    response = customer.client().post(
        CHECKOUT,
        {"plan_id": str(pro.pk), "success_url": "http://localhost/done", "cancel_url": "http://localhost/cancel"},
        format="json",
    )

    assert error_code(response, 400) == "validation_error"
    assert not customer.organization.subscriptions.exists()


def test_changing_plan_to_a_replaced_version_is_400(demo, clock):
    team = Plan.objects.get(code="team")
    SubscriptionFactory(plan=team)
    plan_revise(plan=team, changes={"price_cents": 12_999})
    customer = customer_create()
    clock.move_to(utc(2025, 3, 1, 9), tick=False)
    customer.subscribe("pro")

    response = customer.client().put(UPGRADE, {"new_plan_id": str(team.pk), "prorate": False}, format="json")

    assert error_code(response, 400) == "validation_error"
    assert customer.subscription.scheduled_plan is None


def test_the_demo_and_default_catalogues_still_ensure_after_versions_exist(demo, free_plan):
    pro = Plan.objects.get(code="pro")
    SubscriptionFactory(plan=pro)
    plan_revise(plan=pro, changes={"price_cents": 3999})

    demo_catalogue_ensure()
    default_catalogue_ensure()

    assert versions("pro") == [(1, False, False), (2, True, True)]
    assert Plan.objects.filter(code="pro", replaced_by__isnull=True).get().price_cents == 3999
