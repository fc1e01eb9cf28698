"""POST /api/v1/checkout/create and GET /api/v1/checkout/success."""

import uuid

import pytest

from billing_project.tests.world import people_client
from credits.services import credits_grant
from invoices.models import Invoice
from payments.models import Payment
from payments.tests.support import (
    CANCEL_URL,
    CHECKOUT,
    CHECKOUT_SUCCESS,
    PRO_PRICE_CENTS,
    SUCCESS_URL,
    assert_error,
    assert_ok,
    counts,
    sandbox_page,
    sandbox_press,
    start_checkout,
    subscribe,
)
from plans.models import Plan
from subscriptions.models import Subscription

pytestmark = pytest.mark.django_db


def checkout_body(plan, **overrides) -> dict:
    return {"plan_id": str(plan.pk), "success_url": SUCCESS_URL, "cancel_url": CANCEL_URL, **overrides}


# --- checkout/create -------------------------------------------------------------------


def test_checkout_opens_an_incomplete_subscription_with_an_open_first_invoice(owner, org, pro):
    data = start_checkout(owner, pro)

    subscription = Subscription.objects.get(organization=org)
    assert data["subscription_id"] == str(subscription.pk)
    assert data["status"] == "incomplete"
    assert subscription.status == "incomplete"
    assert subscription.plan == pro
    invoice = Invoice.objects.get(organization=org)
    assert (invoice.subscription, invoice.status, invoice.reason) == (subscription, "open", "subscription_create")
    assert invoice.total_cents == PRO_PRICE_CENTS
    assert invoice.number.startswith("INV-")


def test_checkout_creates_a_pending_sandbox_payment_whose_url_is_the_checkout_url(owner, org, pro):
    data = start_checkout(owner, pro)

    payment = Payment.objects.get(organization=org)
    assert data["session_id"] == str(payment.pk)
    assert (payment.gateway, payment.kind, payment.status) == ("sandbox", "checkout", "pending")
    assert payment.amount_cents == PRO_PRICE_CENTS
    assert (payment.success_url, payment.cancel_url) == (SUCCESS_URL, CANCEL_URL)
    assert payment.reference.startswith("sbx_cs_")
    assert data["checkout_url"] == payment.checkout_url
    assert data["checkout_url"].endswith(f"/sandbox/checkout/{payment.reference}")


def test_the_checkout_url_opens_the_sandbox_page_with_the_amount(owner, pro):
    data = start_checkout(owner, pro)

    page = sandbox_page(data["checkout_url"])

    assert page.status_code == 200
    html = page.content.decode()
    assert "$29.99" in html
    assert 'value="pay"' in html and 'value="decline"' in html


def test_a_plan_with_a_trial_starts_trialing_at_once_and_goes_to_the_success_url(owner, org, pro):
    pro.trial_days = 14
    pro.save()

    data = start_checkout(owner, pro)

    subscription = Subscription.objects.get(organization=org)
    assert subscription.status == "trialing"
    assert subscription.trial_end is not None
    assert data["status"] == "trialing"
    assert data["session_id"] == str(subscription.pk)
    assert data["checkout_url"] == f"{SUCCESS_URL}?session_id={subscription.pk}"
    assert counts(org) == {"subscriptions": 1, "invoices": 0, "payments": 0}


def test_a_success_url_with_a_query_keeps_it_and_adds_the_session_id(owner, org, pro):
    pro.trial_days = 14
    pro.save()

    data = start_checkout(owner, pro, success_url=f"{SUCCESS_URL}?tab=plans")

    assert data["checkout_url"] == f"{SUCCESS_URL}?tab=plans&session_id={data['session_id']}"


def test_credit_covering_the_base_fee_activates_the_subscription_at_once(owner, org, pro):
    credits_grant(organization=org, amount_cents=5000, reason="welcome")

    data = start_checkout(owner, pro)

    subscription = Subscription.objects.get(organization=org)
    assert subscription.status == "active"
    assert data["status"] == "active"
    assert data["checkout_url"] == f"{SUCCESS_URL}?session_id={subscription.pk}"
    invoice = Invoice.objects.get(organization=org)
    assert (invoice.status, invoice.credit_applied_cents, invoice.total_cents) == ("paid", PRO_PRICE_CENTS, 0)
    assert not Payment.objects.filter(organization=org).exists()
    balance = assert_ok(owner.get("/api/v1/credits/balance"))
    assert balance["balance_cents"] == 5000 - PRO_PRICE_CENTS


def test_credit_covering_part_of_the_fee_leaves_the_rest_to_pay(owner, org, pro):
    credits_grant(organization=org, amount_cents=1000, reason="welcome")

    data = start_checkout(owner, pro)

    assert data["status"] == "incomplete"
    payment = Payment.objects.get(organization=org)
    assert payment.amount_cents == PRO_PRICE_CENTS - 1000


def test_checkout_of_an_inactive_plan_is_400_and_creates_nothing(owner, org, pro):
    pro.is_active = False
    pro.save()

    error = assert_error(owner.post(CHECKOUT, checkout_body(pro), format="json"), 400, "validation_error")

    assert "plan_id" in error["details"]
    assert counts(org) == {"subscriptions": 0, "invoices": 0, "payments": 0}


def test_checkout_of_the_free_plan_is_400(owner, org, pro):
    free = Plan.objects.get(is_default=True)
    assert free.price_cents == 0

    error = assert_error(owner.post(CHECKOUT, checkout_body(free), format="json"), 400, "validation_error")

    assert "plan_id" in error["details"]
    assert counts(org)["subscriptions"] == 0


def test_checkout_of_an_unknown_plan_is_404(owner, org, pro):
    response = owner.post(CHECKOUT, checkout_body(pro, plan_id=str(uuid.uuid4())), format="json")

    assert_error(response, 404, "not_found")
    assert counts(org)["subscriptions"] == 0


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("success_url", "https://evil.example.com/billing/success"),
        ("cancel_url", "https://evil.example.com/billing/cancel"),
        ("success_url", "http://localhost.evil.example.com/"),
        ("cancel_url", "ftp://localhost/billing/cancel"),
        ("success_url", "javascript:alert(1)"),
    ],
)
def test_redirect_urls_must_be_http_on_an_allowed_host(owner, org, pro, field, url):
    response = owner.post(CHECKOUT, checkout_body(pro, **{field: url}), format="json")

    error = assert_error(response, 400, "validation_error")
    assert field in error["details"]
    assert counts(org) == {"subscriptions": 0, "invoices": 0, "payments": 0}


def test_an_unknown_gateway_is_400_and_creates_nothing(owner, org, pro):
    response = owner.post(CHECKOUT, checkout_body(pro, gateway="paypal"), format="json")

    error = assert_error(response, 400, "validation_error")
    assert "gateway" in error["details"]
    assert counts(org) == {"subscriptions": 0, "invoices": 0, "payments": 0}


@pytest.mark.parametrize("status", ["active", "trialing", "past_due"])
def test_checkout_with_a_live_subscription_is_409(owner, org, pro, team_plan, status):
    subscription = subscribe(org, pro)
    Subscription.objects.filter(pk=subscription.pk).update(status=status)
    before = counts(org)

    assert_error(owner.post(CHECKOUT, checkout_body(team_plan), format="json"), 409, "conflict")

    assert counts(org) == before
    subscription.refresh_from_db()
    assert (subscription.status, subscription.plan) == (status, pro)


def test_a_new_checkout_replaces_an_abandoned_incomplete_one(owner, org, pro, team_plan):
    first = start_checkout(owner, pro)

    second = start_checkout(owner, team_plan)

    old = Subscription.objects.get(pk=first["subscription_id"])
    assert old.status == "canceled"
    assert Invoice.objects.get(subscription=old).status == "void"
    assert Payment.objects.get(pk=first["session_id"]).status == "canceled"
    new = Subscription.objects.get(pk=second["subscription_id"])
    assert (new.status, new.plan) == ("incomplete", team_plan)
    assert Invoice.objects.get(subscription=new).status == "open"
    assert Subscription.objects.filter(organization=org, status="incomplete").count() == 1


def test_the_replaced_checkout_page_can_no_longer_be_paid(owner, org, pro, team_plan):
    first = start_checkout(owner, pro)
    start_checkout(owner, team_plan)

    sandbox_press(first["checkout_url"], "pay")

    assert Payment.objects.get(pk=first["session_id"]).status == "canceled"
    assert Invoice.objects.get(subscription_id=first["subscription_id"]).status == "void"


@pytest.mark.parametrize("role", ["owner", "admin", "billing"])
def test_billing_roles_may_start_a_checkout(team, pro, role):
    assert start_checkout(team.client(role), pro)["status"] == "incomplete"


def test_a_member_may_not_start_a_checkout(team, org, pro):
    response = team.client("member").post(CHECKOUT, checkout_body(pro), format="json")

    assert_error(response, 403, "permission_denied")
    assert counts(org)["subscriptions"] == 0


def test_checkout_requires_authentication(api_client, pro):
    assert_error(api_client.post(CHECKOUT, checkout_body(pro), format="json"), 401, "not_authenticated")
    assert not Subscription.objects.exists()


def test_checkout_for_an_organization_of_someone_else_is_404(team, other_team, pro):
    intruder = people_client(team.users["owner"], other_team.org)

    assert_error(intruder.post(CHECKOUT, checkout_body(pro), format="json"), 404, "not_found")
    assert counts(other_team.org)["subscriptions"] == 0
    assert counts(team.org)["subscriptions"] == 0


@pytest.mark.parametrize("missing", ["plan_id", "success_url", "cancel_url"])
def test_checkout_fields_are_required(owner, org, pro, missing):
    body = checkout_body(pro)
    del body[missing]

    error = assert_error(owner.post(CHECKOUT, body, format="json"), 400, "validation_error")

    assert missing in error["details"]
    assert counts(org)["subscriptions"] == 0


# --- checkout/success ------------------------------------------------------------------


def checkout_status(client, session_id):
    return client.get(CHECKOUT_SUCCESS, {"session_id": session_id})


def test_success_of_a_paid_checkout_is_paid_with_an_active_subscription(owner, pro):
    data = start_checkout(owner, pro)
    sandbox_press(data["checkout_url"], "pay")

    status = assert_ok(checkout_status(owner, data["session_id"]))

    assert status["status"] == "paid"
    assert status["subscription"]["id"] == data["subscription_id"]
    assert status["subscription"]["status"] == "active"
    assert status["subscription"]["plan"]["code"] == "pro"


def test_success_before_paying_is_pending(owner, pro):
    data = start_checkout(owner, pro)

    status = assert_ok(checkout_status(owner, data["session_id"]))

    assert status["status"] == "pending"
    assert status["subscription"]["status"] == "incomplete"


def test_success_of_a_declined_checkout_is_failed_and_incomplete(owner, pro):
    data = start_checkout(owner, pro)
    sandbox_press(data["checkout_url"], "decline")

    status = assert_ok(checkout_status(owner, data["session_id"]))

    assert status["status"] == "failed"
    assert status["subscription"]["status"] == "incomplete"


def test_success_of_a_trial_checkout_is_the_subscription_status(owner, pro):
    pro.trial_days = 14
    pro.save()
    data = start_checkout(owner, pro)

    status = assert_ok(checkout_status(owner, data["session_id"]))

    assert status["status"] == "trialing"
    assert status["subscription"]["id"] == data["subscription_id"]


@pytest.mark.parametrize("session_id", [str(uuid.uuid4()), "not-a-session", "sbx_cs_abc", "1' OR '1'='1"])
def test_success_of_an_unknown_or_malformed_session_is_404(owner, pro, session_id):
    start_checkout(owner, pro)

    assert_error(checkout_status(owner, session_id), 404, "not_found")


def test_success_without_a_session_id_is_400(owner):
    error = assert_error(owner.get(CHECKOUT_SUCCESS), 400, "validation_error")
    assert "session_id" in error["details"]


def test_success_of_another_organizations_session_is_404(owner, other_team, pro):
    theirs = start_checkout(other_team.owner, pro)

    assert_error(checkout_status(owner, theirs["session_id"]), 404, "not_found")


def test_success_of_another_organizations_trial_is_404(owner, other_team, pro):
    pro.trial_days = 14
    pro.save()
    theirs = start_checkout(other_team.owner, pro)

    assert_error(checkout_status(owner, theirs["session_id"]), 404, "not_found")


def test_a_member_may_not_read_a_checkout(team, pro):
    data = start_checkout(team.owner, pro)

    assert_error(checkout_status(team.client("member"), data["session_id"]), 403, "permission_denied")
