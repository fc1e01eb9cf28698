"""The site's answer to a refused form (CSRF): a page in the site, not Django's bare one."""

from django.shortcuts import render


def csrf_failure(request, reason: str = ""):
    return render(request, "403_csrf.html", status=403)
