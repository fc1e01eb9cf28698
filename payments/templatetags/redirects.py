"""`{{ url|safe_redirect }}`: a link to a return, success or cancel URL only when it passes
the redirect allow-list (billing_project.redirects); '' otherwise, so a page drops it."""

from django import template

from billing_project.redirects import safe_redirect_url

register = template.Library()


@register.filter
def safe_redirect(url: str | None) -> str:
    return safe_redirect_url(url)
