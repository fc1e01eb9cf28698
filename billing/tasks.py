"""Collection tasks. They keep the names they were queued and scheduled under when
payments held them (`payments.tasks.*`)."""

from celery import shared_task

from invoices.models import Invoice


def _collect(invoice_id: str, attempt: int, now: str | None) -> None:
    from django.utils.dateparse import parse_datetime

    from .services import invoice_collect_or_retry_later

    invoice = Invoice.objects.filter(pk=invoice_id).first()
    if invoice is not None:
        invoice_collect_or_retry_later(invoice=invoice, attempt=attempt, now=parse_datetime(now) if now else None)


@shared_task(ignore_result=True, acks_late=True, name="payments.tasks.collect_invoice")
def collect_invoice(invoice_id: str, attempt: int, now: str | None = None) -> None:
    """Make collection attempt `attempt` of an invoice (a repeat of a done attempt does
    nothing; a failed one is retried later). `now` (ISO time) is the cycle's clock, for
    `run_billing_cycle --now`."""
    _collect(invoice_id, attempt, now)


@shared_task(ignore_result=True, acks_late=True, name="payments.tasks.collect_invoices")
def collect_invoices(due: list, now: str | None = None) -> None:
    """`collect_invoice` for a chunk of (invoice id, attempt) pairs, one message from the
    cycle; one invoice failing does not hold up the others."""
    for invoice_id, attempt in due:
        _collect(invoice_id, attempt, now)


# The beat schedule (invoices/migrations/0003_beat_schedule.py) names it so.
@shared_task(ignore_result=True, name="invoices.tasks.run_billing_cycle")
def run_billing_cycle() -> None:
    """The periodic billing cycle (see billing.cycle)."""
    from .cycle import run_billing_cycle as run

    run()
