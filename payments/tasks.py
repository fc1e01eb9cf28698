from celery import shared_task

from billing_project.errors import DomainError


@shared_task(ignore_result=True, acks_late=True)
def expire_payment_links(payment_ids: list) -> None:
    """Close superseded hosted pages at their gateways (best effort)."""
    import logging

    from .gateways import get_gateway
    from .models import Payment

    for payment in Payment.objects.filter(pk__in=payment_ids):
        try:
            get_gateway(payment.gateway).expire_link(payment=payment)
        except DomainError:  # the gateway down or not configured: the page expires on its own
            logging.getLogger(__name__).warning("Could not expire %s link %s", payment.gateway, payment.reference)


# The payment emails' tasks keep the names they were queued under when invoices sent them.
@shared_task(ignore_result=True, name="invoices.tasks.send_payment_failed_email")
def send_payment_failed_email(payment_id: str) -> None:
    from .emails import payment_failed_email

    payment_failed_email(payment_id=payment_id)


@shared_task(ignore_result=True, name="invoices.tasks.send_payment_link_email")
def send_payment_link_email(payment_id: str) -> None:
    from .emails import payment_link_email

    payment_link_email(payment_id=payment_id)
