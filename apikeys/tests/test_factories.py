"""APIKeyFactory makes keys through apikeys.services: the secret it returns authenticates."""

import pytest

from apikeys.authentication import principal_for_secret
from apikeys.models import Mode
from apikeys.services import hash_secret
from apikeys.tests.factories import ALL_SCOPES, APIKeyFactory

pytestmark = pytest.mark.django_db


def test_a_key_stores_only_the_hash_of_its_secret_and_authenticates():
    key = APIKeyFactory()

    key.full_clean(exclude=["created_by"])  # null (made by no one: a script) but not blank in forms
    assert (key.mode, sorted(key.scopes), key.revoked_at) == (Mode.LIVE, sorted(ALL_SCOPES), None)
    assert key.key_hash == hash_secret(key.secret) != key.secret
    assert key.secret.startswith(key.prefix)
    principal = principal_for_secret(key.secret)
    assert principal is not None
    assert str(principal.organization_id) == str(key.organization_id)


def test_a_revoked_key_no_longer_authenticates():
    key = APIKeyFactory(revoked=True)

    key.refresh_from_db()
    assert key.revoked_at is not None
    assert principal_for_secret(key.secret) is None


def test_an_unsaved_key_is_refused():
    with pytest.raises(TypeError, match="apikey_create"):
        APIKeyFactory.build()
