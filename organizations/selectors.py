import hashlib

from django.db.models import F
from django.utils import timezone

from accounts.models import User

from .models import Invitation, Membership, Organization


def organizations_for_user(*, user: User):
    """The caller's organizations, each annotated with the caller's `role` in it."""
    return (
        Organization.objects.filter(memberships__user=user)
        .annotate(role=F("memberships__role"))
        .order_by("-is_personal", "name")
    )


def members_of(*, organization: Organization):
    return Membership.objects.select_related("user").filter(organization=organization).order_by("created_at")


def pending_invitations_of(*, organization: Organization):
    return Invitation.objects.filter(
        organization=organization, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    )


def personal_organization_of(*, user: User) -> Organization:
    """The personal organization registration made for `user`."""
    return Organization.objects.get(memberships__user=user, is_personal=True)


def invitation_by_token(*, token: str) -> Invitation | None:
    """The invitation an emailed link names (any status), to show before accepting."""
    if not token or len(token) > 200:
        return None
    digest = hashlib.sha256(token.encode()).hexdigest()
    return Invitation.objects.select_related("organization", "invited_by").filter(token_hash=digest).first()
