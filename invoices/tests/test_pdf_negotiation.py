"""Content negotiation of the PDF endpoints: what an API client sends for a PDF gets the
PDF; errors are still JSON envelopes; only an Accept that rules PDF out is a 406."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.signing import TimestampSigner
from django.test import Client
from rest_framework.test import APIClient

from invoices.models import Invoice
from invoices.services import invoice_finalize
from organizations.models import Role
from organizations.tests.factories import OrganizationFactory

from .helpers import assert_error, manual_draft

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def issued(organization, *amounts: int) -> Invoice:
    return invoice_finalize(invoice=manual_draft(organization, *amounts), now=NOW)


def pdf_url(invoice) -> str:
    return f"/api/v1/invoices/{invoice.pk}/pdf"


@pytest.fixture
def client(team):
    return team.client(Role.OWNER)


def assert_pdf(response) -> None:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content).startswith(b"%PDF")


@pytest.mark.parametrize(
    "accept",
    [
        "application/pdf",
        "*/*",
        "application/*",
        "application/pdf, application/json",
        "application/json;q=0.9, application/pdf",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",  # a browser
    ],
)
def test_the_pdf_answers_what_a_client_accepts_for_a_pdf(client, org, accept):
    assert_pdf(client.get(pdf_url(issued(org, 1000)), HTTP_ACCEPT=accept))


def test_the_pdf_answers_without_an_accept_header(client, org):
    assert_pdf(client.get(pdf_url(issued(org, 1000))))


@pytest.mark.parametrize("accept", ["application/pdf", "application/pdf, application/json", "*/*"])
def test_another_organizations_pdf_is_a_json_404_whatever_is_accepted(client, accept):
    foreign = issued(OrganizationFactory(), 1000)

    response = client.get(pdf_url(foreign), HTTP_ACCEPT=accept)

    assert response["Content-Type"] == "application/json"
    assert_error(response, 404, "not_found")


def test_a_pdf_request_without_credentials_is_a_json_401(org):
    response = APIClient().get(pdf_url(issued(org, 1000)), HTTP_ACCEPT="application/pdf")

    assert response["Content-Type"] == "application/json"
    assert_error(response, 401, "not_authenticated")


@pytest.mark.parametrize("accept", ["text/html", "application/json", "application/pdf;q=0, */*;q=0.1"])
def test_an_accept_that_rules_out_pdf_is_a_json_406(client, org, accept):
    response = client.get(pdf_url(issued(org, 1000)), HTTP_ACCEPT=accept)

    assert response["Content-Type"] == "application/json"
    assert_error(response, 406, "not_acceptable")


@pytest.mark.parametrize("accept", ["application/pdf", "*/*", ""])
def test_the_portal_pdf_answers_whatever_a_browser_accepts(org, accept):
    invoice = issued(org, 1000)
    token = TimestampSigner(salt="billing-portal").sign(str(org.pk))

    response = Client().get(f"/billing/portal/{token}/invoices/{invoice.pk}.pdf", HTTP_ACCEPT=accept)

    assert_pdf(response)
