"""The Content-Security-Policy of the server-rendered pages (django-csp), plus what only a
request can tell: where a form may land depends on ALLOWED_REDIRECT_HOSTS, which the
checkout's success and cancel redirects follow (browsers check form-action on a form's
redirects too)."""

from __future__ import annotations

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings

from billing_project.redirects import redirect_host_sources


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    def process_response(self, request, response):
        # Only documents a browser renders need a policy: the JSON API (nosniff) and files
        # skip the work on their hot paths.
        if not response.get("Content-Type", "").startswith("text/html"):
            return response
        return super().process_response(request, response)

    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:  # noqa: FBT001, FBT002 - django-csp's signature
        parts = super().get_policy_parts(request, response, report_only=report_only)
        if report_only:
            return parts
        update = dict(parts.update or {})
        form_action = list(update.get("form-action", []))
        form_action += redirect_host_sources() + list(settings.CSP_FORM_ACTION_ORIGINS)
        update["form-action"] = list(dict.fromkeys(source for source in form_action if source))
        parts.update = update
        return parts
