"""`Idempotency-Key` on the POSTs that move money (API.md).

A retry with the same key and the same request gets the first answer (status and body)
without doing the work again; the same key with another request is 422; the same key
while the first request is still running is 409. Keys are kept IDEMPOTENCY_KEY_HOURS.
A 5xx answer is not kept, so the client can retry.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone

from billing_project.api.text import text_problem
from billing_project.errors import Conflict, DomainError, ValidationFailed

from .models import IdempotencyRecord

HEADER = "HTTP_IDEMPOTENCY_KEY"
# A claim older than this whose request never finished (the process died) can be taken over.
ABANDONED_AFTER = timedelta(minutes=5)


class KeyReused(DomainError):
    status_code = 422
    code = "idempotency_key_reused"
    default_message = "This Idempotency-Key was used with a different request."


class Replay(Exception):
    """The key's request already finished: `record` holds its answer."""

    def __init__(self, record: IdempotencyRecord):
        self.record = record


def _request_hash(request) -> str:
    try:
        body = json.dumps(request.data, sort_keys=True, default=str)
    except (TypeError, ValueError):
        body = request.body.decode("utf-8", "replace")
    return request_hash_of(request.method, request.path, body)


def request_hash_of(method: str, path: str, body: str) -> str:
    return hashlib.sha256(f"{method} {path}\n{body}".encode()).hexdigest()


def _claim(*, scope: str, key: str, request) -> IdempotencyRecord | None:
    return idempotency_claim(
        scope=scope, key=key, method=request.method, path=request.path, request_hash=_request_hash(request)
    )


def idempotency_claim(*, scope: str, key: str, method: str, path: str, request_hash: str) -> IdempotencyRecord:
    """Claim `key` in `scope` for one request: the new record, or Replay (done before),
    KeyReused (another request) or Conflict (still running)."""
    now = timezone.now()
    IdempotencyRecord.objects.filter(scope=scope, key=key, expires_at__lte=now).delete()
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(
                scope=scope,
                key=key,
                method=method,
                path=path,
                request_hash=request_hash,
                expires_at=now + timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS),
            )
    except IntegrityError:
        pass
    existing = IdempotencyRecord.objects.filter(scope=scope, key=key).first()
    if existing is None:  # expired and deleted in between: try once more
        return idempotency_claim(scope=scope, key=key, method=method, path=path, request_hash=request_hash)
    if existing.request_hash != request_hash:
        raise KeyReused()
    if existing.status == IdempotencyRecord.COMPLETED:
        raise Replay(existing)
    if existing.created_at > now - ABANDONED_AFTER:
        raise Conflict("A request with this Idempotency-Key is still being processed.", code="idempotency_in_progress")
    IdempotencyRecord.objects.filter(pk=existing.pk, status=IdempotencyRecord.IN_PROGRESS).update(created_at=now)
    return existing


def idempotency_complete(*, record: IdempotencyRecord, status: int, body: bytes) -> None:
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        status=IdempotencyRecord.COMPLETED, response_status=status, response_body=body
    )


def idempotency_release(*, record: IdempotencyRecord) -> None:
    """Forget a claim whose request failed, so a retry runs again."""
    IdempotencyRecord.objects.filter(pk=record.pk).delete()


class IdempotentMixin:
    """For APIViews whose POST/PUT handlers should honour `Idempotency-Key`."""

    idempotent_methods = ("POST", "PUT")
    _idempotency_record: IdempotencyRecord | None = None

    def _idempotency_scope(self, request) -> str:
        organization = getattr(self, "organization", None)
        principal = getattr(request, "auth", None)
        who = f"key:{principal.key_id}" if hasattr(principal, "key_id") else f"user:{request.user.pk}"
        return f"{who}|org:{organization.pk if organization else '-'}"

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        key = request.META.get(HEADER)
        if key is None or request.method not in self.idempotent_methods:
            return
        key = key.strip()
        if not key or len(key) > 255:
            raise ValidationFailed(
                "Idempotency-Key must be 1 to 255 characters.",
                details={"idempotency_key": ["Must be 1 to 255 characters."]},
            )
        problem = text_problem(key)
        if problem:
            raise ValidationFailed(f"Idempotency-Key: {problem}", details={"idempotency_key": [problem]})
        self._idempotency_record = _claim(scope=self._idempotency_scope(request), key=key, request=request)

    def handle_exception(self, exc):
        if isinstance(exc, Replay):
            response = HttpResponse(
                bytes(exc.record.response_body or b""),
                status=exc.record.response_status,
                content_type="application/json",
            )
            response["Idempotent-Replayed"] = "true"
            return response
        return super().handle_exception(exc)

    def raise_uncaught_exception(self, exc):
        # A crash skips finalize_response (the middleware answers the 500): release the
        # claim here, or the client's retry would be a 409 until the claim is abandoned.
        record, self._idempotency_record = self._idempotency_record, None
        if record is not None:
            idempotency_release(record=record)
        super().raise_uncaught_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        record = self._idempotency_record
        if record is None:
            return response
        self._idempotency_record = None
        if response.status_code >= 500:
            idempotency_release(record=record)
            return response
        if hasattr(response, "render") and not getattr(response, "is_rendered", True):
            response.render()
        idempotency_complete(record=record, status=response.status_code, body=bytes(response.content))
        return response
