from celery import shared_task


@shared_task(ignore_result=True)
def send_password_reset_email(email: str) -> None:
    from .emails import password_reset_email_send

    password_reset_email_send(email=email)
