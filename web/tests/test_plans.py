"""The plans pages (/account/plans) and the checkout result (/account/checkout/done):
checkout through the sandbox's hosted page, a declined card and its retry, a change of
plan whose preview is what it then invoices, cancel at the period end or now with what it
costs, reactivate; roles, other organizations and double submits."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest
from django.conf import settings

from billing.services import payment_method_update
from billing_project.money import format_money
from billing_project.tests.world import plans_trial_days, utc
from invoices.models import CreditNote, Invoice, InvoiceReason, InvoiceStatus
from payments.models import Payment, PaymentStatus
from plans.models import Plan
from subscriptions.models import Status, Subscription
from usage.testing import record_usage

from .conftest import form_key_of, site_client

pytestmark = pytest.mark.django_db

PLANS = "/account/plans"
CHECKOUT = "/account/plans/checkout"
CHANGE = "/account/plans/change"
CANCEL = "/account/plans/cancel"
REACTIVATE = "/account/plans/reactivate"
DONE = "/account/checkout/done"
RETRY = "/account/checkout/retry"

START = utc(2026, 10, 1, 9)
MID = utc(2026, 10, 17, 13, 47, 29)


def html_of(response) -> str:
    return response.content.decode()


def text_of(response) -> str:
    """The page's text, tags and runs of white space collapsed (for phrases across tags)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html_of(response)))


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no {name} on the page"
    return match.group(1)


def section(html: str, element_id: str) -> str:
    start = html.index(f'id="{element_id}"')
    return html[start : html.index("</section>", start)]


def start_checkout(client, plan: Plan, key: str | None = None):
    page = client.get(PLANS, {"plan": plan.code})
    assert page.status_code == 200
    return client.post(CHECKOUT, {"plan": str(plan.pk), "idempotency_key": key or form_key_of(html_of(page))})


def on_sandbox_page(client, url: str, action: str) -> str:
    """Click Pay or Decline on the sandbox gateway's hosted page (as its tests do); where
    the page sends the browser back to."""
    assert url.startswith(settings.SITE_URL + "/sandbox/checkout/"), url
    path = urlparse(url).path
    assert client.get(path).status_code == 200
    response = client.post(path, {"action": action})
    assert response.status_code == 302, response.content
    return response["Location"]


def local(url: str) -> str:
    """An absolute URL of this site as a path the test client gets."""
    parsed = urlparse(url)
    return f"{parsed.path}?{parsed.query}" if parsed.query else parsed.path


def subscribed_on_pro(site, pro):
    """The team's owner subscribes to Pro through the pages and pays on the sandbox page;
    returns (client, subscription)."""
    owner = site("owner")
    back = on_sandbox_page(owner, start_checkout(owner, pro)["Location"], "pay")
    assert owner.get(local(back)).status_code == 200
    return owner, Subscription.objects.get(plan=pro, status=Status.ACTIVE)


def written(organization) -> tuple:
    return (
        Subscription.objects.filter(organization=organization).count(),
        Invoice.objects.filter(organization=organization).count(),
        Payment.objects.filter(organization=organization).count(),
        CreditNote.objects.filter(organization=organization).count(),
    )


# --- who may --------------------------------------------------------------------------------


def test_signed_out_is_sent_to_sign_in(client):
    for path in (PLANS, f"{PLANS}?plan=pro", f"{DONE}?session_id=x"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/login?next=")
    for path in (CHECKOUT, CHANGE, CANCEL, REACTIVATE, RETRY):
        response = client.post(path, {"idempotency_key": "k"})
        assert response.status_code == 302 and response["Location"].startswith("/login?next=")


def test_a_member_sees_the_plans_but_no_way_to_change_them(site, team, pro):
    response = site("member").get(PLANS, {"plan": "pro"})

    assert response.status_code == 200
    text = text_of(response)
    assert "Pro" in text and format_money(pro.price_cents, pro.currency) in text
    assert "Only owners, admins and billing managers can change the plan." in text
    assert 'id="confirm"' not in html_of(response)
    assert "Choose Pro" not in text


def test_a_member_is_refused_every_change(site, team, pro, team_plan):
    _owner, subscription = subscribed_on_pro(site, pro)
    before = written(team.org)
    member = site("member")
    session_id = str(Payment.objects.get(organization=team.org).pk)

    posts = [
        (CHECKOUT, {"plan": str(pro.pk)}),
        (CHANGE, {"plan": str(team_plan.pk), "when": "now", "expected_charge_cents": "0"}),
        (CANCEL, {"when": "now"}),
        (CANCEL, {"when": "period_end"}),
        (REACTIVATE, {}),
        (RETRY, {"session_id": session_id}),
    ]
    for path, data in posts:
        response = member.post(path, {**data, "idempotency_key": f"member-{path}-{len(data)}"})
        assert response.status_code == 403, path
        assert "Your role (member)" in html_of(response)
    assert member.get(DONE, {"session_id": session_id}).status_code == 403
    assert written(team.org) == before
    subscription.refresh_from_db()
    assert (subscription.plan, subscription.status, subscription.cancel_at_period_end) == (pro, Status.ACTIVE, False)


# --- the page -------------------------------------------------------------------------------


def test_the_page_lists_the_catalogue_with_the_current_plan(site, pro, team_plan, free_plan):
    response = site("billing").get(PLANS)

    assert response.status_code == 200
    html = html_of(response)
    assert re.search(r'class="card plan current"[^>]*aria-labelledby="plan-free"', html)
    assert "No paid subscription." in html
    for plan in (pro, team_plan):
        assert f'href="/account/plans?plan={plan.code}#confirm">Choose {plan.name}</a>' in html
        assert format_money(plan.price_cents, plan.currency) in html
    # Usage beyond the allowance, as the plan prices it: per package, or by tiers.
    assert "then $2.00 per 100,000 tokens" in html
    assert "$0.000015 per token up to 10,000,000, $0.00001 per token beyond" in html


def test_an_unknown_plan_is_a_404_that_says_so(site, pro):
    response = site("owner").get(PLANS, {"plan": "platinum"})

    assert response.status_code == 404
    assert "There is no plan “platinum” on sale." in html_of(response)


def test_the_pricing_pages_choice_is_preselected_with_its_price(site, pro):
    response = site("owner").get(PLANS, {"plan": "pro"})

    html = html_of(response)
    confirm = section(html, "confirm")
    price = format_money(pro.price_cents, pro.currency)
    assert "Subscribe to Pro" in confirm
    assert f"Continue to pay {price}" in confirm
    assert re.search(r'class="card plan selected"[^>]*aria-labelledby="plan-pro"', html)


def test_a_trial_is_shown_before_it_starts(site, pro):
    plans_trial_days(14)

    confirm = section(html_of(site("owner").get(PLANS, {"plan": "pro"})), "confirm")

    assert "14-day free trial starts now" in confirm
    assert "Nothing is charged today." in confirm
    assert "Start the Pro trial" in confirm


# --- checkout -------------------------------------------------------------------------------


def test_checkout_goes_to_the_sandbox_page_and_back_to_a_paid_done_page(site, team, pro):
    owner = site("owner")

    response = start_checkout(owner, pro)

    assert response.status_code == 302
    payment = Payment.objects.get(organization=team.org)
    assert response["Location"] == payment.checkout_url
    assert payment.success_url == settings.SITE_URL + DONE
    assert payment.cancel_url == settings.SITE_URL + PLANS
    back = on_sandbox_page(owner, response["Location"], "pay")
    assert back == f"{settings.SITE_URL}{DONE}?session_id={payment.pk}"

    done = owner.get(local(back))

    assert done.status_code == 200
    text = text_of(done)
    invoice = Invoice.objects.get(organization=team.org, reason=InvoiceReason.SUBSCRIPTION_CREATE)
    assert "You are on Pro" in text
    assert f"Your payment of {format_money(pro.price_cents, pro.currency)} was received." in text
    assert f'<a href="/account/invoices/{invoice.pk}">{invoice.number}</a>' in html_of(done)
    assert 'href="/account/"' in html_of(done)
    assert Subscription.objects.get(organization=team.org).status == Status.ACTIVE


def test_a_double_submitted_checkout_starts_one(site, team, pro):
    owner = site("owner")
    key = form_key_of(html_of(owner.get(PLANS, {"plan": "pro"})))

    first = start_checkout(owner, pro, key)
    second = start_checkout(owner, pro, key)

    assert first["Location"] == second["Location"]
    assert second["Idempotent-Replayed"] == "true"
    assert Payment.objects.filter(organization=team.org).count() == 1
    assert Subscription.objects.filter(organization=team.org).count() == 1


def test_a_pending_checkout_waits_with_a_refresh(site, team, pro):
    owner = site("owner")
    start_checkout(owner, pro)
    payment = Payment.objects.get(organization=team.org)

    done = owner.get(DONE, {"session_id": str(payment.pk)})

    assert done.status_code == 200
    html = html_of(done)
    assert "Waiting for your payment" in html
    assert '<meta http-equiv="refresh" content="5">' in html
    assert f'href="/account/checkout/done?session_id={payment.pk}">Refresh</a>' in html


def test_a_declined_card_shows_the_reason_and_a_retry_that_starts_a_new_checkout(site, team, pro):
    owner = site("owner")
    back = on_sandbox_page(owner, start_checkout(owner, pro)["Location"], "decline")
    first = Payment.objects.get(organization=team.org)
    assert back == f"{settings.SITE_URL}{PLANS}?session_id={first.pk}"

    plans = owner.get(local(back))
    assert plans.status_code == 200
    assert "The payment for Pro did not go through: The card was declined." in text_of(plans)
    done = owner.get(DONE, {"session_id": str(first.pk)})
    assert "The payment did not go through" in text_of(done)
    assert "The card was declined." in text_of(done)
    assert "Retry the payment for Pro" in text_of(done)

    key = form_key_of(section(html_of(done), "done-title"))
    retried = owner.post(RETRY, {"session_id": str(first.pk), "idempotency_key": key})
    again = owner.post(RETRY, {"session_id": str(first.pk), "idempotency_key": key})

    assert retried.status_code == 302 and again["Location"] == retried["Location"]
    second = Payment.objects.filter(organization=team.org).exclude(pk=first.pk).get()
    assert retried["Location"] == second.checkout_url != first.checkout_url
    assert Subscription.objects.filter(organization=team.org, status=Status.INCOMPLETE).count() == 1
    paid = on_sandbox_page(owner, retried["Location"], "pay")
    assert "You are on Pro" in text_of(owner.get(local(paid)))
    assert Subscription.objects.get(organization=team.org, status__in=[Status.ACTIVE]).plan == pro


def test_a_trial_checkout_lands_on_the_done_page(site, team, pro):
    plans_trial_days(14)
    owner = site("owner")

    response = start_checkout(owner, pro)

    subscription = Subscription.objects.get(organization=team.org)
    assert subscription.status == Status.TRIALING
    assert response["Location"] == f"{settings.SITE_URL}{DONE}?session_id={subscription.pk}"
    done = owner.get(local(response["Location"]))
    assert "Your Pro trial has started" in text_of(done)
    assert not Payment.objects.filter(organization=team.org).exists()


def test_another_organizations_checkout_is_not_found(site, team, other_team, pro):
    theirs = site_client(other_team.users["owner"], other_team.org)
    start_checkout(theirs, pro)
    session_id = str(Payment.objects.get(organization=other_team.org).pk)
    owner = site("owner")

    assert owner.get(DONE, {"session_id": session_id}).status_code == 404
    assert owner.get(DONE, {"session_id": "not-a-session"}).status_code == 404
    assert owner.get(DONE).status_code == 404
    assert owner.get(PLANS, {"session_id": session_id}).status_code == 404
    assert owner.post(RETRY, {"session_id": session_id, "idempotency_key": "k1"}).status_code == 404
    assert Payment.objects.filter(organization=team.org).count() == 0
    assert Payment.objects.filter(organization=other_team.org).count() == 1


def test_checkout_when_subscribed_is_refused_on_the_page(site, team, pro, team_plan):
    owner, _subscription = subscribed_on_pro(site, pro)
    before = written(team.org)

    response = owner.post(CHECKOUT, {"plan": str(team_plan.pk), "idempotency_key": "again"})

    assert response.status_code == 409
    assert "already has a subscription" in html_of(response)
    assert written(team.org) == before


def test_checkout_of_a_plan_not_on_sale_is_a_400(site, team, pro):
    response = site("owner").post(CHECKOUT, {"plan": "nope", "idempotency_key": "k"})

    assert response.status_code == 400
    assert "Choose one of the plans below." in html_of(response)
    assert written(team.org) == (0, 0, 0, 0)


# --- change ---------------------------------------------------------------------------------


def test_the_change_invoices_what_its_preview_showed(site, team, pro, team_plan, clock):
    clock.move_to(START, tick=False)
    subscribed_on_pro(site, pro)
    clock.move_to(MID, tick=False)
    owner = site("owner")

    page = owner.get(PLANS, {"plan": "team"})

    assert page.status_code == 200
    confirm = section(html_of(page), "confirm")
    charge = int(hidden(confirm, "expected_charge_cents"))
    credit = int(hidden(confirm, "expected_credit_cents"))
    assert hidden(confirm, "when") == "now"
    assert 0 < credit < pro.price_cents and 0 < charge < team_plan.price_cents
    assert f"Switch to Team and pay {format_money(charge, 'USD')}" in confirm
    assert f"\N{MINUS SIGN}{format_money(credit, 'USD')}" in confirm
    assert "Remaining time on Team from 2026-10-17 to 2026-11-01" in confirm
    assert "Unused time on Pro from 2026-10-17 to 2026-11-01" in confirm
    assert f"{format_money(team_plan.price_cents, 'USD')} / month" in confirm
    data = {
        "plan": str(team_plan.pk),
        "when": "now",
        "expected_charge_cents": str(charge),
        "expected_credit_cents": str(credit),
        "idempotency_key": form_key_of(confirm),
    }

    response = owner.post(CHANGE, data)
    again = owner.post(CHANGE, data)

    assert response.status_code == 302 and response["Location"] == PLANS
    assert again["Location"] == PLANS and again["Idempotent-Replayed"] == "true"
    invoice = Invoice.objects.get(organization=team.org, reason=InvoiceReason.SUBSCRIPTION_UPDATE)
    note = CreditNote.objects.get(organization=team.org)
    assert invoice.total_cents == charge
    assert note.total_cents == credit
    assert invoice.status == InvoiceStatus.PAID
    assert Payment.objects.get(invoice=invoice).amount_cents == charge
    assert Subscription.objects.get(organization=team.org, status=Status.ACTIVE).plan == team_plan
    assert f"You are now on Team. Invoice {invoice.number} is paid." in text_of(owner.get(PLANS))


def test_a_confirmation_whose_amounts_no_longer_hold_changes_nothing(site, team, pro, team_plan, clock):
    clock.move_to(START, tick=False)
    subscribed_on_pro(site, pro)
    clock.move_to(MID, tick=False)
    owner = site("owner")
    before = written(team.org)

    response = owner.post(
        CHANGE,
        {
            "plan": str(team_plan.pk),
            "when": "now",
            "expected_charge_cents": "1",
            "expected_credit_cents": "1",
            "idempotency_key": "stale",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == f"{PLANS}?plan=team&when=now#confirm"
    assert written(team.org) == before
    assert "The amounts have changed since the preview." in text_of(owner.get(PLANS))


def test_a_change_to_the_same_plan_is_refused_with_the_reason(site, team, pro):
    owner, _subscription = subscribed_on_pro(site, pro)
    before = written(team.org)

    assert "You are on Pro already." in text_of(owner.get(PLANS, {"plan": "pro"}))
    response = owner.post(
        CHANGE, {"plan": str(pro.pk), "when": "now", "expected_charge_cents": "0", "idempotency_key": "same"}
    )

    assert response.status_code == 400
    assert "The subscription is already on this plan." in html_of(response)
    assert written(team.org) == before


def test_a_change_at_the_period_end_moves_no_money(site, team, pro, team_plan):
    owner, subscription = subscribed_on_pro(site, pro)
    before = written(team.org)

    page = owner.get(PLANS, {"plan": "team", "when": "next_period"})
    confirm = section(html_of(page), "confirm")
    assert "Nothing is charged or credited now." in text_of(page)
    response = owner.post(
        CHANGE, {"plan": str(team_plan.pk), "when": "next_period", "idempotency_key": form_key_of(confirm)}
    )

    assert response.status_code == 302
    subscription.refresh_from_db()
    assert (subscription.plan, subscription.scheduled_plan) == (pro, team_plan)
    assert written(team.org) == before
    assert "Next plan" in text_of(owner.get(PLANS))


def test_a_declined_card_at_a_change_goes_to_the_payment_page(site, team, pro, team_plan, clock):
    clock.move_to(START, tick=False)
    subscribed_on_pro(site, pro)
    payment_method_update(organization=team.org, payment_method_id="pm_sandbox_decline")
    clock.move_to(MID, tick=False)
    owner = site("owner")
    confirm = section(html_of(owner.get(PLANS, {"plan": "team"})), "confirm")

    response = owner.post(
        CHANGE,
        {
            "plan": str(team_plan.pk),
            "when": "now",
            "expected_charge_cents": hidden(confirm, "expected_charge_cents"),
            "expected_credit_cents": hidden(confirm, "expected_credit_cents"),
            "idempotency_key": form_key_of(confirm),
        },
    )

    invoice = Invoice.objects.get(organization=team.org, reason=InvoiceReason.SUBSCRIPTION_UPDATE)
    link = Payment.objects.get(invoice=invoice, status=PaymentStatus.PENDING)
    assert response.status_code == 302 and response["Location"] == link.checkout_url
    assert Payment.objects.filter(invoice=invoice, status=PaymentStatus.FAILED).exists()
    back = on_sandbox_page(owner, response["Location"], "pay")
    assert urlparse(back).path == f"/account/invoices/{invoice.pk}"
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID


# --- cancel and reactivate ------------------------------------------------------------------


def test_cancel_at_the_period_end_then_reactivate(site, team, pro):
    owner, subscription = subscribed_on_pro(site, pro)

    page = owner.get(PLANS, {"cancel": "1"})
    cancel = section(html_of(page), "cancel")
    assert "no refund" in cancel
    assert subscription.current_period_end.isoformat() in cancel
    before = written(team.org)
    data = {"when": "period_end", "reason": "too dear", "idempotency_key": form_key_of(cancel)}
    first = owner.post(CANCEL, data)
    second = owner.post(CANCEL, data)

    assert first.status_code == second.status_code == 302
    assert second["Idempotent-Replayed"] == "true"
    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end and subscription.status == Status.ACTIVE
    assert subscription.cancel_reason == "too dear"
    assert written(team.org) == before
    page = owner.get(PLANS)
    assert "ends on" in text_of(page)
    assert "undo the cancellation" in text_of(page)

    key = form_key_of(html_of(page))
    reactivated = owner.post(REACTIVATE, {"idempotency_key": key})
    replayed = owner.post(REACTIVATE, {"idempotency_key": key})

    assert reactivated.status_code == replayed.status_code == 302
    subscription.refresh_from_db()
    assert not subscription.cancel_at_period_end
    assert "Your Pro subscription continues" in text_of(owner.get(PLANS))
    refused = owner.post(REACTIVATE, {"idempotency_key": "another"})
    assert refused.status_code == 409
    assert "This subscription is not set to cancel." in html_of(refused)


def test_cancel_now_invoices_the_usage_the_confirmation_showed(site, team, pro, clock):
    clock.move_to(START, tick=False)
    subscribed_on_pro(site, pro)
    record_usage(team.org, "call_minutes", utc(2026, 10, 5), 300)
    record_usage(team.org, "sms", utc(2026, 10, 6), 40)
    clock.move_to(MID, tick=False)
    owner = site("owner")

    cancel = section(html_of(owner.get(PLANS, {"cancel": "1"})), "cancel")
    match = re.search(r"Cancel now and invoice ([^<]+)</button>", cancel)
    assert match, cancel
    shown = match.group(1)
    response = owner.post(CANCEL, {"when": "now", "idempotency_key": form_key_of(cancel)})

    assert response.status_code == 302
    subscription = Subscription.objects.get(organization=team.org)
    assert subscription.status == Status.CANCELED
    final = Invoice.objects.get(organization=team.org, reason=InvoiceReason.SUBSCRIPTION_CANCEL)
    assert format_money(final.total_cents, final.currency) == shown
    assert final.total_cents == 300 * 5 + 40 * 1
    assert f"Final invoice {final.number}: {shown}." in text_of(owner.get(PLANS))


def test_a_cancel_reason_too_long_is_a_400(site, team, pro):
    owner, subscription = subscribed_on_pro(site, pro)

    response = owner.post(CANCEL, {"when": "period_end", "reason": "x" * 501, "idempotency_key": "long"})

    assert response.status_code == 400
    assert "at most 500 characters" in html_of(response)
    subscription.refresh_from_db()
    assert not subscription.cancel_at_period_end
