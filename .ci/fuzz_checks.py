"""Schemathesis hooks for .ci/fuzz: the API.md envelope as a check.

Loaded with SCHEMATHESIS_HOOKS=.ci/fuzz_checks.py. Every JSON body under /api/v1/ must be
`{"success": true, "data": ...}` (plus optional `meta` and `message`) or
`{"success": false, "error": {"code": str, "message": str, "details"?: object}}` (plus an
optional `data`, as `quota_exceeded` sends). A non-JSON answer under /api/v1/ is allowed only
for a 2xx of another declared type (the invoice PDF); an HTML or plain-text error page is not.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import schemathesis

API_PREFIX = "/api/v1/"
SUCCESS_KEYS = {"success", "data", "meta", "message"}
ERROR_KEYS = {"success", "error", "data"}
ERROR_OBJECT_KEYS = {"code", "message", "details"}


def envelope_problem(status: int, content_type: str, body: bytes) -> str | None:
    """What is wrong with this /api/v1/ answer, or None when it is in the envelope."""
    if status == 204 or (not body and 300 <= status < 400):
        return None
    if "json" not in content_type.lower():
        if 200 <= status < 300:
            return None
        return f"a {status} answer must be a JSON error envelope, got Content-Type {content_type or 'none'!r}"
    try:
        document = json.loads(body)
    except ValueError:
        return "the body is not valid JSON"
    if not isinstance(document, dict):
        return f"the body is a JSON {type(document).__name__}, not an envelope object"
    success = document.get("success")
    if success is True:
        if not 200 <= status < 300:
            return f"`success: true` with HTTP {status}"
        if "data" not in document:
            return "a success envelope without `data`"
        extra = set(document) - SUCCESS_KEYS
        if extra:
            return f"unexpected keys in a success envelope: {sorted(extra)}"
        meta = document.get("meta")
        if meta is not None and not isinstance(meta, dict):
            return "`meta` is not an object"
        message = document.get("message")
        if message is not None and not isinstance(message, str):
            return "`message` is not a string"
        return None
    if success is False:
        if status < 400:
            return f"`success: false` with HTTP {status}"
        extra = set(document) - ERROR_KEYS
        if extra:
            return f"unexpected keys in an error envelope: {sorted(extra)}"
        error = document.get("error")
        if not isinstance(error, dict):
            return "an error envelope without an `error` object"
        if not isinstance(error.get("code"), str) or not error["code"]:
            return "`error.code` is not a non-empty string"
        if not isinstance(error.get("message"), str):
            return "`error.message` is not a string"
        extra = set(error) - ERROR_OBJECT_KEYS
        if extra:
            return f"unexpected keys in `error`: {sorted(extra)}"
        if "details" in error and not isinstance(error["details"], dict):
            return "`error.details` is not an object"
        return None
    return "`success` is missing or not a boolean"


@schemathesis.check
def api_envelope(ctx, response, case):
    """Every /api/v1/ response body is in the API.md envelope."""
    path = urlsplit(response.request.url).path
    if not path.startswith(API_PREFIX):
        return None
    content_type = ", ".join(response.headers.get("content-type", []))
    problem = envelope_problem(response.status_code, content_type, response.content)
    if problem:
        raise AssertionError(f"Response outside the envelope: {problem}")
    return None
