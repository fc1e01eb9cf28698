"""GET /api/v1/invoices, /invoices/{id}, /invoices/{id}/pdf, /invoices/upcoming and
/billing/overview: who may read them and what they answer."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine

from billing_project.tests.openapi import assert_response_matches_schema
from billing_project.tests.world import ROLES, people_client, subscribe
from credits.models import CreditLedgerEntry
from credits.services import credits_grant
from invoices.models import Invoice, InvoiceLine, InvoiceNumberSequence, InvoiceStatus, PendingLineItem
from invoices.services import invoice_finalize, invoice_for_period_end, invoice_mark_paid, invoice_void
from invoices.tests.factories import PendingLineItemFactory
from organizations.models import Role
from organizations.tests.factories import OrganizationFactory
from usage.testing import record_usage

from .helpers import (
    INVOICES,
    OVERVIEW,
    UPCOMING,
    add_golden_usage,
    add_usage,
    assert_error,
    assert_ok,
    manual_draft,
    utc,
)

pytestmark = pytest.mark.django_db

NOW = utc(2026, 11, 1, 9)
READERS = (Role.OWNER, Role.ADMIN, Role.BILLING)


def issued(organization, *amounts: int, now=NOW) -> Invoice:
    return invoice_finalize(invoice=manual_draft(organization, *amounts), now=now)


def detail_url(invoice) -> str:
    return f"{INVOICES}/{invoice.pk}"


def pdf_url(invoice) -> str:
    return f"{INVOICES}/{invoice.pk}/pdf"


@pytest.fixture
def client(team):
    return team.client(Role.OWNER)


@pytest.fixture
def golden(org, pro) -> Invoice:
    """The golden period invoice, issued with 11% tax: 6,864 + 755 = 7,619 cents."""
    org.tax_rate = Decimal("11")
    org.save()
    subscription = subscribe(org, pro, utc(2026, 10, 1))
    add_golden_usage(org, date(2026, 10, 15))
    return invoice_for_period_end(subscription=subscription, now=NOW)


# --- GET /invoices ---------------------------------------------------------------------------


def test_the_list_shows_issued_invoices_and_hides_drafts(client, org):
    open_invoice = issued(org, 1000)
    paid = invoice_mark_paid(invoice=issued(org, 2000))
    manual_draft(org, 3000)

    data = assert_ok(client.get(INVOICES))

    assert {item["id"] for item in data} == {str(open_invoice.pk), str(paid.pk)}


def test_a_list_item_has_the_documented_fields(client, golden):
    (item,) = assert_ok(client.get(INVOICES))

    assert item == {
        "id": str(golden.pk),
        "invoice_number": "INV-2026-000001",
        "status": "open",
        "reason": "subscription_cycle",
        "total_cents": 7619,
        "amount_due_cents": 7619,
        "currency": "USD",
        "period_start": "2026-10-01T00:00:00Z",
        "period_end": "2026-11-01T00:00:00Z",
        "due_date": "2026-11-08",
        "issued_at": "2026-11-01T09:00:00Z",
        "paid_at": None,
    }


def test_the_list_is_newest_first(client, org):
    older = issued(org, 100, now=NOW)
    newer = issued(org, 100, now=NOW + timedelta(days=1))

    assert [item["id"] for item in assert_ok(client.get(INVOICES))] == [str(newer.pk), str(older.pk)]


@pytest.mark.parametrize("status", ["open", "paid", "void"])
def test_the_list_filters_by_status(client, org, status):
    invoices = {
        "open": issued(org, 1000),
        "paid": invoice_mark_paid(invoice=issued(org, 2000)),
        "void": invoice_void(invoice=issued(org, 3000)),
    }

    data = assert_ok(client.get(INVOICES, {"status": status}))

    assert [item["id"] for item in data] == [str(invoices[status].pk)]


@pytest.mark.parametrize("status", ["draft", "bogus"])
def test_an_invalid_status_filter_is_400(client, org, status):
    error = assert_error(client.get(INVOICES, {"status": status}), 400, "validation_error")

    assert "status" in error["details"]


def test_the_list_is_paginated(client, org):
    for day in range(5):
        issued(org, 100, now=NOW + timedelta(days=day))

    response = client.get(INVOICES, {"limit": 2, "offset": 1})

    data = assert_ok(response)
    assert response.json()["meta"] == {"total": 5, "limit": 2, "offset": 1}
    assert [item["invoice_number"] for item in data] == ["INV-2026-000004", "INV-2026-000003"]


def test_the_list_defaults_to_20_per_page(client, org):
    response = client.get(INVOICES)

    assert_ok(response)
    assert response.json()["meta"] == {"total": 0, "limit": 20, "offset": 0}


def test_the_list_leaves_out_other_organizations(client, org):
    issued(OrganizationFactory(), 1000)

    assert assert_ok(client.get(INVOICES)) == []


# --- GET /invoices/{id} ----------------------------------------------------------------------


def test_the_detail_has_lines_amounts_and_the_pdf_url(client, golden):
    data = assert_ok(client.get(detail_url(golden)))

    assert (data["subtotal_cents"], data["credit_applied_cents"], data["tax_cents"], data["total_cents"]) == (
        6864,
        0,
        755,
        7619,
    )
    assert data["tax_rate"] == "11.00"
    assert data["pdf_url"] == f"http://testserver/api/v1/invoices/{golden.pk}/pdf"
    assert [(line["kind"], line["metric"], line["amount_cents"]) for line in data["line_items"]] == [
        ("base_fee", None, 2999),
        ("usage", "api_calls", 590),
        ("usage", "call_minutes", 2125),
        ("usage", "sms", 1150),
    ]


def test_a_detail_line_has_the_documented_fields(client, golden):
    line = assert_ok(client.get(detail_url(golden)))["line_items"][2]

    assert line == {
        "id": line["id"],
        "kind": "usage",
        "description": "Call minutes: 425 minutes",
        "metric": "call_minutes",
        "quantity": "425.000000",
        "unit_price": "5.000000",
        "amount_cents": 2125,
        "period_start": "2026-10-01T00:00:00Z",
        "period_end": "2026-11-01T00:00:00Z",
    }


def test_the_detail_shows_applied_credits(client, org):
    credits_grant(organization=org, amount_cents=300, reason="welcome")
    invoice = issued(org, 1000)

    data = assert_ok(client.get(detail_url(invoice)))

    assert (data["credit_applied_cents"], data["total_cents"], data["amount_due_cents"]) == (300, 700, 700)


def test_a_draft_is_404(client, org):
    assert_error(client.get(detail_url(manual_draft(org, 1000))), 404, "not_found")


def test_an_unknown_invoice_is_404(client, org):
    assert_error(client.get(f"{INVOICES}/{uuid.uuid4()}"), 404, "not_found")


def test_another_organizations_invoice_is_404(client, org):
    foreign = issued(OrganizationFactory(), 1000)

    assert_error(client.get(detail_url(foreign)), 404, "not_found")
    assert_error(client.get(pdf_url(foreign)), 404, "not_found")


def test_another_organizations_invoice_is_404_even_as_its_current_org(team, org):
    foreign = issued(OrganizationFactory(), 1000)
    client = people_client(team.users[Role.OWNER], foreign.organization)

    assert_error(client.get(detail_url(foreign)), 404, "not_found")


# --- GET /invoices/{id}/pdf ------------------------------------------------------------------


def test_the_pdf_is_rendered_on_demand_and_stored(client, golden):
    assert not Invoice.objects.get(pk=golden.pk).pdf

    response = client.get(pdf_url(golden))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert 'filename="INV-2026-000001.pdf"' in response["Content-Disposition"]
    content = b"".join(response.streaming_content)
    assert content.startswith(b"%PDF")
    stored = Invoice.objects.get(pk=golden.pk).pdf
    assert stored
    with stored.open("rb") as file:
        assert file.read() == content


def test_a_stored_pdf_is_served_without_rendering_again(client, golden, monkeypatch):
    first = b"".join(client.get(pdf_url(golden)).streaming_content)

    def no_rendering(*args, **kwargs):
        raise AssertionError("rendered again")

    monkeypatch.setattr("invoices.pdf.invoice_pdf_bytes", no_rendering)
    monkeypatch.setattr("invoices.views.invoice_pdf_bytes", no_rendering)
    response = client.get(pdf_url(golden))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == first


# --- GET /invoices/upcoming ------------------------------------------------------------------


def comparable(lines: list[dict]) -> list[dict]:
    return [{key: value for key, value in line.items() if key != "id"} for line in lines]


@pytest.fixture
def preview_setup(org, pro):
    """The golden period with 11% tax, 1,000 cents of credit and a pending setup fee."""
    org.tax_rate = Decimal("11")
    org.save()
    credits_grant(organization=org, amount_cents=1000, reason="welcome")
    subscription = subscribe(org, pro, utc(2026, 10, 1))
    add_golden_usage(org, date(2026, 10, 15))
    PendingLineItemFactory(subscription=subscription, kind="adjustment", description="Setup fee", amount_cents=500)
    return subscription


def test_upcoming_equals_the_invoice_issued_afterwards_for_the_same_moment(team, org, preview_setup):
    add_usage(org, "sms", date(2026, 11, 1), 77)  # the next period's usage: in neither
    moment = utc(2026, 11, 1, 10)
    with time_machine.travel(moment, tick=False):
        client = team.client()  # signed in at the travelled-to moment
        upcoming = assert_ok(client.get(UPCOMING))
        invoice = invoice_for_period_end(subscription=preview_setup)
        issued_invoice = assert_ok(client.get(detail_url(invoice)))

    assert comparable(upcoming["line_items"]) == comparable(issued_invoice["line_items"])
    for field in ("currency", "period_start", "period_end", "subtotal_cents", "tax_rate", "tax_cents"):
        assert upcoming[field] == issued_invoice[field], field
    assert (upcoming["credit_applied_cents"], upcoming["total_cents"]) == (
        issued_invoice["credit_applied_cents"],
        issued_invoice["total_cents"],
    )
    assert (upcoming["subtotal_cents"], upcoming["total_cents"]) == (6864 + 500, 7364 - 1000 + 810)


def test_upcoming_during_the_period_shows_the_usage_so_far(team, org, preview_setup):
    record_usage(org, "call_minutes", utc(2026, 10, 20, 9), 10)  # today, before the moment
    moment = utc(2026, 10, 20, 15)
    with time_machine.travel(moment, tick=False):
        client = team.client()  # signed in at the travelled-to moment
        upcoming = assert_ok(client.get(UPCOMING))
        invoice = invoice_for_period_end(subscription=preview_setup, finalize=False)
        invoice_finalize(invoice=invoice)
        issued_invoice = assert_ok(client.get(detail_url(invoice)))

    def without_usage_end(lines):
        return [{**line, "period_end": None} if line["kind"] == "usage" else line for line in comparable(lines)]

    assert without_usage_end(upcoming["line_items"]) == without_usage_end(issued_invoice["line_items"])
    assert {line["period_end"] for line in upcoming["line_items"] if line["kind"] == "usage"} == {
        "2026-10-20T15:00:00Z"
    }
    minutes = next(line for line in upcoming["line_items"] if line["metric"] == "call_minutes")
    assert minutes["amount_cents"] == (425 + 10) * 5
    for field in ("subtotal_cents", "tax_cents", "credit_applied_cents", "total_cents"):
        assert upcoming[field] == issued_invoice[field], field


def test_upcoming_has_the_documented_fields(team, preview_setup):
    with time_machine.travel(utc(2026, 10, 20, 15), tick=False):
        client = team.client()  # signed in at the travelled-to moment
        data = assert_ok(client.get(UPCOMING))

    assert set(data) >= {
        "subscription_id",
        "currency",
        "period_start",
        "period_end",
        "line_items",
        "subtotal_cents",
        "tax_cents",
        "credit_applied_cents",
        "total_cents",
    }
    assert data["subscription_id"] == str(preview_setup.pk)
    assert data["next_payment_attempt"] == "2026-11-01T00:00:00Z"


def test_upcoming_stores_nothing(team, org, preview_setup):
    def state():
        return (
            Invoice.objects.count(),
            InvoiceLine.objects.count(),
            PendingLineItem.objects.filter(invoice__isnull=True).count(),
            CreditLedgerEntry.objects.count(),
            list(InvoiceNumberSequence.objects.values_list("year", "last_number")),
        )

    before = state()
    with time_machine.travel(utc(2026, 10, 20, 15), tick=False):
        client = team.client()  # signed in at the travelled-to moment
        assert_ok(client.get(UPCOMING))
        assert_ok(client.get(UPCOMING))

    assert state() == before


def test_upcoming_without_a_subscription_is_404(client):
    assert_error(client.get(UPCOMING), 404, "not_found")


def test_upcoming_of_an_incomplete_subscription_is_404(client, org, pro):
    subscribe(org, pro, utc(2026, 10, 1), status="incomplete")

    assert_error(client.get(UPCOMING), 404, "not_found")


def test_upcoming_in_a_trial_bills_the_first_paid_period(team, org, pro):
    subscription = subscribe(org, pro, utc(2026, 10, 1), trial_days=14)
    add_golden_usage(org, date(2026, 10, 5))

    with time_machine.travel(utc(2026, 10, 5, 12), tick=False):
        client = team.client()  # signed in at the travelled-to moment
        data = assert_ok(client.get(UPCOMING))

    assert [(line["kind"], line["amount_cents"]) for line in data["line_items"]] == [("base_fee", 2999)]
    assert data["period_end"] == "2026-10-15T00:00:00Z" == subscription.trial_end.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- GET /billing/overview -------------------------------------------------------------------


def test_the_overview_has_the_documented_shape(client, org, pro):
    subscription = subscribe(org, pro, utc(2026, 10, 1))
    subscription.payment_method = "pm_sandbox_4242"
    subscription.gateway = "sandbox"
    subscription.save()
    credits_grant(organization=org, amount_cents=250, reason="welcome")
    paid = invoice_mark_paid(invoice=issued(org, 1000, now=NOW))  # 250 of credit applied: 750 paid
    pending = issued(org, 4000, now=NOW + timedelta(days=1))
    invoice_void(invoice=issued(org, 9000, now=NOW + timedelta(days=2)))
    manual_draft(org, 100_000)

    data = assert_ok(client.get(OVERVIEW))

    assert set(data) == {
        "subscription",
        "credit_balance_cents",
        "currency",
        "recent_invoices",
        "disputes",
        "payment_methods",
        "totals",
    }
    assert data["subscription"]["id"] == str(subscription.pk)
    assert data["subscription"]["plan"]["code"] == "pro"
    assert (data["credit_balance_cents"], data["currency"]) == (0, "USD")
    assert [item["status"] for item in data["recent_invoices"]] == ["void", "open", "paid"]
    assert data["recent_invoices"][1]["id"] == str(pending.pk)
    assert data["disputes"] == []
    assert data["payment_methods"] == [{"id": "pm_sandbox_4242", "gateway": "sandbox"}]
    assert data["totals"] == {"spent_cents": paid.amount_paid_cents, "pending_cents": 4000, "invoice_count": 3}
    assert paid.amount_paid_cents == 750


def test_the_overview_without_a_subscription(client, org):
    credits_grant(organization=org, amount_cents=1234, reason="welcome")

    data = assert_ok(client.get(OVERVIEW))

    assert data["subscription"] is None
    assert data["payment_methods"] == []
    assert data["credit_balance_cents"] == 1234
    assert data["totals"] == {"spent_cents": 0, "pending_cents": 0, "invoice_count": 0}


def test_the_overview_shows_the_five_most_recent_invoices(client, org):
    for day in range(7):
        issued(org, 100, now=NOW + timedelta(days=day))

    data = assert_ok(client.get(OVERVIEW))

    assert [item["invoice_number"] for item in data["recent_invoices"]] == [
        f"INV-2026-00000{n}" for n in (7, 6, 5, 4, 3)
    ]
    assert data["totals"]["invoice_count"] == 7


def test_the_overview_leaves_out_other_organizations(client, org):
    other = OrganizationFactory()
    credits_grant(organization=other, amount_cents=999, reason="theirs")
    issued(other, 1000)

    data = assert_ok(client.get(OVERVIEW))

    assert (data["credit_balance_cents"], data["recent_invoices"], data["totals"]["invoice_count"]) == (0, [], 0)


# --- roles and authentication ----------------------------------------------------------------


def billing_paths(invoice) -> list[str]:
    return [INVOICES, detail_url(invoice), pdf_url(invoice), UPCOMING, OVERVIEW]


@pytest.mark.parametrize("role", READERS)
def test_owners_admins_and_billing_managers_can_read_invoices(team, org, pro, role):
    subscribe(org, pro, utc(2026, 10, 1))
    invoice = issued(org, 1000)
    client = team.client(role)

    for path in billing_paths(invoice):
        assert client.get(path).status_code == 200, path


def test_a_member_cannot_read_invoices(team, org, pro):
    subscribe(org, pro, utc(2026, 10, 1))
    invoice = issued(org, 1000)
    client = team.client(Role.MEMBER)

    for path in billing_paths(invoice):
        assert_error(client.get(path), 403, "permission_denied")


def test_billing_endpoints_need_authentication(api_client, org):
    invoice = issued(org, 1000)

    for path in billing_paths(invoice):
        assert_error(api_client.get(path), 401, "not_authenticated")


def test_a_member_of_another_organization_gets_404(org):
    from accounts.tests.factories import UserFactory

    stranger = people_client(UserFactory(), org)
    invoice = issued(org, 1000)

    for path in billing_paths(invoice):
        assert_error(stranger.get(path), 404, "not_found")


def test_every_role_is_covered():
    assert set(READERS) | {Role.MEMBER} == set(ROLES)


def test_the_issued_invoice_is_open_until_paid(client, golden):
    assert golden.status == InvoiceStatus.OPEN
    invoice_mark_paid(invoice=golden)

    assert assert_ok(client.get(detail_url(golden)))["status"] == "paid"


# --- the answers match the published OpenAPI schema ------------------------------------------


def test_the_list_detail_and_overview_of_issued_invoices_match_the_schema(client, org, golden):
    credits_grant(organization=org, amount_cents=250, reason="welcome")
    invoice_mark_paid(invoice=issued(org, 1000, now=NOW))
    invoice_void(invoice=issued(org, 9000, now=NOW + timedelta(days=2)))

    for url, path in [
        (INVOICES, "/api/v1/invoices"),
        (detail_url(golden), "/api/v1/invoices/{invoice_id}"),
        (OVERVIEW, "/api/v1/billing/overview"),
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_response_matches_schema(response, method="GET", path=path)


def test_the_upcoming_invoice_matches_the_schema(team, preview_setup):
    with time_machine.travel(utc(2026, 10, 20, 15), tick=False):
        response = team.client().get(UPCOMING)

    assert response.status_code == 200
    assert_response_matches_schema(response, method="GET", path="/api/v1/invoices/upcoming")
