"""A lean request cycle for the service hot paths (usage report, batch report, quota check).

DRF's dispatch (request wrapping, content negotiation, authenticator and permission
loops, the renderer) costs about as much as the work of a quota check. `LeanServiceView`
keeps the DRF class (so drf-spectacular documents it like every other endpoint) but
replaces `dispatch` with the few steps these endpoints need: authenticate the API key,
check its scope, parse a JSON body, call the handler, answer the envelope. Errors go
through the same exception handler as the rest of the API.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from rest_framework import exceptions as drf
from rest_framework.utils.encoders import JSONEncoder
from rest_framework.views import APIView

from billing_project.errors import PayloadTooLarge

from .envelope import ENVELOPED, success_body
from .exceptions import envelope_exception_handler
from .parsers import load_json, refuse_unstorable_text

_encoder = JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def json_response(body: dict, status: int, headers: dict | None = None) -> HttpResponse:
    response = HttpResponse(_encoder.encode(body), status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        response[name] = value
    return response


class LeanServiceView(APIView):
    """Subclasses set `authenticator` (an instance with .authenticate(request) and
    .authenticate_header(request)) and `required_scope`, and write handlers that take the
    request and return a DRF Response (from billing_project.api.responses)."""

    authenticator = None
    required_scope: str = ""
    # The setting that bounds this endpoint's request body, in bytes (413 above it).
    body_limit_setting = "DATA_UPLOAD_MAX_MEMORY_SIZE"
    # Refuse the whole body when any string in it holds a NUL or a lone surrogate (400
    # naming the field). Views that check their text item by item turn it off.
    refuse_unstorable_text = True

    def dispatch(self, request, *args, **kwargs):
        self.args, self.kwargs, self.request = args, kwargs, request
        try:
            handler = getattr(self, request.method.lower(), None)
            if handler is None or request.method.lower() not in self.http_method_names:
                raise drf.MethodNotAllowed(request.method)
            authenticated = self.authenticator.authenticate(request)
            if authenticated is None:
                raise drf.NotAuthenticated()
            request.user, request.auth = authenticated
            if self.required_scope and not request.auth.has_scope(self.required_scope):
                raise drf.PermissionDenied(f"This API key lacks the '{self.required_scope}' scope.")
            request.query_params = request.GET
            if request.method in ("POST", "PUT", "PATCH"):
                request.data = self._json_body(request)
            response = handler(request, *args, **kwargs)
            body = (
                response.data
                if getattr(response, ENVELOPED, False)
                else success_body(response.data, message=getattr(response, "envelope_message", None))
            )
            return json_response(body, response.status_code)
        except Exception as exc:  # noqa: BLE001 - every error leaves as the envelope
            return self._error_response(request, exc)

    def _json_body(self, request):
        content_type = request.META.get("CONTENT_TYPE", "")
        if not content_type.startswith("application/json"):
            raise drf.UnsupportedMediaType(content_type or "none")
        limit = getattr(settings, self.body_limit_setting)  # None: unbounded, as in Django
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise drf.ParseError("Invalid Content-Length header.") from None
        if limit is not None and length > limit:
            raise PayloadTooLarge.over(limit)
        # request.body enforces Django's own limit; a view allowed more reads the stream
        # (bounded by Content-Length) itself.
        django_limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = request.body if django_limit is None or length <= django_limit else request.read()
        data = load_json(body or b"null")
        if self.refuse_unstorable_text:
            refuse_unstorable_text(body, data)
        return data

    def _error_response(self, request, exc):
        if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
            exc.auth_header = self.authenticator.authenticate_header(request)
        response = envelope_exception_handler(exc, {"view": self, "request": request})
        if response is None:
            raise exc
        headers = {name: value for name, value in response.items() if name.lower() != "content-type"}
        return json_response(response.data, response.status_code, headers)
