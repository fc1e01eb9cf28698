"""POST /webhooks/stripe checks the Stripe-Signature before anything is stored: traffic
that is not signed with the endpoint's secret (within 300 s) is a 400 and writes no row
of any kind, so it cannot grow the database. Against the fake Stripe API."""

from __future__ import annotations

import time

import pytest
from django.apps import apps
from django.test import Client

from payments.models import Payment

from .fake_stripe import FAKE_WEBHOOK_SECRET, sign_event
from .support import assert_error, start_checkout

pytestmark = pytest.mark.django_db

BAD_POSTS = 25


def post(body: bytes, signature: str | None):
    headers = {} if signature is None else {"HTTP_STRIPE_SIGNATURE": signature}
    return Client().post("/webhooks/stripe", data=body, content_type="application/json", **headers)


def row_counts() -> dict[str, int]:
    """Rows in every table of the project and of dj-stripe."""
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


@pytest.fixture
def a_real_event(stripe_ready, owner, pro) -> tuple[Payment, dict]:
    data = start_checkout(owner, pro, gateway="stripe")
    payment = Payment.objects.get(pk=data["session_id"])
    return payment, stripe_ready.complete_checkout(payment.reference)[0]


def forgeries(event: dict) -> list[tuple[bytes, str | None]]:
    body, good = sign_event(event)
    timestamp = int(time.time())
    return [
        sign_event(event, secret="whsec_wrong")[0:2],
        (body, None),
        (body, ""),
        (body, "garbage"),
        (body, f"t={timestamp},v1={'0' * 64}"),
        (body, good.replace("t=", "t=1")),
        (body + b" ", good),  # the body changed after signing
        sign_event(event, timestamp=timestamp - 600),
        sign_event(event, timestamp=timestamp + 600),
        (b"\xff\xfe not utf-8", good),
    ]


def test_badly_signed_posts_write_no_row_of_any_kind(a_real_event):
    from djstripe.models import WebhookEventTrigger

    payment, event = a_real_event
    before = row_counts()
    triggers = WebhookEventTrigger.objects.count()

    for index in range(BAD_POSTS):
        body, signature = forgeries(event)[index % 10]
        assert_error(post(body, signature), 400, "invalid_signature")

    assert WebhookEventTrigger.objects.count() == triggers
    assert row_counts() == before
    payment.refresh_from_db()
    assert payment.status == "pending"


def test_a_well_signed_event_still_goes_through_dj_stripe_and_pays(a_real_event):
    from djstripe.models import WebhookEventTrigger

    payment, event = a_real_event

    response = post(*sign_event(event, FAKE_WEBHOOK_SECRET))

    assert response.status_code == 200, response.content
    assert response.json() == {"received": True}
    trigger = WebhookEventTrigger.objects.get()
    assert (trigger.valid, trigger.processed) == (True, True)
    payment.refresh_from_db()
    assert payment.status == "succeeded"


def test_a_signature_made_with_a_secret_sent_in_a_header_is_refused_even_with_debug(a_real_event, settings):
    """dj-stripe takes the secret from `X-Djstripe-Webhook-Secret` under DEBUG (for the
    Stripe CLI); the secret must never come from the request."""
    from djstripe.models import WebhookEventTrigger

    settings.DEBUG = True
    payment, event = a_real_event
    body, signature = sign_event(event, secret="whsec_attacker")

    response = Client().post(
        "/webhooks/stripe",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature,
        HTTP_X_DJSTRIPE_WEBHOOK_SECRET="whsec_attacker",
    )

    assert_error(response, 400, "invalid_signature")
    assert WebhookEventTrigger.objects.count() == 0
    payment.refresh_from_db()
    assert payment.status == "pending"
