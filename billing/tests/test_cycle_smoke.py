from datetime import timedelta

import pytest

from accounts.tests.factories import UserFactory
from billing.cycle import run_billing_cycle
from billing_project.tests.world import subscribe, utc
from invoices.models import Invoice
from organizations.models import Organization
from subscriptions.models import Subscription
from subscriptions.services import subscription_payment_method_save

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscription(pro):
    """A user's personal organization on `pro` since 2026-01-31, paying with the sandbox's good card."""
    organization = Organization.objects.get(memberships__user=UserFactory())
    return subscribe(organization, pro, utc(2026, 1, 31), payment_method="pm_sandbox_ok")


def test_renewal_is_invoiced_after_the_grace_window_and_charged(subscription):
    report = run_billing_cycle(now=utc(2026, 2, 28, 0, 30))
    assert report.periods_closed == 1 and report.invoices_finalized == 0
    subscription.refresh_from_db()
    assert (subscription.current_period_start, subscription.current_period_end) == (utc(2026, 2, 28), utc(2026, 3, 31))

    report = run_billing_cycle(now=utc(2026, 2, 28, 1, 30))
    assert report.invoices_finalized == 1, report.errors
    invoice = Invoice.objects.get(subscription=subscription)
    assert invoice.status == "paid"
    assert invoice.total_cents == 2999
    again = run_billing_cycle(now=utc(2026, 2, 28, 1, 30))
    assert again.as_dict() == {**again.as_dict(), "periods_closed": 0, "invoices_finalized": 0}
    assert Invoice.objects.filter(subscription=subscription).count() == 1


def test_a_declined_renewal_walks_the_dunning_schedule_to_canceled(subscription):
    subscription_payment_method_save(subscription=subscription, gateway="sandbox", payment_method="pm_sandbox_decline")
    start = utc(2026, 2, 28, 2)
    run_billing_cycle(now=start)
    invoice = Invoice.objects.get(subscription=subscription)
    assert invoice.status == "open" and invoice.attempt_count == 1
    for days in (1, 3, 5):
        run_billing_cycle(now=start + timedelta(days=days, minutes=1))
    invoice.refresh_from_db()
    subscription.refresh_from_db()
    assert invoice.attempt_count == 4
    assert subscription.status == "past_due"
    run_billing_cycle(now=start + timedelta(days=5 + 7, minutes=2))
    subscription.refresh_from_db()
    invoice.refresh_from_db()
    assert subscription.status == "canceled"
    assert invoice.status == "uncollectible"
    assert not Subscription.objects.filter(pk=subscription.pk, status="active").exists()


def test_the_command_runs_the_cycle_as_of_now_and_reports(subscription):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("run_billing_cycle", "--now", "2026-02-28T01:30:00Z", "--no-progress", stdout=out, stderr=StringIO())

    assert "periods closed: 1" in out.getvalue()
    assert "invoices finalized: 1" in out.getvalue()
    assert Invoice.objects.get(subscription=subscription).status == "paid"


def test_the_command_refuses_a_malformed_time():
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="not an ISO date-time"):
        call_command("run_billing_cycle", "--now", "yesterday")
