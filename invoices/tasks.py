from celery import shared_task


@shared_task(ignore_result=True)
def render_invoice_pdf(invoice_id: str) -> None:
    """Render and store an invoice's PDF (again, when its status changed). Safe to repeat."""
    from .pdf import invoice_pdf_store

    invoice_pdf_store(invoice_id=invoice_id)
