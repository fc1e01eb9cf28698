"""APIKeyFactory: keys made the way the application makes them, through
apikeys.services.apikey_create (the secret generated and only its hash stored; the
plan's key allowance applies). The secret, shown once, is on the key as `secret`."""

from __future__ import annotations

import factory

from apikeys.models import APIKey, Mode, Scope
from apikeys.services import apikey_create, apikey_revoke

ALL_SCOPES = list(Scope.values)


class APIKeyFactory(factory.django.DjangoModelFactory):
    """A live key of a new organization with every scope. `revoked=True` revokes it
    after it is made (through apikeys.services.apikey_revoke)."""

    class Meta:
        model = APIKey
        skip_postgeneration_save = True

    organization = factory.SubFactory("organizations.tests.factories.OrganizationFactory")
    created_by = None
    mode = Mode.LIVE
    name = factory.LazyAttribute(lambda o: f"{o.mode} key")
    scopes = factory.LazyFunction(lambda: list(ALL_SCOPES))
    expires_at = None

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        raise TypeError("APIKeyFactory only creates, through apikey_create (it hashes the secret): no build().")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        key, secret = apikey_create(**kwargs)
        key.secret = secret
        return key

    @factory.post_generation
    def revoked(self, create, extracted, **kwargs):
        if create and extracted:
            secret = self.secret
            revoked = apikey_revoke(organization=self.organization, key_id=self.pk)
            self.revoked_at = revoked.revoked_at
            self.secret = secret
