import logging

from celery import shared_task

logger = logging.getLogger(__name__)


def _collect(invoice_id: str, attempt: int, now: str | None) -> None:
    """One collection attempt. When it fails (the gateway down, a pay link that could not
    be made), its writes are rolled back and the attempt is not used up: the invoice is due
    again COLLECTION_RETRY_MINUTES later, for the billing cycle's retry step."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone
    from django.utils.dateparse import parse_datetime

    from invoices.models import Invoice, InvoiceStatus

    from .services import invoice_collect

    moment = parse_datetime(now) if now else None
    invoice = Invoice.objects.filter(pk=invoice_id).first()
    if invoice is None:
        return
    try:
        invoice_collect(invoice=invoice, attempt=attempt, now=moment)
    except Exception:
        logger.exception("Collecting invoice %s (attempt %s) failed; it is retried later", invoice_id, attempt)
        retry_at = (moment or timezone.now()) + timedelta(minutes=settings.COLLECTION_RETRY_MINUTES)
        Invoice.objects.filter(pk=invoice_id, status=InvoiceStatus.OPEN, attempt_count=attempt - 1).update(
            next_payment_attempt=retry_at
        )


@shared_task(ignore_result=True, acks_late=True)
def collect_invoice(invoice_id: str, attempt: int, now: str | None = None) -> None:
    """Make collection attempt `attempt` of an invoice (a repeat of a done attempt does
    nothing). `now` (ISO time) is the cycle's clock, for `run_billing_cycle --now`."""
    _collect(invoice_id, attempt, now)


@shared_task(ignore_result=True, acks_late=True)
def collect_invoices(due: list, now: str | None = None) -> None:
    """`collect_invoice` for a chunk of (invoice id, attempt) pairs, one message from the
    cycle; one invoice failing does not hold up the others."""
    for invoice_id, attempt in due:
        _collect(invoice_id, attempt, now)
