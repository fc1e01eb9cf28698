"""Staff: the read-only credit ledger and balances, and "Grant credits" on organizations."""

from datetime import UTC, datetime

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client

from accounts.tests.factories import UserFactory
from credits.models import CreditLedgerEntry, EntryKind
from credits.services import credits_grant
from organizations.tests.factories import OrganizationFactory

from .helpers import assert_consistent

pytestmark = pytest.mark.django_db

ORGS = "/admin/organizations/organization/"
LEDGER = "/admin/credits/creditledgerentry/"
BALANCES = "/admin/credits/creditbalance/"


def grant_action(client, organizations, **form):
    data = {"action": "grant_credits", ACTION_CHECKBOX_NAME: [str(o.pk) for o in organizations], **form}
    return client.post(ORGS, data)


def test_grant_action_first_asks_for_amount_and_reason(staff_client, org):
    response = grant_action(staff_client, [org])

    assert response.status_code == 200
    page = response.content.decode()
    assert "Grant credits" in page and 'name="amount_cents"' in page and 'name="reason"' in page
    assert org.slug in page
    assert not CreditLedgerEntry.objects.exists()


def test_grant_action_grants_each_selected_organization(staff_client, staff, org):
    other = OrganizationFactory(currency="IDR")

    response = grant_action(staff_client, [org, other], apply="1", amount_cents="2500", reason="Outage goodwill")

    assert response.status_code == 302
    for organization in (org, other):
        entry = CreditLedgerEntry.objects.get(organization=organization)
        assert (entry.kind, entry.amount_cents, entry.description) == (EntryKind.GRANT, 2500, "Outage goodwill")
        assert entry.created_by == staff
        assert assert_consistent(organization) == 2500
    assert CreditLedgerEntry.objects.get(organization=other).currency == "IDR"


def test_grant_action_with_an_expiry(staff_client, org):
    grant_action(staff_client, [org], apply="1", amount_cents="100", reason="Promo", expires_at="2031-01-01 00:00:00")
    assert CreditLedgerEntry.objects.get(organization=org).expires_at == datetime(2031, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("form", [{"amount_cents": "100", "reason": ""}, {"amount_cents": "0", "reason": "x"}])
def test_grant_action_needs_a_positive_amount_and_a_reason(staff_client, org, form):
    response = grant_action(staff_client, [org], apply="1", **form)

    assert response.status_code == 200  # the form again, with its errors
    assert "errorlist" in response.content.decode()
    assert not CreditLedgerEntry.objects.exists()


def test_grant_action_needs_the_permission_to_add_ledger_entries(org):
    client = Client()
    client.force_login(UserFactory(is_staff=True))
    client.post(ORGS, {"action": "grant_credits", ACTION_CHECKBOX_NAME: [str(org.pk)], "apply": "1"})
    assert not CreditLedgerEntry.objects.exists()


def test_organization_page_shows_the_balance_and_links_the_ledger(staff_client, org):
    credits_grant(organization=org, amount_cents=4200, reason="x")

    page = staff_client.get(f"{ORGS}{org.pk}/change/").content.decode()

    assert "4200 USD" in page
    assert f"{LEDGER}?organization__id__exact={org.pk}" in page


def test_organization_add_page_still_opens(staff_client):
    assert staff_client.get(f"{ORGS}add/").status_code == 200


def test_ledger_and_balances_are_listed_read_only(staff_client, org):
    entry = credits_grant(organization=org, amount_cents=4200, reason="Visible reason")

    ledger = staff_client.get(LEDGER, {"kind__exact": "grant", "q": org.slug})
    assert ledger.status_code == 200
    assert "Visible reason" in ledger.content.decode()
    assert staff_client.get(BALANCES).status_code == 200
    assert staff_client.get(f"{LEDGER}{entry.pk}/change/").status_code == 200  # a view page
    assert staff_client.get(f"{LEDGER}add/").status_code == 403
    assert staff_client.post(f"{LEDGER}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert CreditLedgerEntry.objects.filter(pk=entry.pk).exists()
