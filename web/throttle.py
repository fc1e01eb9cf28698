"""The API's per-IP abuse throttle for the anonymous auth endpoints (scope `anon_auth`),
counted in the same cache entries, so the sign-up and reset pages share its budget with
POST /auth/register and /auth/forgot-password."""

from __future__ import annotations

from rest_framework.throttling import ScopedRateThrottle


class _AnonAuth:
    throttle_scope = "anon_auth"


def anon_auth_allowed(request) -> bool:
    return ScopedRateThrottle().allow_request(request, _AnonAuth())
