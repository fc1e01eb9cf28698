"""The whole loop through the sandbox: checkout, the hosted page, Pay or Decline (`pro` is
the shared world's demo plan without its trial)."""

import re

import pytest
from django.test import Client

from invoices.models import Invoice
from subscriptions.models import Subscription

pytestmark = pytest.mark.django_db

SUCCESS = "http://localhost:3000/billing/success"
CANCEL = "http://localhost:3000/billing/cancel"


def start_checkout(auth_client, plan) -> dict:
    response = auth_client.post(
        "/api/v1/checkout/create",
        {"plan_id": str(plan.pk), "success_url": SUCCESS, "cancel_url": CANCEL},
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()["data"]


def test_paying_on_the_sandbox_page_activates_the_subscription_and_pays_the_invoice(
    auth_client, pro, django_capture_on_commit_callbacks
):
    checkout = start_checkout(auth_client, pro)
    subscription = Subscription.objects.get(pk=checkout["subscription_id"])
    assert subscription.status == "incomplete"

    browser = Client(enforce_csrf_checks=True)
    page = browser.get(checkout["checkout_url"].replace("http://127.0.0.1:8000", ""))
    assert page.status_code == 200
    html = page.content.decode()
    assert "$29.99" in html and "Pay" in html and "Decline" in html
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    with django_capture_on_commit_callbacks(execute=True):  # the PDF task runs after commit
        paid = browser.post(page.request["PATH_INFO"], {"action": "pay", "csrfmiddlewaretoken": token})

    assert paid.status_code == 302
    assert paid["Location"].startswith(SUCCESS)
    subscription.refresh_from_db()
    assert subscription.status == "active"
    assert subscription.payment_method == "pm_sandbox_ok"
    invoice = Invoice.objects.get(subscription=subscription)
    assert invoice.status == "paid"
    assert invoice.pdf.name.endswith(".pdf")
    status = auth_client.get("/api/v1/checkout/success", {"session_id": checkout["session_id"]}).json()["data"]
    assert status["status"] == "paid"
    assert status["subscription"]["status"] == "active"


def test_declining_leaves_the_subscription_incomplete_and_the_invoice_open(auth_client, pro):
    checkout = start_checkout(auth_client, pro)
    browser = Client()
    path = checkout["checkout_url"].replace("http://127.0.0.1:8000", "")
    declined = browser.post(path, {"action": "decline"})

    assert declined.status_code == 302
    assert declined["Location"].startswith(CANCEL)
    subscription = Subscription.objects.get(pk=checkout["subscription_id"])
    assert subscription.status == "incomplete"
    assert Invoice.objects.get(subscription=subscription).status == "open"
    page = browser.get(path).content.decode()
    assert "declined" in page
