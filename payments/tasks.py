from celery import shared_task


def _collect(invoice_id: str, attempt: int, now: str | None) -> None:
    from django.utils.dateparse import parse_datetime

    from invoices.models import Invoice

    from .services import invoice_collect_or_retry_later

    invoice = Invoice.objects.filter(pk=invoice_id).first()
    if invoice is not None:
        invoice_collect_or_retry_later(invoice=invoice, attempt=attempt, now=parse_datetime(now) if now else None)


@shared_task(ignore_result=True, acks_late=True)
def expire_payment_links(payment_ids: list) -> None:
    """Close superseded hosted pages at their gateways (best effort)."""
    import logging

    from billing_project.errors import DomainError

    from .gateways import get_gateway
    from .models import Payment

    for payment in Payment.objects.filter(pk__in=payment_ids):
        try:
            get_gateway(payment.gateway).expire_link(payment=payment)
        except DomainError:  # the gateway down or not configured: the page expires on its own
            logging.getLogger(__name__).warning("Could not expire %s link %s", payment.gateway, payment.reference)


@shared_task(ignore_result=True, acks_late=True)
def collect_invoice(invoice_id: str, attempt: int, now: str | None = None) -> None:
    """Make collection attempt `attempt` of an invoice (a repeat of a done attempt does
    nothing; a failed one is retried later). `now` (ISO time) is the cycle's clock, for
    `run_billing_cycle --now`."""
    _collect(invoice_id, attempt, now)


@shared_task(ignore_result=True, acks_late=True)
def collect_invoices(due: list, now: str | None = None) -> None:
    """`collect_invoice` for a chunk of (invoice id, attempt) pairs, one message from the
    cycle; one invoice failing does not hold up the others."""
    for invoice_id, attempt in due:
        _collect(invoice_id, attempt, now)
