"""Writes for organizations, memberships and invitations."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import User, normalize_email
from billing_project.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

from .models import Invitation, Membership, Organization, Role
from .tasks import send_invitation_email


def _slug_taken(slug: str) -> bool:
    return Organization.objects.filter(slug=slug).exists()


def _unique_slug(base: str) -> str:
    base = (slugify(base)[:60].strip("-")) or "org"
    candidate = base
    while _slug_taken(candidate):
        candidate = f"{base}-{secrets.token_hex(3)}"
    return candidate


def _save_with_unique_slug(organization: Organization) -> None:
    """Save; a slug taken by another organization (also by a concurrent save) is a 400."""
    try:
        with transaction.atomic():
            organization.save()
    except IntegrityError as exc:
        raise ValidationFailed.for_field("slug", "This slug is already taken.") from exc


@transaction.atomic
def organization_create(
    *,
    owner: User,
    name: str,
    slug: str | None = None,
    billing_email: str = "",
    country: str = "",
    currency: str = "USD",
    is_personal: bool = False,
) -> Organization:
    """Create an organization with `owner` as its first owner."""
    organization = Organization(
        name=name,
        slug=slug or _unique_slug(name),
        billing_email=billing_email or owner.email,
        country=country,
        currency=currency,
        is_personal=is_personal,
    )
    if slug:
        _save_with_unique_slug(organization)
    else:  # a made-up slug that a concurrent creation took is made up again
        for attempt in range(5):
            try:
                _save_with_unique_slug(organization)
                break
            except ValidationFailed:
                if attempt == 4:
                    raise
                organization.slug = f"{slugify(name)[:60].strip('-') or 'org'}-{secrets.token_hex(3)}"
    Membership.objects.create(organization=organization, user=owner, role=Role.OWNER)
    return organization


@transaction.atomic
def organization_update(*, organization: Organization, **fields) -> Organization:
    """Change an organization's name, slug or billing details; other keys are ignored."""
    allowed = {"name", "slug", "billing_email", "country", "currency", "tax_id", "billing_address"}
    for key, value in fields.items():
        if key in allowed:
            setattr(organization, key, value)
    _save_with_unique_slug(organization)
    return organization


def _lock_organization(organization: Organization) -> Organization:
    """Serialize membership changes of one organization (owner-count checks)."""
    return Organization.objects.select_for_update().get(pk=organization.pk)


def _owner_count(organization: Organization) -> int:
    return Membership.objects.filter(organization=organization, role=Role.OWNER).count()


def _reload_actor(actor: Membership) -> Membership:
    """The actor's membership as it is now, under the organization lock. A concurrent
    request may have removed it since the view read it: then the organization is, for
    this caller, not found (as in context.membership_for)."""
    current = Membership.objects.filter(pk=actor.pk).first()
    if current is None:
        raise NotFound("Organization not found.")
    return current


def _membership_of(organization: Organization, user_id) -> Membership:
    membership = Membership.objects.select_related("user").filter(organization=organization, user_id=user_id).first()
    if membership is None:
        raise NotFound("That user is not a member of this organization.")
    return membership


@transaction.atomic
def membership_change_role(*, actor: Membership, user_id, role: str) -> Membership:
    """Owners and admins change roles; only an owner grants or takes away the owner role,
    and the last owner cannot be demoted."""
    organization = _lock_organization(actor.organization)
    actor = _reload_actor(actor)
    if not actor.can_manage_members:
        raise PermissionDenied("Only owners and admins can change roles.")
    target = _membership_of(organization, user_id)
    if (role == Role.OWNER or target.role == Role.OWNER) and actor.role != Role.OWNER:
        raise PermissionDenied("Only an owner can grant or remove the owner role.")
    if target.role == Role.OWNER and role != Role.OWNER and _owner_count(organization) <= 1:
        raise Conflict("The last owner cannot be demoted. Make another member an owner first.")
    if target.role != role:
        target.role = role
        target.save(update_fields=["role"])
    return target


@transaction.atomic
def membership_remove(*, actor: Membership, user_id) -> None:
    """Owners and admins remove members; anyone may leave. The last owner can do neither."""
    organization = _lock_organization(actor.organization)
    actor = _reload_actor(actor)
    target = _membership_of(organization, user_id)
    is_leaving = target.pk == actor.pk
    if not is_leaving:
        if not actor.can_manage_members:
            raise PermissionDenied("Only owners and admins can remove members.")
        if target.role == Role.OWNER and actor.role != Role.OWNER:
            raise PermissionDenied("Only an owner can remove an owner.")
    if target.role == Role.OWNER and _owner_count(organization) <= 1:
        raise Conflict("The last owner cannot leave. Make another member an owner first.")
    target.delete()


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def invitation_create(*, actor: Membership, email: str, role: str) -> tuple[Invitation, str]:
    """Invite `email` to the actor's organization; returns the invitation and its token.

    Re-inviting an address with an open invitation replaces it (new token, new expiry).
    The token is emailed and never stored in clear.
    """
    organization = _lock_organization(actor.organization)
    actor = _reload_actor(actor)
    if not actor.can_manage_members:
        raise PermissionDenied("Only owners and admins can invite members.")
    if role == Role.OWNER and actor.role != Role.OWNER:
        raise PermissionDenied("Only an owner can invite another owner.")
    email = normalize_email(email)
    if Membership.objects.filter(organization=organization, user__email=email).exists():
        raise Conflict("That person is already a member of this organization.")
    now = timezone.now()
    Invitation.objects.filter(
        organization=organization, email=email, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=now)
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        organization=organization,
        email=email,
        role=role,
        token_hash=_hash_token(token),
        invited_by=actor.user,
        expires_at=now + timedelta(days=settings.INVITATION_TTL_DAYS),
    )
    send_invitation_email.delay_on_commit(str(invitation.pk), token)
    return invitation, token


@transaction.atomic
def invitation_revoke(*, actor: Membership, invitation_id) -> Invitation:
    _lock_organization(actor.organization)
    actor = _reload_actor(actor)
    if not actor.can_manage_members:
        raise PermissionDenied("Only owners and admins can revoke invitations.")
    invitation = (
        Invitation.objects.select_for_update().filter(organization=actor.organization, pk=invitation_id).first()
    )
    if invitation is None:
        raise NotFound("Invitation not found.")
    if invitation.accepted_at:
        raise Conflict("This invitation has already been accepted.")
    if not invitation.revoked_at:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, user: User) -> Membership:
    """Join the organization of the invitation. The signed-in user's email must be the
    invited address; a token works once and only until it expires."""
    invitation = (
        Invitation.objects.select_for_update()
        .select_related("organization")
        .filter(token_hash=_hash_token(token or ""))
        .first()
    )
    invalid = ValidationFailed(
        "token: This invitation is invalid or has expired.",
        details={"token": ["This invitation is invalid or has expired."]},
    )
    if invitation is None or invitation.status != "pending":
        raise invalid
    if normalize_email(user.email) != invitation.email:
        raise PermissionDenied("This invitation was sent to a different email address.")
    membership, created = Membership.objects.get_or_create(
        organization=invitation.organization, user=user, defaults={"role": invitation.role}
    )
    if not created:
        raise Conflict("You are already a member of this organization.")
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    return membership
