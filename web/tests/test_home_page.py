"""The billing home (/account/): plan, period, upcoming invoice, usage bars, credit, open
invoices and alerts, per role and per organization; the switcher; dates in the viewer's zone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from billing_project.tests.world import customer_create, member_of, subscribe, utc
from credits.services import credits_grant
from organizations.models import Role
from subscriptions.models import Status

from .conftest import site_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscribed(demo, clock):
    clock.move_to(utc(2026, 3, 10, 12))
    customer = customer_create()
    customer.subscription_id = subscribe(customer.organization, demo[0], start=utc(2026, 3, 1)).pk
    customer.report_ok("call_minutes", utc(2026, 3, 9, 8), quantity=120)
    credits_grant(organization=customer.organization, amount_cents=1500, reason="welcome")
    return customer


def test_the_owner_sees_plan_usage_upcoming_invoice_and_credit(subscribed):
    page = site_client(subscribed.owner, subscribed.organization).get("/account/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Pro" in body and "Active" in body
    assert 'datetime="2026-03-01T00:00:00+00:00"' in body  # the period, as <time>
    assert "120 of" in body  # call minutes against the included quantity
    assert "$15.00" in body  # the credit balance
    assert "Upcoming invoice" in body and "$29.99" in body


def test_a_member_sees_the_plan_and_usage_but_no_money(team, pro):
    subscribe(team.org, pro)
    body = site_client(team.users[Role.MEMBER], team.org).get("/account/").content.decode()
    assert "Pro" in body and "Usage this period" in body
    assert "Upcoming invoice" not in body and "Credit balance" not in body
    assert "shown to owners, admins and billing managers" in body


def test_alerts_for_past_due_and_a_trial_that_ends_soon(team, pro):
    subscription = subscribe(team.org, pro, status=Status.PAST_DUE)
    body = site_client(team.users[Role.OWNER], team.org).get("/account/").content.decode()
    assert "past due" in body
    subscription.status = Status.TRIALING
    subscription.trial_end = timezone.now() + timedelta(days=2)
    subscription.save()
    body = site_client(team.users[Role.OWNER], team.org).get("/account/").content.decode()
    assert "Your trial ends soon." in body


def test_the_switcher_moves_between_organizations_and_refuses_a_stranger(team, other_team):
    owner = team.users[Role.OWNER]
    client = site_client(owner)
    first = client.get("/account/").content.decode()
    assert "Switch organization" in first  # personal organization + the team
    switched = client.post("/account/switch", {"organization": str(team.org.pk)})
    assert switched.status_code == 302
    assert "Acme Team" in client.get("/account/").content.decode()
    refused = client.post("/account/switch", {"organization": str(other_team.org.pk)}, follow=True)
    assert "You are not a member of that organization." in refused.content.decode()
    assert "Someone Else Ltd" not in refused.content.decode()


def test_a_removed_member_falls_back_to_their_personal_organization(team):
    user = member_of(team.org, Role.ADMIN)
    client = site_client(user, team.org)
    assert "Acme Team" in client.get("/account/").content.decode()
    team.org.memberships.filter(user=user).delete()
    body = client.get("/account/").content.decode()
    assert "Acme Team" not in body


def test_dates_follow_the_viewers_time_zone_with_utc_in_the_tooltip(subscribed):
    client = site_client(subscribed.owner, subscribed.organization)
    client.cookies["tz"] = "Asia/Tokyo"
    body = client.get("/account/").content.decode()
    assert "Asia/Tokyo" in body
    assert 'title="2026-03-01 00:00:00 UTC"' in body
    client.cookies["tz"] = "Not/AZone"
    assert "Times are shown in UTC" in client.get("/account/").content.decode()


def test_the_pricing_page_shows_the_live_catalogue(demo, client):
    body = client.get("/").content.decode()
    assert "Pro" in body and "$29.99" in body and "Team" in body
    assert "/signup?next=" in body
