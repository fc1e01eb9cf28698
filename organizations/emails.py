from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from .models import Invitation


def invitation_email_send(*, invitation_id: str, token: str) -> None:
    invitation = Invitation.objects.select_related("organization", "invited_by").filter(pk=invitation_id).first()
    if invitation is None or invitation.status != "pending":
        return
    context = {
        "invitation": invitation,
        "organization": invitation.organization,
        "inviter": invitation.invited_by,
        "accept_url": settings.INVITATION_URL.format(token=token),
        "token": token,
    }
    send_mail(
        subject=f"You are invited to join {invitation.organization.name}",
        message=render_to_string("emails/invitation.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )
