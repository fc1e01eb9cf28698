"""API-key authentication for usage's service endpoints: the key's principal and its
organization's billing context (usage.context), read together."""

from __future__ import annotations

from apikeys.authentication import (
    APIKeyAuthentication,
    ProvisionalAPIKeyAuthentication,
    ServicePrincipal,
    hash_of,
    provisional_principal,
)

from .context import principal_and_context, provisional_context


class ServiceKeyAuthentication(APIKeyAuthentication):
    """Sets `request.billing_context` beside the principal (one cache round trip)."""

    def lookup(self, secret: str, request) -> ServicePrincipal | None:
        principal, request.billing_context = principal_and_context(hash_of(secret))
        return principal


class ProvisionalServiceKeyAuthentication(ProvisionalAPIKeyAuthentication):
    """For quota-check: principal and context may both come from this process's memory,
    to be confirmed in the check's own Redis call (usage.services.quota_check)."""

    def lookup(self, secret: str, request) -> ServicePrincipal | None:
        principal = provisional_principal(secret)
        request.billing_context = provisional_context(principal.organization_id) if principal else None
        return principal
