"""Finalizations and period invoices racing each other on PostgreSQL (real concurrent
sessions): invoice numbers stay gapless and unique, and a period is invoiced once."""

from __future__ import annotations

from datetime import date
from functools import partial

import pytest

from billing_project.errors import Conflict
from billing_project.testing import run_concurrently
from billing_project.tests.world import subscribe
from invoices.models import Invoice, InvoiceNumberSequence
from invoices.services import invoice_finalize, invoice_for_period_end
from organizations.tests.factories import OrganizationFactory
from subscriptions.models import Subscription

from .helpers import add_golden_usage, manual_draft, utc

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

NOW = utc(2026, 11, 1, 9)
THREADS = 20


@pytest.fixture(autouse=True)
def _no_pdf_rendering(monkeypatch):
    """Finalization queues the PDF on commit, and eager Celery would render it in each
    thread; these tests are about numbers and rows, not documents."""

    class NotQueued:
        @staticmethod
        def delay_on_commit(*args, **kwargs):
            return None

    monkeypatch.setattr("invoices.services.render_invoice_pdf", NotQueued)


def outcome(call):
    """The call's result, or the Conflict it raised."""
    try:
        return call()
    except Conflict as exc:
        return exc


def test_twenty_concurrent_finalizations_take_twenty_consecutive_numbers(transactional_db):
    drafts = [manual_draft(OrganizationFactory(), 100 + i) for i in range(THREADS)]

    results = run_concurrently([partial(invoice_finalize, invoice=draft, now=NOW) for draft in drafts], timeout=120)

    expected = [f"INV-2026-{n:06d}" for n in range(1, THREADS + 1)]
    assert sorted(invoice.number for invoice in results) == expected
    stored = Invoice.objects.filter(pk__in=[draft.pk for draft in drafts]).values_list("number", flat=True)
    assert sorted(stored) == expected
    assert InvoiceNumberSequence.objects.get(year=2026).last_number == THREADS


def test_concurrent_finalizations_of_one_organization_number_gaplessly(transactional_db):
    organization = OrganizationFactory()
    drafts = [manual_draft(organization, 100 + i) for i in range(THREADS)]

    results = run_concurrently([partial(invoice_finalize, invoice=draft, now=NOW) for draft in drafts], timeout=120)

    assert sorted(invoice.number for invoice in results) == [f"INV-2026-{n:06d}" for n in range(1, THREADS + 1)]


def test_finalizing_one_draft_concurrently_numbers_it_once(transactional_db):
    draft = manual_draft(OrganizationFactory(), 100)

    results = run_concurrently([partial(invoice_finalize, invoice=draft, now=NOW) for _ in range(5)], timeout=60)

    assert {invoice.number for invoice in results} == {"INV-2026-000001"}
    assert InvoiceNumberSequence.objects.get(year=2026).last_number == 1


@pytest.mark.parametrize("round_", range(3))
def test_two_concurrent_period_invoices_for_one_period_make_one_invoice(pro, round_):
    organization = OrganizationFactory()
    subscription = subscribe(organization, pro, utc(2026, 10, 1))
    add_golden_usage(organization, date(2026, 10, 15))

    def close_period():
        fresh = Subscription.objects.select_related("plan", "scheduled_plan").get(pk=subscription.pk)
        return outcome(partial(invoice_for_period_end, subscription=fresh, now=NOW))

    results = run_concurrently([close_period, close_period], timeout=60)

    invoices = [result for result in results if isinstance(result, Invoice)]
    conflicts = [result for result in results if isinstance(result, Conflict)]
    assert (len(invoices), len(conflicts)) == (1, 1)
    assert conflicts[0].status_code == 409
    assert Invoice.objects.filter(subscription=subscription).count() == 1
    assert invoices[0].number == "INV-2026-000001"
    assert invoices[0].subtotal_cents == 6864
