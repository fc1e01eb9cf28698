"""OpenAPI: show the envelope of API.md around every documented response, and document
every error status an operation can answer (schemathesis checks both: docs/fuzzing.md)."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as DrfAutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.negotiation import DefaultContentNegotiation

from .negotiation import FileContentNegotiation

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
    "403": "Authenticated but not allowed (`permission_denied`, `feature_not_in_plan`).",
    "404": "Not found, or belongs to another organization (`not_found`).",
    "406": "The `Accept` header asks for something other than JSON (`not_acceptable`).",
    "409": "A request with this Idempotency-Key is still being processed (`idempotency_in_progress`).",
    "413": "The request body is too large (`payload_too_large`).",
    "414": "The URL (path and query string) is longer than `MAX_URL_BYTES` (`uri_too_long`).",
    "415": "The body's Content-Type is not JSON, form or multipart (`unsupported_media_type`).",
    "422": "This Idempotency-Key was used with another request (`idempotency_key_reused`).",
    "429": "Too many requests (`rate_limited`); `Retry-After` says when to try again.",
    "502": "The payment gateway failed or could not be reached (`gateway_error`).",
}
_BODY_METHODS = {"post", "put", "patch"}

# Operations that say their success `data` may be `null` (`extend_schema(extensions=...)`).
NULLABLE_DATA = "x-data-nullable"
NULLABLE_DATA_EXTENSION = {NULLABLE_DATA: True}

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    name="Idempotency-Key",
    type=str,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "1 to 255 characters. A retry with the same key and body returns the first answer "
        "(`Idempotent-Replayed: true`); another body is 422, a key still being processed is 409."
    ),
)


def _is_envelope(schema: dict, components: dict) -> bool:
    if not isinstance(schema, dict):
        return False
    if "$ref" in schema:
        schema = components.get(schema["$ref"].rsplit("/", 1)[-1], {})
    return "success" in schema.get("properties", {})


class AutoSchema(DrfAutoSchema):
    """Adds what a view's classes say about it: the X-Current-Org header where the
    organization comes from it, the Idempotency-Key header on the money-moving methods
    (with their 409, 422 and gateway 502), 429 where a throttle applies, and 406 where
    DRF negotiates the response type."""

    def _is_money_mover(self) -> bool:
        # idempotency.mixins.IdempotentMixin's attribute: the kernel reads it without
        # importing the app above it.
        return hasattr(self.view, "idempotent_methods")

    def _is_idempotent(self) -> bool:
        return self._is_money_mover() and self.method in self.view.idempotent_methods

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        header = getattr(self.view, "current_org_header_parameter", None)
        if header is not None:
            parameters.append(header)
        if self._is_idempotent():
            parameters.append(IDEMPOTENCY_KEY_PARAMETER)
        return parameters

    def _get_request_body(self, direction="request"):
        # drf-spectacular documents the bodies of POST, PUT and PATCH only; a DELETE that
        # declares one with @extend_schema(request=...) (DELETE /profile confirms with the
        # password) reads it all the same, so it is documented like a POST's.
        if self.method != "DELETE":
            return super()._get_request_body(direction)
        self.method, self._delete_body_probe = "POST", True
        try:
            return super()._get_request_body(direction)
        finally:
            self.method, self._delete_body_probe = "DELETE", False

    def _get_serializer(self):
        if getattr(self, "_delete_body_probe", False):
            return None  # a DELETE that declares no body has none (no guessing, no warning)
        return super()._get_serializer()

    def _view_error_statuses(self) -> list[str]:
        statuses = []
        negotiator = self.view.get_content_negotiator()
        if type(negotiator).select_renderer is DefaultContentNegotiation.select_renderer or isinstance(
            negotiator, FileContentNegotiation
        ):
            statuses.append("406")  # files (PDFs) are 406 when the Accept header rules them out
        if self.view.get_throttles():
            statuses.append("429")
        if self._is_idempotent():
            statuses += ["409", "422"]
        if self._is_money_mover():
            statuses.append("502")  # the money movers are the views that call a gateway
        return statuses

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        responses = operation.setdefault("responses", {})
        for status in self._view_error_statuses():
            responses.setdefault(status, {"description": _ERROR_DESCRIPTIONS[status]})
        return operation


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


def _nullable(schema: dict) -> dict:
    if "$ref" in schema:
        return {"allOf": [schema], "nullable": True}
    return {**schema, "nullable": True}


def _takes_org_header(operation: dict) -> bool:
    return any(p.get("in") == "header" and p.get("name") == "X-Current-Org" for p in operation.get("parameters", []))


def wrap_responses_in_envelope(result, generator, request, public):
    """Postprocessing hook: success bodies become `{success, data, message}` and every
    operation lists the error envelope for the statuses it can answer."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorEnvelope"] = ERROR_ENVELOPE
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            data_nullable = operation.pop(NULLABLE_DATA, False)
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
                            body["schema"] = _wrap(_nullable(schema) if schema and data_nullable else schema)
                    elif not schema or not _is_envelope(schema, components):
                        body["schema"] = _ERROR_REF
            is_authenticated = any(req for req in operation.get("security", []) if req)
            expected = ["414"]  # checked before any view code runs
            if operation.get("requestBody") or operation.get("parameters"):
                expected.append("400")
            if is_authenticated:
                expected += ["401", "403"]
            if "{" in path or _takes_org_header(operation):
                expected.append("404")  # an unknown id, or an X-Current-Org the caller is not in
            if method in _BODY_METHODS or operation.get("requestBody"):
                expected += ["413", "415"]  # read before any view code runs
            for status in expected:
                responses.setdefault(
                    status,
                    {
                        "description": _ERROR_DESCRIPTIONS[status],
                        "content": {"application/json": {"schema": _ERROR_REF}},
                    },
                )
            operation["responses"] = dict(sorted(responses.items()))
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
        if gateway != "stripe":  # Stripe's endpoint answers 400 `not_configured` instead
            operation["responses"]["404"] = {
                "description": "This server takes no payments through this gateway (no keys, or the sandbox "
                "switched off): nothing is read or stored.",
                **error,
            }
        operation["responses"] = dict(sorted(operation["responses"].items()))
        result.setdefault("paths", {})[f"/webhooks/{gateway}"] = {"post": operation}
    return result
