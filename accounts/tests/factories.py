"""Factories for users. The organization factories live in organizations.tests.factories;
they are imported here too, where the older suites (payments, webhooks, billing_project)
still look for them."""

import factory

from accounts.models import User
from organizations.models import Role
from organizations.tests.factories import (
    MembershipFactory,
    OrganizationFactory,
    unique_email,
)

PASSWORD = "Sup3r-secret-pw"


class UserFactory(factory.django.DjangoModelFactory):
    """A user with a personal organization it owns, as registration makes
    (`personal_org=False`: none)."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.LazyFunction(unique_email)
    name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def personal_org(self, create, extracted, **kwargs):
        if not create:
            return
        self.save()  # the password set just before
        if extracted is False:
            return
        organization = OrganizationFactory(name=f"{self.name}'s organization", is_personal=True)
        MembershipFactory(organization=organization, user=self, role=Role.OWNER)
