"""Payment emails: a failed payment, a link to pay (sent by tasks, once each)."""

from __future__ import annotations

from accounts.emails import site_link
from billing_project.money import format_money
from invoices.emails import email_send_once, invoice_link

from .models import Payment


def _payment_email(payment, subject: str, name: str, kind: str) -> None:
    context = {
        "payment": payment,
        "invoice": payment.invoice,
        "amount": format_money(payment.amount_cents, payment.currency),
        "invoice_url": invoice_link(payment.invoice),
        "payment_url": site_link("/account/payment"),
    }
    email_send_once(subject, name, context, payment.organization, key=f"{kind}:{payment.pk}")


def _payment(payment_id: str):
    return Payment.objects.select_related("invoice", "organization").filter(pk=payment_id).first()


def payment_failed_email(*, payment_id: str) -> None:
    payment = _payment(payment_id)
    if payment is not None:
        _payment_email(
            payment,
            f"Payment failed for invoice {payment.invoice.number}",
            "payment_failed",
            "payment_failed",
        )


def payment_link_email(*, payment_id: str) -> None:
    """A renewal or dunning attempt through a gateway that keeps no card: the link to pay
    (the gateway's hosted page)."""
    payment = _payment(payment_id)
    if payment is None or payment.status != "pending" or payment.invoice.status != "open" or not payment.checkout_url:
        return
    _payment_email(payment, f"Pay invoice {payment.invoice.number}", "payment_link", "payment_link")
