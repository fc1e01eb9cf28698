from celery import shared_task


@shared_task(ignore_result=True)
def render_invoice_pdf(invoice_id: str) -> None:
    """Render and store an invoice's PDF (again, when its status changed). Safe to repeat."""
    from .pdf import invoice_pdf_store

    invoice_pdf_store(invoice_id=invoice_id)


@shared_task(ignore_result=True)
def render_credit_note_pdf(credit_note_id: str) -> None:
    """Render and store a credit note's PDF. Safe to repeat."""
    from .pdf import credit_note_pdf_store

    credit_note_pdf_store(credit_note_id=credit_note_id)


@shared_task(ignore_result=True)
def render_invoice_pdfs(invoice_ids: list[str]) -> None:
    """The PDFs of a batch of invoices (one message for the billing cycle's thousands)."""
    from .pdf import invoice_pdf_store

    for invoice_id in invoice_ids:
        invoice_pdf_store(invoice_id=invoice_id)


@shared_task(ignore_result=True)
def send_invoice_issued_emails(invoice_ids: list[str]) -> None:
    from .emails import invoice_issued_email

    for invoice_id in invoice_ids:
        invoice_issued_email(invoice_id=invoice_id)


@shared_task(ignore_result=True)
def send_invoice_issued_email(invoice_id: str) -> None:
    from .emails import invoice_issued_email

    invoice_issued_email(invoice_id=invoice_id)


@shared_task(ignore_result=True)
def send_subscription_canceled_email(subscription_id: str) -> None:
    from .emails import subscription_canceled_email

    subscription_canceled_email(subscription_id=subscription_id)


@shared_task(ignore_result=True)
def send_payment_reminder_email(invoice_id: str) -> None:
    from .emails import payment_reminder_email

    payment_reminder_email(invoice_id=invoice_id)
