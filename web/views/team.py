"""API keys (/account/keys) and the team (/account/team): the same services and rules
as /api/v1/api-keys and /api/v1/orgs/{id}/... (apikeys.services, organizations.services).

Keys are the owners' and admins' (MANAGER_ROLES), to see and to change, as the API has
it. A new or rotated secret is shown once: the POST keeps it in the session, the page it
redirects to takes it out and shows it; a reload no longer has it.

Every member sees the members; owners and admins change roles, remove members and
invite, with the services' rules (only an owner grants or removes the owner role, the
last owner stays). Anyone may leave an organization, as DELETE /orgs/{id}/members/{self}
allows, and create a team organization (POST /orgs)."""

from __future__ import annotations

from datetime import datetime, time

from django import forms
from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from apikeys.models import APIKey, Mode, Scope
from apikeys.services import apikey_create, apikey_revoke, apikey_rotate, apikey_update
from billing_project.errors import DomainError, NotFound, ValidationFailed
from organizations.models import Membership, Role
from organizations.selectors import members_of, pending_invitations_of
from organizations.services import (
    invitation_create,
    invitation_revoke,
    membership_change_role,
    membership_remove,
    organization_create,
)
from plans.selectors import entitlement

from ..context import MANAGER_ROLES, SESSION_ORG, account_page, refuse
from ..forms import errors_onto
from ..once import once

SECRET_SESSION_KEY = "web_keys_secret"

# What each scope lets a key call (the service endpoints of API.md that require it).
SCOPE_MEANINGS = {
    Scope.USAGE_WRITE: "POST /api/v1/usage/report and /usage/batch-report: report usage events.",
    Scope.USAGE_READ: "GET /api/v1/usage/quota-check: ask whether work fits in the plan's quotas.",
    Scope.CREDITS_WRITE: "POST /api/v1/credits/spend: spend the organization's prepaid credits.",
}

MODE_LABELS = {
    Mode.LIVE: "Live: usage is counted against the plan's quotas and billed.",
    Mode.TEST: "Test: usage is validated and stored, never counted or billed.",
}

ROLE_MEANINGS = {
    Role.OWNER: "Everything, including granting and removing the owner role.",
    Role.ADMIN: "Billing, API keys, members and invitations (not owners).",
    Role.BILLING: "Plans, payment methods, invoices and credits.",
    Role.MEMBER: "Sees the plan, usage and members; changes nothing.",
}


# --- forms ------------------------------------------------------------------------------


class KeyForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100, help_text="To recognize the key, e.g. where it is used.")
    scopes = forms.MultipleChoiceField(
        label="Scopes", choices=Scope.choices, error_messages={"required": "Choose at least one scope."}
    )


class KeyCreateForm(KeyForm):
    mode = forms.ChoiceField(label="Mode", choices=Mode.choices, initial=Mode.LIVE)
    expires_at = forms.DateField(
        label="Expires on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The key stops working when this day begins (00:00 in your time zone). "
        "Leave it empty for a key that does not expire.",
    )

    def expiry(self) -> datetime | None:
        """The start of the chosen day in the viewer's time zone."""
        day = self.cleaned_data.get("expires_at")
        if day is None:
            return None
        return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


class InviteForm(forms.Form):
    email = forms.EmailField(label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(label="Role", choices=Role.choices, initial=Role.MEMBER)

    def __init__(self, *args, grantable: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        # Offer the roles this person may give; any role is accepted, the service decides.
        self.fields["role"].widget.choices = grantable


class OrganizationForm(forms.Form):
    name = forms.CharField(label="Organization name", max_length=200)


def grantable_roles(membership: Membership) -> list[tuple[str, str]]:
    """The roles `membership` may give (only an owner gives the owner role)."""
    if membership.role == Role.OWNER:
        return list(Role.choices)
    return [(value, label) for value, label in Role.choices if value != Role.OWNER]


# --- API keys ---------------------------------------------------------------------------


def _keys_of(organization):
    """Active and expired keys, as GET /api-keys lists them (revoked ones are gone)."""
    return APIKey.objects.filter(organization=organization, revoked_at__isnull=True)


def _key_of(request, key_id) -> APIKey | None:
    return _keys_of(request.organization).filter(pk=key_id).first()


def _scope_rows(form) -> list[dict]:
    chosen = set(form["scopes"].value() or [])
    return [
        {"value": value, "label": label, "meaning": SCOPE_MEANINGS.get(value, ""), "checked": value in chosen}
        for value, label in Scope.choices
    ]


def _keys_render(request, form: KeyCreateForm | None = None, *, status: int = 200):
    organization = request.organization
    form = form or KeyCreateForm()
    keys = list(_keys_of(organization).select_related("created_by"))
    limit = entitlement(organization_id=organization.pk, feature="api_keys")
    context = {
        "keys": keys,
        "form": form,
        "scope_rows": _scope_rows(form),
        "mode_choices": [(value, MODE_LABELS.get(value, label)) for value, label in Mode.choices],
        "chosen_mode": form["mode"].value() or Mode.LIVE,
        "limit": limit if isinstance(limit, int) and not isinstance(limit, bool) else None,
        "active_count": sum(1 for key in keys if key.is_active),
        "new_secret": request.session.pop(SECRET_SESSION_KEY, None) if request.method == "GET" else None,
    }
    return render(request, "web/keys/keys.html", context, status=status)


def _show_secret_once(request, *, key: APIKey, secret: str, action: str) -> None:
    request.session[SECRET_SESSION_KEY] = {
        "secret": secret,
        "name": key.name,
        "prefix": key.prefix,
        "mode": key.mode,
        "action": action,
    }


@never_cache
@require_http_methods(["GET", "POST"])
@account_page(view_roles=MANAGER_ROLES, post_roles=MANAGER_ROLES)
def keys_page(request):
    if request.method == "GET":
        return _keys_render(request)
    form = KeyCreateForm(request.POST)
    if not form.is_valid():
        return _keys_render(request, form, status=400)

    def create():
        try:
            key, secret = apikey_create(
                organization=request.organization,
                created_by=request.user,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                mode=form.cleaned_data["mode"],
                expires_at=form.expiry(),
            )
        except ValidationFailed as exc:
            errors_onto(form, exc)
            return _keys_render(request, form, status=exc.status_code)
        except DomainError as exc:  # the plan's key allowance (403)
            form.add_error(None, exc.message)
            return _keys_render(request, form, status=exc.status_code)
        _show_secret_once(request, key=key, secret=secret, action="created")
        return redirect("web-keys")

    return once(request, create)


@require_http_methods(["GET", "POST"])
@account_page(view_roles=MANAGER_ROLES, post_roles=MANAGER_ROLES)
def key_edit(request, key_id):
    """Rename or re-scope a key (PUT /api-keys/{id}); its secret stays."""
    key = _key_of(request, key_id)
    if key is None:
        return refuse(request, "API key not found.", status=404)
    if request.method == "GET":
        form = KeyForm(initial={"name": key.name, "scopes": key.scopes})
        return _key_edit_render(request, key, form, status=200)
    form = KeyForm(request.POST)
    if not form.is_valid():
        return _key_edit_render(request, key, form, status=400)

    def update():
        try:
            apikey_update(
                organization=request.organization,
                key_id=key.pk,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
            )
        except ValidationFailed as exc:
            errors_onto(form, exc)
            return _key_edit_render(request, key, form, status=exc.status_code)
        except DomainError as exc:  # revoked meanwhile (409)
            form.add_error(None, exc.message)
            return _key_edit_render(request, key, form, status=exc.status_code)
        messages.success(request, f"API key “{form.cleaned_data['name']}” saved.")
        return redirect("web-keys")

    return once(request, update)


def _key_edit_render(request, key, form, *, status: int):
    context = {"key": key, "form": form, "scope_rows": _scope_rows(form)}
    return render(request, "web/keys/edit.html", context, status=status)


def _key_confirm(request, key_id, *, action: str):
    """GET: what rotating or revoking does, with a Confirm button. POST: do it once (a
    double click gets the first answer, even though the key is revoked by then)."""
    if request.method == "GET":
        key = _key_of(request, key_id)
        if key is None:
            return refuse(request, "API key not found.", status=404)
        return render(request, "web/keys/confirm.html", {"key": key, "action": action})

    def perform():
        key = _key_of(request, key_id)
        if key is None:
            return refuse(request, "API key not found.", status=404)
        try:
            if action == "rotate":
                rotated, secret = apikey_rotate(organization=request.organization, key_id=key.pk)
            else:
                apikey_revoke(organization=request.organization, key_id=key.pk)
        except DomainError as exc:  # revoked meanwhile (409)
            context = {"key": key, "action": action, "error": exc.message}
            return render(request, "web/keys/confirm.html", context, status=exc.status_code)
        if action == "rotate":
            _show_secret_once(request, key=rotated, secret=secret, action="rotated")
        else:
            messages.success(request, f"API key “{key.name}” ({key.prefix}…) is revoked: it no longer works.")
        return redirect("web-keys")

    return once(request, perform)


@require_http_methods(["GET", "POST"])
@account_page(view_roles=MANAGER_ROLES, post_roles=MANAGER_ROLES)
def key_rotate(request, key_id):
    return _key_confirm(request, key_id, action="rotate")


@require_http_methods(["GET", "POST"])
@account_page(view_roles=MANAGER_ROLES, post_roles=MANAGER_ROLES)
def key_revoke(request, key_id):
    return _key_confirm(request, key_id, action="revoke")


# --- the team ---------------------------------------------------------------------------


def _member_rows(actor: Membership, members) -> list[dict]:
    """Each member with what `actor` may do to them (the services' rules, so the page
    offers only what would be accepted; the services check again)."""
    manages = actor.role in MANAGER_ROLES
    roles = grantable_roles(actor)
    rows = []
    for membership in members:
        is_self = membership.pk == actor.pk
        touchable = manages and (actor.role == Role.OWNER or membership.role != Role.OWNER)
        if is_self and actor.organization.is_personal:
            touchable = False  # the one owner of a personal organization stays it
        rows.append(
            {
                "membership": membership,
                "is_self": is_self,
                "roles": roles if touchable else [],
                "can_remove": touchable and not is_self,
            }
        )
    return rows


def _team_render(
    request,
    *,
    status: int = 200,
    error: str | None = None,
    invite_form: InviteForm | None = None,
    organization_form: OrganizationForm | None = None,
):
    actor = request.membership
    organization = request.organization
    manages = actor.role in MANAGER_ROLES
    members = _member_rows(actor, members_of(organization=organization))
    context = {
        "members": members,
        "has_actions": any(row["can_remove"] or (row["is_self"] and not organization.is_personal) for row in members),
        "role_meanings": [(label, ROLE_MEANINGS[value]) for value, label in Role.choices],
        "manages": manages,
        "is_personal": organization.is_personal,
        "error": error,
        "organization_form": organization_form or OrganizationForm(),
        "invitation_days": settings.INVITATION_TTL_DAYS,
    }
    if manages:
        context["invite_form"] = invite_form or InviteForm(grantable=grantable_roles(actor))
        context["invitations"] = list(pending_invitations_of(organization=organization).select_related("invited_by"))
    return render(request, "web/team/team.html", context, status=status)


def _refused_or_page(request, exc: DomainError):
    """A service's refusal on the team page: the page with the message, its status."""
    if isinstance(exc, NotFound):
        return refuse(request, exc.message, status=404)
    return _team_render(request, status=exc.status_code, error=exc.message)


@require_http_methods(["GET"])
@account_page
def team_page(request):
    return _team_render(request)


@require_POST
@account_page(post_roles=MANAGER_ROLES)
def team_invite(request):
    form = InviteForm(request.POST, grantable=grantable_roles(request.membership))
    if not form.is_valid():
        return _team_render(request, status=400, invite_form=form)

    def invite():
        try:
            invitation, _token = invitation_create(
                actor=request.membership, email=form.cleaned_data["email"], role=form.cleaned_data["role"]
            )
        except ValidationFailed as exc:
            errors_onto(form, exc)
            return _team_render(request, status=exc.status_code, invite_form=form)
        except DomainError as exc:  # already a member (409), owners only invite owners (403)
            form.add_error(None, exc.message)
            return _team_render(request, status=exc.status_code, invite_form=form)
        messages.success(
            request,
            f"Invitation emailed to {invitation.email} as {invitation.get_role_display().lower()}. "
            f"The link works for {settings.INVITATION_TTL_DAYS} days.",
        )
        return redirect("web-team")

    return once(request, invite)


@require_POST
@account_page(post_roles=MANAGER_ROLES)
def team_invitation_revoke(request, invitation_id):
    def revoke():
        try:
            invitation = invitation_revoke(actor=request.membership, invitation_id=invitation_id)
        except DomainError as exc:
            return _refused_or_page(request, exc)
        messages.success(request, f"The invitation to {invitation.email} is revoked: its link no longer works.")
        return redirect("web-team")

    return once(request, revoke)


@require_POST
@account_page(post_roles=MANAGER_ROLES)
def team_member_role(request, user_id):
    role = request.POST.get("role", "")
    if role not in Role.values:
        return _team_render(request, status=400, error="Choose one of the roles: owner, admin, billing or member.")

    def change():
        try:
            membership = membership_change_role(actor=request.membership, user_id=user_id, role=role)
        except DomainError as exc:  # admins and the owner role (403), the last owner (409), not a member (404)
            return _refused_or_page(request, exc)
        who = membership.user.name or membership.user.email
        messages.success(request, f"{who} is now {membership.get_role_display().lower()}.")
        return redirect("web-team")

    return once(request, change)


def _membership_in(organization, user_id) -> Membership | None:
    return members_of(organization=organization).filter(user_id=user_id).first()


@require_http_methods(["GET", "POST"])
@account_page(view_roles=MANAGER_ROLES, post_roles=MANAGER_ROLES)
def team_member_remove(request, user_id):
    """GET: confirm removing a member. POST: remove them once."""
    if request.method == "GET":
        target = _membership_in(request.organization, user_id)
        if target is None:
            return refuse(request, "That user is not a member of this organization.", status=404)
        if target.pk == request.membership.pk:
            return redirect("web-team-leave")
        return render(request, "web/team/remove.html", {"target": target})

    def remove():
        target = _membership_in(request.organization, user_id)
        if target is None:
            return refuse(request, "That user is not a member of this organization.", status=404)
        if target.pk == request.membership.pk:
            return redirect("web-team-leave")  # leaving has its own page
        try:
            membership_remove(actor=request.membership, user_id=target.user_id)
        except DomainError as exc:  # an admin and an owner (403), the last owner (409)
            if isinstance(exc, NotFound):
                return refuse(request, exc.message, status=404)
            context = {"target": target, "error": exc.message}
            return render(request, "web/team/remove.html", context, status=exc.status_code)
        messages.success(request, f"{target.user.name or target.user.email} is no longer a member.")
        return redirect("web-team")

    return once(request, remove)


@require_http_methods(["GET", "POST"])
@account_page
def team_leave(request):
    """Leave the current organization (anyone may, except its last owner)."""
    if request.method == "GET":
        return render(request, "web/team/leave.html", {})
    organization = request.organization

    def leave():
        try:
            membership_remove(actor=request.membership, user_id=request.user.pk)
        except DomainError as exc:  # the last owner (409)
            return render(request, "web/team/leave.html", {"error": exc.message}, status=exc.status_code)
        request.session.pop(SESSION_ORG, None)
        messages.success(request, f"You left {organization.name}.")
        return redirect("web-account")

    return once(request, leave)


@require_POST
@account_page
def team_organization_create(request):
    """POST /orgs for the site: a team organization owned by the viewer, then switch to it."""
    form = OrganizationForm(request.POST)
    if not form.is_valid():
        return _team_render(request, status=400, organization_form=form)

    def create():
        try:
            organization = organization_create(owner=request.user, name=form.cleaned_data["name"])
        except ValidationFailed as exc:
            errors_onto(form, exc)
            return _team_render(request, status=exc.status_code, organization_form=form)
        request.session[SESSION_ORG] = str(organization.pk)
        messages.success(request, f"{organization.name} is created and you are its owner. Invite your team below.")
        return redirect("web-team")

    return once(request, create)


urlpatterns = [
    path("account/keys", keys_page, name="web-keys"),
    path("account/keys/<uuid:key_id>/edit", key_edit, name="web-key-edit"),
    path("account/keys/<uuid:key_id>/rotate", key_rotate, name="web-key-rotate"),
    path("account/keys/<uuid:key_id>/revoke", key_revoke, name="web-key-revoke"),
    path("account/team", team_page, name="web-team"),
    path("account/team/invite", team_invite, name="web-team-invite"),
    path(
        "account/team/invitations/<uuid:invitation_id>/revoke",
        team_invitation_revoke,
        name="web-team-invitation-revoke",
    ),
    path("account/team/members/<uuid:user_id>/role", team_member_role, name="web-team-role"),
    path("account/team/members/<uuid:user_id>/remove", team_member_remove, name="web-team-remove"),
    path("account/team/leave", team_leave, name="web-team-leave"),
    path("account/team/organizations", team_organization_create, name="web-team-organization"),
]
