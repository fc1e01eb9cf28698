"""Billing emails: invoice issued, payment reminder, subscription canceled (sent by tasks);
payments.emails sends the payment ones through `email_send_once`."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string

from billing_project.money import format_money
from organizations.models import Membership, Role
from subscriptions.models import Subscription


def recipients_of(organization) -> list[str]:
    """The billing email, else the owners."""
    if organization.billing_email:
        return [organization.billing_email]
    return list(
        Membership.objects.filter(organization=organization, role=Role.OWNER, user__is_active=True).values_list(
            "user__email", flat=True
        )
    )


def email_send_once(subject: str, template: str, context: dict, organization, *, key: str) -> None:
    """Send once per `key`. The record and the sending share a transaction: a failed send
    leaves no record (the task's retry sends it), and a concurrent second run waits on the
    unique key and then skips."""
    from .models import SentEmail

    to = recipients_of(organization)
    if not to:
        return
    message = render_to_string(template, context)
    with transaction.atomic():
        try:
            with transaction.atomic():
                SentEmail.objects.create(key=key)
        except IntegrityError:
            return  # sent already
        send_mail(subject=subject, message=message, from_email=None, recipient_list=to)


def invoice_issued_email(*, invoice_id: str) -> None:
    from .models import Invoice

    invoice = Invoice.objects.select_related("organization").filter(pk=invoice_id).first()
    if invoice is None or not invoice.number:
        return
    context = {
        "invoice": invoice,
        "total": format_money(invoice.total_cents, invoice.currency),
        "amount_due": format_money(invoice.amount_due_cents, invoice.currency),
        "site_url": settings.SITE_URL,
    }
    email_send_once(
        f"Invoice {invoice.number}",
        "emails/invoice_issued.txt",
        context,
        invoice.organization,
        key=f"invoice_issued:{invoice.pk}",
    )


def subscription_canceled_email(*, subscription_id: str) -> None:
    subscription = Subscription.objects.select_related("organization", "plan").filter(pk=subscription_id).first()
    if subscription is None:
        return
    context = {"subscription": subscription, "site_url": settings.SITE_URL}
    email_send_once(
        f"Your {subscription.plan.name} subscription has ended",
        "emails/subscription_canceled.txt",
        context,
        subscription.organization,
        key=f"subscription_canceled:{subscription.pk}",
    )


def payment_reminder_email(*, invoice_id: str) -> None:
    """An open invoice with no payment method to charge: ask the customer to pay it."""
    from .models import Invoice, InvoiceStatus

    invoice = Invoice.objects.select_related("organization").filter(pk=invoice_id, status=InvoiceStatus.OPEN).first()
    if invoice is None:
        return
    context = {
        "invoice": invoice,
        "amount_due": format_money(invoice.amount_due_cents, invoice.currency),
        "site_url": settings.SITE_URL,
    }
    email_send_once(
        f"Payment due for invoice {invoice.number}",
        "emails/payment_reminder.txt",
        context,
        invoice.organization,
        key=f"payment_reminder:{invoice.pk}:{invoice.attempt_count}",
    )
