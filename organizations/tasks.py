from celery import shared_task


@shared_task(ignore_result=True)
def send_invitation_email(invitation_id: str, token: str) -> None:
    from .emails import invitation_email_send

    invitation_email_send(invitation_id=invitation_id, token=token)
