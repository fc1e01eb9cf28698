"""Who is looking at an account page, and for which organization.

A signed-in person acts on one organization at a time: the one picked with the switcher
(kept in the session), else their personal organization. It is resolved the way the API
resolves X-Current-Org (organizations.context.membership_for): an organization they left
is never shown, and roles are the API's (organizations.models.BILLING_ROLES and
MANAGER_ROLES)."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render
from django.utils import timezone

from billing_project.errors import NotFound
from organizations.context import membership_for
from organizations.models import BILLING_ROLES, MANAGER_ROLES, Membership
from organizations.selectors import organizations_for_user

SESSION_ORG = "web_current_org"

__all__ = ["BILLING_ROLES", "MANAGER_ROLES", "SESSION_ORG", "account_page", "current_membership", "refuse"]


def current_membership(request) -> Membership:
    org_id = request.session.get(SESSION_ORG)
    if org_id:
        try:
            return membership_for(user=request.user, org_id=org_id)
        except NotFound:
            request.session.pop(SESSION_ORG, None)
    return membership_for(user=request.user)


def refuse(request, message: str, *, status: int = 403):
    """The page a refused action answers with (a 403 with the reason, inside the site)."""
    return render(request, "web/refused.html", {"message": message}, status=status)


def account_page(
    view: Callable | None = None, *, view_roles: frozenset | None = None, post_roles: frozenset | None = None
):
    """An /account/ page: signed in (else to /login?next=), with `request.membership` and
    `request.organization` set. `view_roles` limits who may look and `post_roles` who may
    POST, as the API's endpoints behind the page do (others get a 403 that says why):
    invoices, credits and payment are BILLING_ROLES, keys and invitations MANAGER_ROLES;
    the plan, usage and the member list are every member's."""

    def decorate(func):
        @functools.wraps(func)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            request.membership = current_membership(request)
            request.organization = request.membership.organization
            if view_roles is not None and request.membership.role not in view_roles:
                return refuse(
                    request, f"Your role ({request.membership.role}) cannot see this page. Ask an owner or admin."
                )
            if request.method == "POST" and post_roles is not None and request.membership.role not in post_roles:
                return refuse(request, f"Your role ({request.membership.role}) does not allow this action.")
            return func(request, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


def site_context(request) -> dict:
    """Context processor: the viewer's role and the organization switcher (people in several
    organizations)."""
    common = {"TIME_ZONE_NAME": timezone.get_current_timezone_name(), "site_name": settings.SELLER["name"]}
    membership = getattr(request, "membership", None)
    if membership is None:
        return common
    organizations = list(organizations_for_user(user=request.user))
    return {
        **common,
        "current_membership": membership,
        "can_bill": membership.role in BILLING_ROLES,
        "can_manage": membership.role in MANAGER_ROLES,
        "switch_organizations": organizations if len(organizations) > 1 else [],
    }
