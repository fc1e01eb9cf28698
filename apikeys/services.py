"""Writes for API keys. Every change that alters what a secret may do is written to the
database, then drops the secret from the authentication cache: it takes effect at once
wherever that cache is reachable, and on every server within APIKEY_CACHE_SECONDS whatever
Redis does (see apikeys.authentication)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from billing_project.errors import Conflict, NotFound, ValidationFailed
from organizations.models import Organization
from plans.permissions import FeatureNotInPlan
from plans.selectors import entitlement

from .authentication import forget_cached_key
from .models import APIKey, Mode, Scope

KEY_BYTES = 32


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret(mode: str) -> str:
    return f"sk_{mode}_{secrets.token_urlsafe(KEY_BYTES)}"


def _prefix_of(secret: str) -> str:
    return secret[: len("sk_live_") + 8]


def _clean_scopes(scopes: list[str]) -> list[str]:
    allowed = set(Scope.values)
    unknown = sorted(set(scopes) - allowed)
    if unknown:
        raise ValidationFailed.for_field("scopes", f"Unknown scopes: {', '.join(unknown)}.")
    if not scopes:
        raise ValidationFailed.for_field("scopes", "Give at least one scope.")
    return sorted(set(scopes))


def _active_key(*, organization: Organization, key_id) -> APIKey:
    key = APIKey.objects.select_for_update().filter(organization=organization, pk=key_id).first()
    if key is None:
        raise NotFound("API key not found.")
    if key.revoked_at:
        raise Conflict("This API key has been revoked.")
    return key


@transaction.atomic
def apikey_create(
    *,
    organization: Organization,
    created_by: User | None,
    name: str,
    scopes: list[str],
    mode: str = Mode.LIVE,
    expires_at: datetime | None = None,
) -> tuple[APIKey, str]:
    """Create a key; returns it and its secret (shown once, stored only as a hash).

    A plan whose features set `api_keys` to a number allows that many active keys
    (neither revoked nor expired).
    """
    scopes = _clean_scopes(scopes)
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed.for_field("expires_at", "Must be in the future.")
    Organization.objects.select_for_update().filter(pk=organization.pk).first()  # serialize the count check
    limit = entitlement(organization_id=organization.pk, feature="api_keys")
    if isinstance(limit, int) and not isinstance(limit, bool):
        active = (
            APIKey.objects.filter(organization=organization, revoked_at__isnull=True)
            .exclude(expires_at__lte=timezone.now())
            .count()
        )
        if active >= limit:
            raise FeatureNotInPlan(f"Your plan allows {limit} active API keys. Revoke one or upgrade.")
    secret = _new_secret(mode)
    key = APIKey.objects.create(
        organization=organization,
        name=name,
        mode=mode,
        prefix=_prefix_of(secret),
        key_hash=hash_secret(secret),
        scopes=scopes,
        created_by=created_by,
        expires_at=expires_at,
    )
    return key, secret


@transaction.atomic
def apikey_update(*, organization: Organization, key_id, name: str, scopes: list[str]) -> APIKey:
    key = _active_key(organization=organization, key_id=key_id)
    key.name = name
    key.scopes = _clean_scopes(scopes)
    key.save(update_fields=["name", "scopes"])
    transaction.on_commit(lambda: forget_cached_key(key.key_hash))
    forget_cached_key(key.key_hash)
    return key


@transaction.atomic
def apikey_revoke(*, organization: Organization, key_id) -> APIKey:
    key = _active_key(organization=organization, key_id=key_id)
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at"])
    forget_cached_key(key.key_hash)
    transaction.on_commit(lambda: forget_cached_key(key.key_hash))
    return key


@transaction.atomic
def apikey_rotate(*, organization: Organization, key_id) -> tuple[APIKey, str]:
    """Give the key a new secret; the old one stops working at once."""
    key = _active_key(organization=organization, key_id=key_id)
    old_hash = key.key_hash
    secret = _new_secret(key.mode)
    key.key_hash = hash_secret(secret)
    key.prefix = _prefix_of(secret)
    key.rotated_at = timezone.now()
    key.save(update_fields=["key_hash", "prefix", "rotated_at"])
    forget_cached_key(old_hash)
    transaction.on_commit(lambda: forget_cached_key(old_hash))
    return key, secret


def apikeys_revoke_all(*, organization: Organization) -> int:
    """Revoke every active key of an organization (its last member deleted the account)."""
    keys = list(APIKey.objects.filter(organization=organization, revoked_at__isnull=True))
    APIKey.objects.filter(pk__in=[key.pk for key in keys]).update(revoked_at=timezone.now())
    for key in keys:
        forget_cached_key(key.key_hash)
        transaction.on_commit(lambda key_hash=key.key_hash: forget_cached_key(key_hash))
    return len(keys)
