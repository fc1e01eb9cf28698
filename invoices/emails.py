"""Billing emails: invoice issued, payment reminder, subscription canceled (sent by tasks);
payments.emails sends the payment ones through `email_send_once`."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from accounts.emails import email_build, site_link
from billing_project.money import format_money
from organizations.models import Membership, Role
from subscriptions.models import Status as SubscriptionStatus
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


def invoice_link(invoice) -> str:
    """The invoice's page on the customer site (lines, PDF, Pay for an open one)."""
    return site_link(f"/account/invoices/{invoice.pk}")


def email_send_once(subject: str, name: str, context: dict, organization, *, key: str) -> None:
    """Send the email `name` (emails/<name>.txt and .html) once per `key`. The record and the
    sending share a transaction: a failed send leaves no record (the task's retry sends it),
    and a concurrent second run waits on the unique key and then skips."""
    from .models import SentEmail

    to = recipients_of(organization)
    if not to:
        return
    message = email_build(subject=subject, name=name, context=context, to=to)
    with transaction.atomic():
        try:
            with transaction.atomic():
                SentEmail.objects.create(key=key)
        except IntegrityError:
            return  # sent already
        message.send()


def invoice_issued_email(*, invoice_id: str) -> None:
    """The issued invoice as it stands when the email goes out: a paid one (paid at once,
    or covered by prepaid credit) says so and asks for nothing; an open one says what is
    due by when, with the link to pay it. A voided one is not announced. Sent once."""
    from .models import Invoice, InvoiceStatus

    invoice = Invoice.objects.select_related("organization", "subscription").filter(pk=invoice_id).first()
    if invoice is None or not invoice.number or invoice.status == InvoiceStatus.VOID:
        return
    subscription = invoice.subscription
    if (
        invoice.status == InvoiceStatus.OPEN
        and not invoice.attempt_count
        and subscription
        and (subscription.payment_method or subscription.status == SubscriptionStatus.INCOMPLETE)
    ):
        # A renewal about to be charged to the saved card, or a checkout's first invoice on
        # the gateway's page: the email waits for the payment. Paid, it goes out then and
        # says so (billing.services._payment_succeeded); declined, the payment-failed email
        # is the notice, with the amount due and the link to pay.
        return
    currency = invoice.currency
    is_paid = invoice.status == InvoiceStatus.PAID
    context = {
        "invoice": invoice,
        "is_paid": is_paid,
        "is_due": not is_paid and invoice.amount_due_cents > 0,
        "total": format_money(invoice.total_cents, currency),
        "credit_applied": format_money(max(invoice.credit_applied_cents, 0), currency),
        "amount_paid": format_money(invoice.amount_paid_cents, currency),
        "amount_due": format_money(invoice.amount_due_cents, currency),
        "invoice_url": invoice_link(invoice),
    }
    email_send_once(
        f"Invoice {invoice.number}: paid" if is_paid else f"Invoice {invoice.number}",
        "invoice_issued",
        context,
        invoice.organization,
        key=f"invoice_issued:{invoice.pk}",
    )


def subscription_canceled_email(*, subscription_id: str) -> None:
    subscription = Subscription.objects.select_related("organization", "plan").filter(pk=subscription_id).first()
    if subscription is None:
        return
    context = {"subscription": subscription, "plans_url": site_link("/account/plans")}
    email_send_once(
        f"Your {subscription.plan.name} subscription has ended",
        "subscription_canceled",
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
        "invoice_url": invoice_link(invoice),
        "payment_url": site_link("/account/payment"),
    }
    email_send_once(
        f"Payment due for invoice {invoice.number}",
        "payment_reminder",
        context,
        invoice.organization,
        key=f"payment_reminder:{invoice.pk}:{invoice.attempt_count}",
    )
