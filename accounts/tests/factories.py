import uuid

import factory
from django.utils.text import slugify

from accounts.models import User
from organizations.models import Membership, Organization, Role

PASSWORD = "Sup3r-secret-pw"


def unique_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


class UserFactory(factory.django.DjangoModelFactory):
    """A user with a personal organization it owns, as registration makes."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.LazyFunction(unique_email)
    name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def personal_org(self, create, extracted, **kwargs):
        if not create or extracted is False:
            return
        self.save()
        organization = OrganizationFactory(name=f"{self.name}'s organization", is_personal=True)
        Membership.objects.create(organization=organization, user=self, role=Role.OWNER)


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Faker("company")
    slug = factory.LazyAttribute(lambda o: f"{slugify(o.name)[:50]}-{uuid.uuid4().hex[:8]}")
    billing_email = factory.LazyFunction(unique_email)
    currency = "USD"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.MEMBER
