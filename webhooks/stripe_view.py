"""POST /webhooks/stripe: Stripe's events through dj-stripe's WebhookEventTrigger (stored,
each event id processed once); this project's receiver runs on dj-stripe's signals
(webhooks.stripe_events).

The Stripe-Signature is checked here first, against the endpoint's secret only, with
300 s tolerance either way: a request that is not signed by Stripe is a 400 and writes
nothing (dj-stripe stores a trigger row for every request it is handed, signed or not, and
under DEBUG it would take the secret from a request header)."""

from __future__ import annotations

import logging
import time

import stripe
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


def _signature_problem(body: bytes, header: str, secret: str) -> str:
    """Why the request is not signed by Stripe with `secret` ("" when it is)."""
    timestamp = _signature_timestamp(header)
    if timestamp is None:
        return "The Stripe-Signature header is missing or malformed."
    if abs(time.time() - timestamp) > TOLERANCE_SECONDS:  # the stripe library only refuses old ones
        return "The Stripe signature's timestamp is more than 300 seconds away."
    try:
        stripe.WebhookSignature.verify_header(body.decode("utf-8"), header, secret, TOLERANCE_SECONDS)
    except (stripe.SignatureVerificationError, UnicodeDecodeError):
        return "The Stripe signature is invalid."
    return ""


@csrf_exempt
@require_POST
def stripe_webhook(request):
    from djstripe.models import WebhookEndpoint, WebhookEventTrigger

    endpoint = WebhookEndpoint.objects.filter(livemode=settings.STRIPE_LIVE_MODE).order_by("-djstripe_id").first()
    if not settings.STRIPE_SECRET_KEY or endpoint is None or not endpoint.secret:
        return _refuse("Stripe webhooks are not configured (run manage.py stripe_setup).", 400, "not_configured")
    problem = _signature_problem(request.body, request.headers.get("Stripe-Signature", ""), endpoint.secret)
    if problem:
        return _refuse(problem)
    try:
        trigger = WebhookEventTrigger.from_request(request, webhook_endpoint=endpoint)
    except Exception:
        logger.exception("Processing a Stripe event failed")
        return JsonResponse({"received": False, "error": "processing failed; retry later"}, status=500)
    if not trigger.valid:
        return _refuse("The Stripe signature is invalid or too old.")
    return JsonResponse({"received": True})
