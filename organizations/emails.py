from django.conf import settings

from accounts.emails import email_build

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
    email_build(
        subject=f"You are invited to join {invitation.organization.name}",
        name="invitation",
        context=context,
        to=[invitation.email],
    ).send()
