"""Account use cases that span apps: registering (the account and its personal
organization) and deleting (the account and what it alone used)."""

from __future__ import annotations

from django.db import transaction

from accounts.models import User, normalize_email
from accounts.services import tokens_revoke_all, user_anonymize, user_create, user_password_confirm
from apikeys.services import apikeys_revoke_all
from billing_project.errors import Conflict
from organizations.models import Membership, Organization, Role
from organizations.services import organization_create
from subscriptions.models import Status
from subscriptions.selectors import live_subscription
from subscriptions.services import subscription_transition


@transaction.atomic
def account_register(*, email: str, password: str, name: str = "", company: str = "") -> User:
    """Create an account and its personal organization, owned by it."""
    user = user_create(email=email, password=password, name=name, company=company)
    organization_create(
        owner=user,
        name=f"{name or normalize_email(email).split('@')[0]}'s organization",
        slug=None,
        is_personal=True,
    )
    return user


@transaction.atomic
def account_delete(*, user: User, password: str) -> None:
    """Soft-delete the account after confirming the password.

    The user is deactivated and anonymized (name, company and email are erased; the
    row stays so invoices and audit history keep their references). The user leaves
    every organization shared with others; organizations it alone belonged to keep it
    as their (inactive) owner for the books, with its name and email erased. Leaving an organization that other members
    depend on as its last owner is refused: ownership must be handed over first.
    """
    user = user_password_confirm(user=user, password=password)
    shared_memberships = []
    for membership in Membership.objects.select_related("organization").filter(user=user):
        others = Membership.objects.filter(organization=membership.organization).exclude(user=user)
        if not others.exists():
            _organization_forget_person(organization=membership.organization, user=user)
            continue
        if membership.role == Role.OWNER and not others.filter(role=Role.OWNER).exists():
            raise Conflict(
                f"You are the last owner of '{membership.organization.name}', which has other members. "
                "Make another member an owner before deleting your account."
            )
        shared_memberships.append(membership.pk)
    Membership.objects.filter(pk__in=shared_memberships).delete()
    tokens_revoke_all(user=user)
    user_anonymize(user=user)


def _organization_forget_person(*, organization: Organization, user: User) -> None:
    """Wind down an organization only the deleted user used: cancel its subscription,
    revoke its API keys and erase the user's personal data from it."""
    subscription = live_subscription(organization_id=organization.pk)
    if subscription is not None:
        subscription_transition(subscription=subscription, to_status=Status.CANCELED, reason="account deleted")
    apikeys_revoke_all(organization=organization)
    changed = []
    if organization.billing_email == user.email:
        organization.billing_email = ""
        changed.append("billing_email")
    if organization.is_personal:
        organization.name = "Deleted account"
        changed.append("name")
    if changed:
        organization.save(update_fields=[*changed, "updated_at"])
