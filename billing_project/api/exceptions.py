"""One exception handler for the whole API: every error leaves as the API.md envelope."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from billing_project.errors import DomainError, PayloadTooLarge, RateLimited, ValidationFailed

from .envelope import ENVELOPED, ERROR_CODES_BY_STATUS, error_body

logger = logging.getLogger(__name__)


def _validation_details(detail) -> dict:
    if isinstance(detail, dict):
        return detail
    if isinstance(detail, list):
        return {"non_field_errors": detail}
    return {"non_field_errors": [detail]}


def _first_message(details: dict) -> str:
    """A readable one-line summary of field errors: `email: This field is required.`"""
    for field, errors in details.items():
        if isinstance(errors, dict):
            inner = _first_message(errors)
            return f"{field}.{inner}" if inner else field
        if isinstance(errors, list) and errors:
            first = errors[0]
            if isinstance(first, dict):
                return f"{field}: {_first_message(first)}"
            if field == "non_field_errors":
                return str(first)
            return f"{field}: {first}"
        return f"{field}: {errors}"
    return "Invalid input."


def _enveloped(body: dict, status: int, headers: dict | None = None) -> Response:
    response = Response(body, status=status, headers=headers)
    setattr(response, ENVELOPED, True)
    return response


def request_refusal(exc: BaseException) -> DomainError | None:
    """Django's refusals to read a request, as the envelope's errors (Django itself would
    answer them 400 with an HTML page): a body over DATA_UPLOAD_MAX_MEMORY_SIZE is 413
    `payload_too_large`; too many form fields or files, and other suspicious requests, 400."""
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge.over(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    if isinstance(exc, SuspiciousOperation):
        logging.getLogger(f"django.security.{exc.__class__.__name__}").warning("%s", exc)
        return ValidationFailed("The request could not be read.")
    return None


def envelope_exception_handler(exc, context):
    headers: dict[str, str] = {}
    exc = request_refusal(exc) or exc

    if isinstance(exc, DomainError):
        if isinstance(exc, RateLimited) and exc.retry_after:
            headers["Retry-After"] = str(exc.retry_after)
        return _enveloped(error_body(exc.code, exc.message, exc.details, exc.data), exc.status_code, headers)

    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    elif isinstance(exc, TokenError):
        exc = InvalidToken(str(exc))

    if not isinstance(exc, drf.APIException):
        logger.exception("Unhandled error in API view", exc_info=exc)
        return None  # the middleware answers a 500 envelope; nothing internal leaks

    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))

    status = exc.status_code
    if isinstance(exc, drf.ValidationError):
        details = _validation_details(exc.detail)
        body = error_body("validation_error", _first_message(details), details)
    elif isinstance(exc, drf.ParseError):
        body = error_body("validation_error", f"Malformed request body: {exc.detail}")
    elif isinstance(exc, drf.NotAuthenticated):
        body = error_body("not_authenticated", "Authentication credentials were not provided.")
    elif isinstance(exc, drf.AuthenticationFailed):
        message = exc.detail.get("detail") if isinstance(exc.detail, dict) else exc.detail
        body = error_body("authentication_failed", str(message or "Authentication failed."))
    elif isinstance(exc, drf.Throttled):
        body = error_body("rate_limited", "Too many requests. Try again later.")
    else:
        code = ERROR_CODES_BY_STATUS.get(status, "error")
        detail = exc.detail
        if isinstance(detail, (dict, list)):
            body = error_body(code, "The request could not be completed.", _validation_details(detail))
        else:
            body = error_body(code, str(detail))
    return _enveloped(body, status, headers)
