"""The response envelope of API.md, in one place."""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse

# Marks a Response whose data is already a full envelope (errors, paginated lists),
# so the renderer passes it through instead of wrapping it again.
ENVELOPED = "_enveloped"

ERROR_CODES_BY_STATUS = {
    400: "validation_error",
    401: "not_authenticated",
    402: "payment_failed",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "unprocessable_entity",
    429: "rate_limited",
    500: "server_error",
    502: "gateway_error",
    503: "service_unavailable",
}

DEFAULT_MESSAGES = {
    404: "Not found.",
    405: "Method not allowed.",
    500: "An unexpected error occurred. It has been logged.",
    503: "Service unavailable.",
}


def success_body(data: Any, message: str | None = None, meta: dict | None = None) -> dict:
    body: dict[str, Any] = {"success": True, "data": data}
    if meta is not None:
        body["meta"] = meta
    if message:
        body["message"] = message
    return body


def error_body(code: str, message: str, details: Any = None, data: Any = None) -> dict:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    body: dict[str, Any] = {"success": False, "error": error}
    if data is not None:
        body["data"] = data
    return body


def error_json_response(status: int, message: str | None = None, code: str | None = None) -> JsonResponse:
    """An error envelope outside DRF (Django's own 404/405/500, CSRF failures, health)."""
    code = code or ERROR_CODES_BY_STATUS.get(status, "error")
    message = message or DEFAULT_MESSAGES.get(status, "The request could not be completed.")
    return JsonResponse(error_body(code, message), status=status)
