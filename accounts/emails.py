from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from .models import User


def password_reset_email_send(*, email: str) -> None:
    """Send a reset link to the active account with this address, if there is one."""
    from .services import password_reset_token_make

    user = User.objects.filter(email=email, is_active=True).first()
    if user is None:
        return
    token = password_reset_token_make(user)
    context = {
        "user": user,
        "reset_url": settings.PASSWORD_RESET_URL.format(token=token),
        "token": token,
        "valid_minutes": settings.PASSWORD_RESET_TIMEOUT // 60,
    }
    send_mail(
        subject="Reset your password",
        message=render_to_string("emails/password_reset.txt", context),
        from_email=None,
        recipient_list=[user.email],
    )
