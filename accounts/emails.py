"""Account emails (the password reset), and how every email of the product is made: a
plain-text part from `emails/<name>.txt` and an HTML part from `emails/<name>.html`
(both from the same context; the HTML extends `emails/_layout.html`)."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from .models import User


def site_link(path: str) -> str:
    """An absolute link to a page of the customer site (`path` starts with a slash)."""
    return settings.SITE_URL + path


def email_build(*, subject: str, name: str, context: dict, to: list[str]) -> EmailMultiAlternatives:
    """The email `name` to `to`. The .txt templates turn autoescaping off (plain text has no
    entities); the .html ones keep it on, so what a customer typed (an organization's name)
    is shown, never interpreted."""
    context = {**context, "subject": subject, "seller": settings.SELLER, "site_url": settings.SITE_URL}
    message = EmailMultiAlternatives(
        subject=subject, body=render_to_string(f"emails/{name}.txt", context), from_email=None, to=to
    )
    message.attach_alternative(render_to_string(f"emails/{name}.html", context), "text/html")
    return message


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
    email_build(subject="Reset your password", name="password_reset", context=context, to=[user.email]).send()
