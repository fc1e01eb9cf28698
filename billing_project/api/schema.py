"""OpenAPI: show the envelope of API.md around every documented response."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as DrfAutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse

ERROR_ENVELOPE = {
    "type": "object",
    "required": ["success", "error"],
    "properties": {
        "success": {"type": "boolean", "enum": [False]},
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "example": "validation_error"},
                "message": {"type": "string", "example": "email: This field is required."},
                "details": {"type": "object", "additionalProperties": True},
            },
        },
        "data": {"description": "Extra data for some errors (e.g. quota_exceeded)."},
    },
}

_ERROR_REF = {"$ref": "#/components/schemas/ErrorEnvelope"}
_ERROR_DESCRIPTIONS = {
    "400": "Invalid input (`validation_error`, with field errors in `details`).",
    "401": "Missing or invalid credentials (`not_authenticated` / `authentication_failed`).",
    "403": "Authenticated but not allowed (`permission_denied`).",
    "404": "Not found, or belongs to another organization (`not_found`).",
}


def _is_envelope(schema: dict, components: dict) -> bool:
    if not isinstance(schema, dict):
        return False
    if "$ref" in schema:
        schema = components.get(schema["$ref"].rsplit("/", 1)[-1], {})
    return "success" in schema.get("properties", {})


class AutoSchema(DrfAutoSchema):
    """Adds the X-Current-Org header to views that take their organization from it."""

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        header = getattr(self.view, "current_org_header_parameter", None)
        if header is not None:
            parameters.append(header)
        return parameters


def _wrap(schema: dict | None) -> dict:
    wrapped = {
        "type": "object",
        "required": ["success", "data"],
        "properties": {
            "success": {"type": "boolean", "enum": [True]},
            "data": schema if schema else {"nullable": True},
            "message": {"type": "string"},
        },
    }
    return wrapped


def wrap_responses_in_envelope(result, generator, request, public):
    """Postprocessing hook: success bodies become `{success, data, message}` and every
    operation lists the error envelope for the statuses it can answer."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorEnvelope"] = ERROR_ENVELOPE
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                if not str(status).startswith("2") and not response.get("content"):
                    response["content"] = {"application/json": {"schema": _ERROR_REF}}
                content = response.get("content", {})
                for media_type, body in content.items():
                    if media_type != "application/json":
                        continue
                    schema = body.get("schema")
                    if str(status).startswith("2"):
                        if not _is_envelope(schema or {}, components):
                            body["schema"] = _wrap(schema)
                    elif not schema or not _is_envelope(schema, components):
                        body["schema"] = _ERROR_REF
            is_authenticated = any(req for req in operation.get("security", []) if req)
            expected = []
            if operation.get("requestBody") or operation.get("parameters"):
                expected.append("400")
            if is_authenticated:
                expected += ["401", "403"]
            if "{" in path:
                expected.append("404")
            for status in expected:
                responses.setdefault(
                    status,
                    {
                        "description": _ERROR_DESCRIPTIONS[status],
                        "content": {"application/json": {"schema": _ERROR_REF}},
                    },
                )
    return result


def error_response(description: str) -> OpenApiResponse:
    """An explicitly documented error status (409, 429, ...), shown with the error envelope."""
    return OpenApiResponse(response=None, description=description)


def message_response(description: str) -> OpenApiResponse:
    """A success whose `data` is a short human-readable string."""
    return OpenApiResponse(response=OpenApiTypes.STR, description=description)


# The gateways' inbound webhooks are plain Django views outside /api/ (no envelope: the
# gateways read `{"received": true}`); they are documented here by hand.
_WEBHOOKS = {
    "stripe": (
        "Stripe events",
        "Verified by dj-stripe: the `Stripe-Signature` header (timestamped HMAC-SHA256 of the body with "
        "STRIPE_WEBHOOK_SECRET, 300 s tolerance either way). Stored and applied once per event id.",
        {
            "name": "Stripe-Signature",
            "example": "t=1764000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd",
        },
    ),
    "xendit": (
        "Xendit invoice and refund callbacks",
        "Accepted only when the `x-callback-token` header equals XENDIT_CALLBACK_TOKEN (constant-time; else "
        "401). Invoice `PAID` / `SETTLED` pay the invoice, `EXPIRED` is a failed attempt; `refund.succeeded` / "
        "`refund.failed` settle refunds. Idempotent on the Xendit id and status.",
        {"name": "x-callback-token", "example": "your-callback-verification-token"},
    ),
    "midtrans": (
        "Midtrans HTTP notifications",
        "Read only when the body's `signature_key` equals SHA-512(order_id + status_code + gross_amount + "
        "MIDTRANS_SERVER_KEY). A payment counts with status_code 200, transaction_status settlement or capture "
        "and fraud_status accept; `pending` waits; deny / cancel / expire are failed attempts; refund / "
        "partial_refund record refunds. Idempotent on transaction_id + status.",
        None,
    ),
    "sandbox": (
        "Sandbox gateway events",
        "The offline sandbox gateway's events, signed in `X-Sandbox-Signature` (`t=...,v1=...`, HMAC-SHA256 "
        "keyed from SECRET_KEY, 300 s tolerance).",
        {"name": "X-Sandbox-Signature", "example": "t=1764000000,v1=..."},
    ),
}


def document_inbound_webhooks(result, generator, request, public):
    """Postprocessing hook: POST /webhooks/{stripe,xendit,midtrans,sandbox}."""
    error = {"content": {"application/json": {"schema": _ERROR_REF}}}
    received = {
        "type": "object",
        "properties": {"received": {"type": "boolean", "enum": [True]}},
        "required": ["received"],
    }
    for gateway, (summary, description, header) in _WEBHOOKS.items():
        operation = {
            "operationId": f"webhooks_{gateway}_receive",
            "summary": summary,
            "description": description
            + " A bad signature or token changes nothing; a replayed event is 200 and changes nothing; an event "
            "whose processing failed is 500 and kept for the gateway's retry.",
            "tags": ["webhooks"],
            "security": [],
            "parameters": [
                {
                    "in": "header",
                    "name": header["name"],
                    "required": True,
                    "schema": {"type": "string"},
                    "example": header["example"],
                }
            ]
            if header
            else [],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
            },
            "responses": {
                "200": {
                    "description": "Stored and applied (or a replay).",
                    "content": {"application/json": {"schema": received}},
                },
                "400": {"description": "Bad signature, malformed body, or an amount that does not match.", **error},
                "500": {
                    "description": "Processing failed; the event is kept and applied on redelivery.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "received": {"type": "boolean", "enum": [False]},
                                    "error": {"type": "string"},
                                },
                            }
                        }
                    },
                },
            },
        }
        if gateway == "xendit":
            operation["responses"]["401"] = {"description": "Missing or wrong x-callback-token.", **error}
        result.setdefault("paths", {})[f"/webhooks/{gateway}"] = {"post": operation}
    return result
