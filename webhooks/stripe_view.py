"""POST /webhooks/stripe: Stripe's events through dj-stripe's signature-verified
WebhookEventTrigger (300 s tolerance, stored, each event id processed once); this
project's handlers run on dj-stripe's signals (payments.stripe_events)."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing_project.api.envelope import error_body

logger = logging.getLogger(__name__)
TOLERANCE_SECONDS = 300


def _signature_timestamp(header: str) -> int | None:
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _refuse(message: str, status: int = 400, code: str = "invalid_signature") -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)


@csrf_exempt
@require_POST
def stripe_webhook(request):
    from djstripe.models import WebhookEndpoint, WebhookEventTrigger

    endpoint = WebhookEndpoint.objects.filter(livemode=settings.STRIPE_LIVE_MODE).order_by("-djstripe_id").first()
    if not settings.STRIPE_SECRET_KEY or endpoint is None or not endpoint.secret:
        return _refuse("Stripe webhooks are not configured (run manage.py stripe_setup).", 400, "not_configured")
    timestamp = _signature_timestamp(request.headers.get("Stripe-Signature", ""))
    if timestamp is None:
        return _refuse("The Stripe-Signature header is missing or malformed.")
    if timestamp > time.time() + TOLERANCE_SECONDS:  # the stripe library only refuses old ones
        return _refuse("The signature's timestamp is in the future.")
    try:
        trigger = WebhookEventTrigger.from_request(request, webhook_endpoint=endpoint)
    except Exception:
        logger.exception("Processing a Stripe event failed")
        return JsonResponse({"received": False, "error": "processing failed; retry later"}, status=500)
    if not trigger.valid:
        return _refuse("The Stripe signature is invalid or too old.")
    return JsonResponse({"received": True})
