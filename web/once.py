"""The Idempotency-Key rules of API.md, for form posts.

Every form that changes something carries a hidden `idempotency_key`, new each time the
form is rendered ({% form_key %}). The POST claims it in the same store as the API's
Idempotency-Key (idempotency.mixins), scoped to the person and organization: a second
submission of the same form (a double click, a resent POST after a timeout, the back
button) gets the first answer, a redirect to where the first one went, instead of acting
twice. While the first is still running, the second waits for it a few seconds."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render

from billing_project.errors import Conflict
from idempotency.mixins import (
    KeyReused,
    Replay,
    idempotency_claim,
    idempotency_complete,
    idempotency_release,
    request_hash_of,
)
from idempotency.models import IdempotencyRecord

FIELD = "idempotency_key"
WAIT_SECONDS = 5.0
IGNORED_FIELDS = {"csrfmiddlewaretoken", FIELD}


def _scope(request) -> str:
    organization = getattr(request, "organization", None)
    return f"page:user:{request.user.pk}|org:{organization.pk if organization else '-'}"


def _body(request) -> str:
    items = sorted(
        (name, value) for name, values in request.POST.lists() if name not in IGNORED_FIELDS for value in values
    )
    return "&".join(f"{name}={value}" for name, value in items)


def _replayed(record: IdempotencyRecord) -> HttpResponse:
    location = bytes(record.response_body or b"").decode()
    response = HttpResponseRedirect(location or "/account/")
    response["Idempotent-Replayed"] = "true"
    return response


def _wait_for(scope: str, key: str) -> IdempotencyRecord | None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(0.1)
        record = IdempotencyRecord.objects.filter(scope=scope, key=key, status=IdempotencyRecord.COMPLETED).first()
        if record is not None:
            return record
    return None


def once(request, perform: Callable[[], HttpResponse]) -> HttpResponse:
    """Run `perform` (which answers with a redirect) at most once per form key."""
    key = (request.POST.get(FIELD) or "").strip()
    if not key or len(key) > 255:
        return render(
            request,
            "web/refused.html",
            {"message": "This form is out of date. Go back, reload the page and submit it again."},
            status=400,
        )
    scope = _scope(request)
    try:
        record = idempotency_claim(
            scope=scope,
            key=key,
            method="POST",
            path=request.path,
            request_hash=request_hash_of("POST", request.path, _body(request)),
        )
    except Replay as replay:
        return _replayed(replay.record)
    except KeyReused as exc:
        return render(request, "web/refused.html", {"message": exc.message}, status=422)
    except Conflict:
        finished = _wait_for(scope, key)
        if finished is not None:
            return _replayed(finished)
        return render(
            request,
            "web/refused.html",
            {"message": "This form is still being processed. Reload the page in a moment."},
            status=409,
        )
    try:
        response = perform()
    except Exception:
        idempotency_release(record=record)  # refused or failed: the form may be sent again
        raise
    if response.status_code >= 400:
        idempotency_release(record=record)
        return response
    idempotency_complete(record=record, status=response.status_code, body=response.get("Location", "").encode())
    return response
