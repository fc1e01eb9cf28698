"""The admin's reprocess action on stored inbound events."""

import pytest

import billing.services
from invoices.models import Invoice
from payments.models import Payment
from payments.tests.support import post_webhook, start_checkout, success_event_for
from webhooks.models import InboundEvent

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/webhooks/inboundevent/"


def _crash(**kwargs):
    raise RuntimeError("ledger unavailable")


@pytest.fixture
def checkout(owner, pro) -> Payment:
    data = start_checkout(owner, pro)
    return Payment.objects.get(pk=data["session_id"])


@pytest.fixture
def failed_event(checkout, monkeypatch) -> InboundEvent:
    """A success event for `checkout` whose processing failed (kept for a retry)."""
    with monkeypatch.context() as patch:
        patch.setattr(billing.services, "gateway_event_apply", _crash)
        assert post_webhook(*success_event_for(checkout)).status_code == 500
    inbound = InboundEvent.objects.get()
    assert inbound.outcome == "failed"
    return inbound


def reprocess(browser, *events):
    return browser.post(
        CHANGELIST, {"action": "reprocess", "_selected_action": [str(e.pk) for e in events]}, follow=True
    )


def test_reprocess_applies_a_failed_event(staff_client, checkout, failed_event):
    response = reprocess(staff_client, failed_event)

    assert response.status_code == 200
    assert "Processed 1 event(s); 0 failed again." in response.content.decode()
    failed_event.refresh_from_db()
    assert (failed_event.outcome, failed_event.error, failed_event.attempts) == ("processed", "", 2)
    assert failed_event.processed_at is not None
    checkout.refresh_from_db()
    assert checkout.status == "succeeded"
    assert Invoice.objects.get(pk=checkout.invoice_id).status == "paid"


def test_reprocess_that_fails_again_keeps_the_event_failed_with_the_new_error(
    staff_client, checkout, failed_event, monkeypatch
):
    def crash_differently(**kwargs):
        raise ValueError("still broken")

    monkeypatch.setattr(billing.services, "gateway_event_apply", crash_differently)

    response = reprocess(staff_client, failed_event)

    html = response.content.decode()
    assert "Processed 0 event(s); 1 failed again." in html
    assert "still broken" in html
    failed_event.refresh_from_db()
    assert (failed_event.outcome, failed_event.error, failed_event.attempts) == (
        "failed",
        "ValueError: still broken",
        2,
    )
    checkout.refresh_from_db()
    assert checkout.status == "pending"


def test_reprocess_skips_processed_events(staff_client, checkout):
    post_webhook(*success_event_for(checkout))
    processed = InboundEvent.objects.get()

    response = reprocess(staff_client, processed)

    assert "Processed 0 event(s); 0 failed again." in response.content.decode()
    processed.refresh_from_db()
    assert (processed.outcome, processed.attempts) == ("processed", 1)


def test_reprocess_is_for_staff_only(client, checkout, failed_event):
    response = client.post(CHANGELIST, {"action": "reprocess", "_selected_action": [str(failed_event.pk)]})

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    failed_event.refresh_from_db()
    assert failed_event.outcome == "failed"
    checkout.refresh_from_db()
    assert checkout.status == "pending"


def test_the_admin_lists_failed_events_with_their_error(staff_client, failed_event):
    response = staff_client.get(CHANGELIST, {"outcome__exact": "failed"})

    assert response.status_code == 200
    assert failed_event.event_id in response.content.decode()
    detail = staff_client.get(f"{CHANGELIST}{failed_event.pk}/change/")
    assert "RuntimeError: ledger unavailable" in detail.content.decode()


def test_reprocessing_a_stored_sandbox_event_with_the_sandbox_disabled_pays_nothing(
    staff_client, checkout, failed_event, settings
):
    settings.SANDBOX_GATEWAY_ENABLED = False

    response = reprocess(staff_client, failed_event)

    assert response.status_code == 200
    assert "Processed 0 event(s); 1 failed again." in response.content.decode()
    failed_event.refresh_from_db()
    assert failed_event.outcome == "failed"
    checkout.refresh_from_db()
    assert checkout.status == "pending"
    assert Invoice.objects.get(pk=checkout.invoice_id).status == "open"
