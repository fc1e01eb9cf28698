"""Inbound webhooks: no session auth; each gateway verifies its own way."""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing_project.api.envelope import error_body
from billing_project.errors import DomainError

from .services import EventProcessingFailed, event_receive


@csrf_exempt
@require_POST
def receive(request, gateway: str):
    """`{"received": true}` once stored and processed (or a replay); 400 for a bad
    signature (nothing stored); 500 when processing failed (kept for a retry)."""
    try:
        event_receive(gateway=gateway, body=request.body, headers=request.META)
    except DomainError as exc:
        return JsonResponse(error_body(exc.code, exc.message), status=exc.status_code)
    except EventProcessingFailed:
        return JsonResponse({"received": False, "error": "processing failed; retry later"}, status=500)
    return JsonResponse({"received": True})
