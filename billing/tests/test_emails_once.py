"""Billing emails go out once per subject matter, however often their task runs (a Celery
retry, a redelivered message); a send that failed is not recorded, so its retry sends it."""

from smtplib import SMTPServerDisconnected

import pytest

from billing.services import invoice_collect
from invoices.builder import period_invoice
from invoices.models import SentEmail
from invoices.services import invoice_create
from invoices.tasks import (
    send_invoice_issued_email,
    send_payment_reminder_email,
    send_subscription_canceled_email,
)
from payments.tasks import send_payment_failed_email
from payments.tests.support import subscribe

pytestmark = pytest.mark.django_db


@pytest.fixture
def declined(org, pro):
    org.billing_email = "billing@example.com"
    org.save()
    subscription = subscribe(org, pro, payment_method="pm_sandbox_decline")
    invoice = invoice_create(draft=period_invoice(subscription))
    payment = invoice_collect(invoice=invoice)
    return subscription, invoice, payment


def test_each_billing_email_is_sent_once_however_often_its_task_runs(declined, mailoutbox):
    subscription, invoice, payment = declined
    tasks = [
        (send_invoice_issued_email, invoice.pk),
        (send_payment_failed_email, payment.pk),
        (send_payment_reminder_email, invoice.pk),
        (send_subscription_canceled_email, subscription.pk),
    ]

    for task, subject_id in tasks * 3:
        task(str(subject_id))

    subjects = sorted(mail.subject for mail in mailoutbox)
    assert len(subjects) == 4, subjects
    assert SentEmail.objects.count() == 4
    assert all(mail.to == ["billing@example.com"] for mail in mailoutbox)


def test_a_reminder_is_sent_again_for_the_next_attempt(declined, mailoutbox):
    _, invoice, _ = declined

    send_payment_reminder_email(str(invoice.pk))
    invoice.refresh_from_db()
    invoice.attempt_count += 1
    invoice.save(update_fields=["attempt_count"])
    send_payment_reminder_email(str(invoice.pk))
    send_payment_reminder_email(str(invoice.pk))

    assert len(mailoutbox) == 2


def test_an_email_whose_sending_failed_is_sent_by_the_retry(declined, mailoutbox, monkeypatch):
    from django.core import mail

    _, invoice, _ = declined
    real_send = mail.backends.locmem.EmailBackend.send_messages
    failures = iter([True])

    def send_messages(self, messages):
        if next(failures, False):
            raise SMTPServerDisconnected("the mail server went away")
        return real_send(self, messages)

    monkeypatch.setattr(mail.backends.locmem.EmailBackend, "send_messages", send_messages)

    with pytest.raises(SMTPServerDisconnected):
        send_invoice_issued_email(str(invoice.pk))
    assert not SentEmail.objects.exists()
    send_invoice_issued_email(str(invoice.pk))
    send_invoice_issued_email(str(invoice.pk))

    assert len(mailoutbox) == 1
