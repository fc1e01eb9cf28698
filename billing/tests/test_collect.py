"""billing.services.invoice_collect: charging an open invoice to the saved payment method
off-session (renewals, dunning, proration invoices); and an outcome the sandbox answers at
once, a charge's or a refund's (billing.services.payment_refund), applied by the use case
without an inbound event."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from billing.services import invoice_collect, payment_refund
from invoices.services import invoice_for_first_period
from payments.models import Payment
from payments.tests.support import PRO_PRICE_CENTS, post_webhook, signed_event, subscribe, success_event_for
from webhooks.models import InboundEvent

pytestmark = pytest.mark.django_db


def open_invoice_of(org, plan, payment_method: str):
    return invoice_for_first_period(subscription=subscribe(org, plan, payment_method=payment_method))


def test_collect_with_a_good_card_pays_the_invoice(org, pro):
    invoice = open_invoice_of(org, pro, "pm_sandbox_ok")

    payment = invoice_collect(invoice=invoice)

    assert (payment.kind, payment.status, payment.attempt) == ("off_session", "succeeded", 1)
    assert (payment.amount_cents, payment.payment_method) == (PRO_PRICE_CENTS, "pm_sandbox_ok")
    assert payment.reference.startswith("sbx_pi_")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid_cents, invoice.next_payment_attempt) == ("paid", PRO_PRICE_CENTS, None)


def test_collect_with_a_declining_card_records_a_failed_payment(org, pro):
    invoice = open_invoice_of(org, pro, "pm_sandbox_decline")

    payment = invoice_collect(invoice=invoice)

    assert payment.status == "failed"
    assert payment.failure_reason.startswith("card_declined")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.attempt_count, invoice.amount_paid_cents) == ("open", 1, 0)


def test_a_declined_charge_schedules_the_next_attempt_per_the_dunning_days(settings, org, pro):
    settings.DUNNING_RETRY_DAYS = [2, 4]
    invoice = open_invoice_of(org, pro, "pm_sandbox_decline")

    invoice_collect(invoice=invoice, now=invoice.finalized_at)
    invoice.refresh_from_db()
    assert invoice.next_payment_attempt == invoice.finalized_at + timedelta(days=2)

    invoice_collect(invoice=invoice, now=invoice.next_payment_attempt)
    invoice.refresh_from_db()
    assert (invoice.attempt_count, invoice.next_payment_attempt) == (2, invoice.finalized_at + timedelta(days=4))

    invoice_collect(invoice=invoice, now=invoice.next_payment_attempt)
    invoice.refresh_from_db()
    assert (invoice.attempt_count, invoice.next_payment_attempt) == (3, None)  # no more retries
    assert list(Payment.objects.filter(invoice=invoice).order_by("attempt").values_list("attempt", "status")) == [
        (1, "failed"),
        (2, "failed"),
        (3, "failed"),
    ]


def test_a_declined_charge_emails_the_billing_contact(org, pro, django_capture_on_commit_callbacks):
    invoice = open_invoice_of(org, pro, "pm_sandbox_decline")

    with django_capture_on_commit_callbacks(execute=True):
        invoice_collect(invoice=invoice)

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject == f"Payment failed for invoice {invoice.number}"
    assert message.to == [org.billing_email]
    assert "$29.99" in message.body


def test_a_successful_charge_sends_no_payment_failed_email(org, pro, django_capture_on_commit_callbacks):
    invoice = open_invoice_of(org, pro, "pm_sandbox_ok")

    with django_capture_on_commit_callbacks(execute=True):
        invoice_collect(invoice=invoice)

    assert not [message for message in mail.outbox if message.subject.startswith("Payment failed")]


def test_collecting_twice_for_one_attempt_charges_once(org, pro):
    invoice = open_invoice_of(org, pro, "pm_sandbox_decline")
    now = timezone.now()

    first = invoice_collect(invoice=invoice, now=now)
    second = invoice_collect(invoice=invoice, now=now)  # a retried task, a second worker

    assert first is not None and second is None
    assert Payment.objects.filter(invoice=invoice).count() == 1
    invoice.refresh_from_db()
    assert invoice.attempt_count == 1


def test_collecting_before_the_next_attempt_is_due_charges_nothing(org, pro):
    invoice = open_invoice_of(org, pro, "pm_sandbox_decline")
    invoice_collect(invoice=invoice, now=invoice.finalized_at)
    invoice.refresh_from_db()

    assert invoice_collect(invoice=invoice, now=invoice.next_payment_attempt - timedelta(seconds=1)) is None

    assert Payment.objects.filter(invoice=invoice).count() == 1


def test_collecting_when_the_retries_are_exhausted_charges_nothing(settings, org, pro):
    settings.DUNNING_RETRY_DAYS = []
    invoice = open_invoice_of(org, pro, "pm_sandbox_decline")
    invoice_collect(invoice=invoice)

    assert invoice_collect(invoice=invoice, now=timezone.now() + timedelta(days=30)) is None

    assert Payment.objects.filter(invoice=invoice).count() == 1


def test_collecting_a_paid_invoice_charges_nothing(org, pro):
    invoice = open_invoice_of(org, pro, "pm_sandbox_ok")
    invoice_collect(invoice=invoice)

    assert invoice_collect(invoice=invoice) is None

    assert Payment.objects.filter(invoice=invoice).count() == 1


def test_collecting_without_a_saved_method_charges_nothing_but_counts_the_attempt(org, pro):
    invoice = open_invoice_of(org, pro, "")

    assert invoice_collect(invoice=invoice) is None

    assert not Payment.objects.filter(invoice=invoice).exists()
    invoice.refresh_from_db()
    assert (invoice.status, invoice.attempt_count) == ("open", 1)


def test_the_same_attempt_cannot_be_recorded_twice(org, pro):
    """The database backs the rule up: one off-session charge per invoice and attempt."""
    from django.db import IntegrityError, transaction

    invoice = open_invoice_of(org, pro, "pm_sandbox_decline")
    payment = invoice_collect(invoice=invoice)

    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.create(
            organization=org,
            invoice=invoice,
            gateway="sandbox",
            kind="off_session",
            reference="sbx_pi_duplicate",
            amount_cents=payment.amount_cents,
            currency="USD",
            attempt=payment.attempt,
        )


# --- the outcome the sandbox answers at once ------------------------------------------------


def test_a_charge_answered_at_once_is_applied_without_storing_an_inbound_event(org, pro):
    invoice = open_invoice_of(org, pro, "pm_sandbox_ok")

    invoice_collect(invoice=invoice)

    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert not InboundEvent.objects.exists()  # the use case applied it; no webhook came in


def test_a_sandbox_refund_is_settled_by_the_use_case_without_an_inbound_event(org, pro):
    payment = invoice_collect(invoice=invoice_for_first_period(subscription=subscribe(org, pro)))

    refund = payment_refund(payment=payment, amount_cents=500, reason="goodwill", is_overpayment=True)

    assert refund.reference.startswith("sbx_re_")
    assert refund.status == "succeeded"
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded_cents) == ("partially_refunded", 500)
    assert not InboundEvent.objects.exists()


def test_a_later_success_webhook_for_a_charge_already_applied_changes_nothing(org, pro):
    invoice = open_invoice_of(org, pro, "pm_sandbox_ok")
    payment = invoice_collect(invoice=invoice)
    invoice.refresh_from_db()
    before = (invoice.status, invoice.amount_paid_cents, invoice.paid_at, payment.succeeded_at)

    assert post_webhook(*success_event_for(payment)).status_code == 200

    invoice.refresh_from_db()
    payment.refresh_from_db()
    assert (invoice.status, invoice.amount_paid_cents, invoice.paid_at, payment.succeeded_at) == before
    assert InboundEvent.objects.get().outcome == "ignored"


def test_a_later_failure_webhook_for_a_declined_charge_changes_nothing(org, pro, django_capture_on_commit_callbacks):
    invoice = open_invoice_of(org, pro, "pm_sandbox_decline")
    with django_capture_on_commit_callbacks(execute=True):
        payment = invoice_collect(invoice=invoice)

        response = post_webhook(
            *signed_event("payment.failed", payment_reference=payment.reference, failure_reason="card_declined: again")
        )

    assert response.status_code == 200
    payment.refresh_from_db()
    assert (payment.status, payment.failure_reason) == ("failed", "card_declined: The card was declined.")
    assert InboundEvent.objects.get().outcome == "ignored"
    assert len(mail.outbox) == 1  # one payment-failed email
