"""Factories for organizations, their memberships and invitations."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

import factory
from django.conf import settings
from django.utils import timezone
from django.utils.text import slugify

from organizations.models import Invitation, Membership, Organization, Role
from organizations.services import _hash_token


def unique_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


class OrganizationFactory(factory.django.DjangoModelFactory):
    """A team organization (not personal) billed in USD, without members."""

    class Meta:
        model = Organization

    name = factory.Faker("company")
    slug = factory.LazyAttribute(lambda o: f"{slugify(o.name)[:50]}-{uuid.uuid4().hex[:8]}")
    billing_email = factory.LazyFunction(unique_email)
    currency = "USD"


class MembershipFactory(factory.django.DjangoModelFactory):
    """A new user (with a personal organization, as registration makes) in a new organization."""

    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    # A string path: accounts.tests.factories imports this module.
    user = factory.SubFactory("accounts.tests.factories.UserFactory")
    role = Role.MEMBER


class InvitationFactory(factory.django.DjangoModelFactory):
    """An open invitation to an organization, sent by one of its owners, as
    organizations.services.invitation_create stores it: only the token's hash is stored;
    the token itself (what the email carries) is on the returned object as `token`."""

    class Meta:
        model = Invitation

    organization = factory.SubFactory(OrganizationFactory)
    email = factory.LazyFunction(unique_email)
    role = Role.MEMBER
    token = factory.LazyFunction(lambda: secrets.token_urlsafe(32))
    token_hash = factory.LazyAttribute(lambda o: _hash_token(o.token))
    invited_by = factory.LazyAttribute(lambda o: MembershipFactory(organization=o.organization, role=Role.OWNER).user)
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS))

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        token = kwargs.pop("token", None)
        invitation = super()._create(model_class, *args, **kwargs)
        invitation.token = token
        return invitation
