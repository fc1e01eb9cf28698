"""The sandbox checkout in a real browser: headless Chromium against a live server.

The same loop as test_checkout_flow.py (checkout, the hosted page, Pay or Decline), but the
page is rendered, its buttons clicked and its redirects followed by Chromium. Needs Debian's
`chromium` (/usr/bin/chromium; .ci/run installs it when it runs as root); skipped without it.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import sync_playwright
from rest_framework.test import APIClient

from plans.demo import demo_catalogue_ensure
from plans.models import Plan

CHROMIUM = Path("/usr/bin/chromium")
# No first-run pages, no component or sync updates, no background requests: the browser
# talks to the live server on loopback and nothing else. Debian's wrapper still turns on
# Google services (API keys, remote extensions) that look up update.googleapis.com and
# accounts.google.com, so every name but localhost resolves to nothing, without a DNS query.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
]
SCREENSHOT = Path("/tmp/sandbox-checkout.png")
PASSWORD = "Sup3r-secret-pw"
LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"needs Chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it as root)",
    ),
]


@pytest.fixture
def site(live_server, settings):
    """The live server is the site: hosted checkout links and redirects point at it."""
    settings.SITE_URL = live_server.url
    host = urlsplit(live_server.url).hostname
    if host not in settings.ALLOWED_REDIRECT_HOSTS:
        settings.ALLOWED_REDIRECT_HOSTS = [*settings.ALLOWED_REDIRECT_HOSTS, host]
    return live_server.url


@pytest.fixture
def pro(site):
    # Transactional tests flush every table, so the demo plans are made anew for each test.
    demo_catalogue_ensure()
    plan = Plan.objects.get(code="pro")
    plan.trial_days = 0
    plan.save()
    return plan


@pytest.fixture
def customer(site) -> APIClient:
    """A newly registered user, signed in with the token from /auth/login."""
    api = APIClient()
    email = f"e2e-{uuid.uuid4().hex[:8]}@example.com"
    registered = api.post(
        "/api/v1/auth/register", {"name": "Eve Browser", "email": email, "password": PASSWORD}, format="json"
    )
    assert registered.status_code == 201, registered.content
    login = api.post("/api/v1/auth/login", {"email": email, "password": PASSWORD}, format="json")
    assert login.status_code == 200, login.content
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {login.json()['data']['token']}")
    return api


def start_checkout(client: APIClient, plan: Plan, site: str) -> dict:
    response = client.post(
        "/api/v1/checkout/create",
        {"plan_id": str(plan.pk), "success_url": f"{site}/live?ok=1", "cancel_url": f"{site}/live?cancel=1"},
        format="json",
    )
    assert response.status_code == 200, response.content
    checkout = response.json()["data"]
    assert checkout["checkout_url"].startswith(f"{site}/sandbox/checkout/")
    return checkout


def click_through(checkout_url: str, button: str, lands_on: str, screenshot: Path | None = None) -> str:
    """Open the hosted page in Chromium, click `button` and return the URL it redirects to.

    No ORM or API call may happen in here: Playwright's sync API runs an event loop in this
    thread, and Django refuses database work while one is running."""
    blocked: list[str] = []

    def loopback_only(route):
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 900, "height": 700})
            page.set_default_timeout(15_000)
            page.route("**/*", loopback_only)
            response = page.goto(checkout_url)
            assert response is not None and response.status == 200
            assert "$29.99" in page.locator(".amount").inner_text()
            assert page.locator("#pay").inner_text() == "Pay $29.99"
            assert page.locator("#decline").is_visible()
            assert page.locator("#status").inner_text() == "Pending"
            if screenshot:
                page.screenshot(path=str(screenshot), full_page=True)
            page.click(button)
            page.wait_for_url(lambda url: url.startswith(lands_on))
            landed = page.url
        finally:
            browser.close()
    assert blocked == [], f"the browser tried to leave loopback: {blocked}"
    return landed


def test_paying_in_the_browser_activates_the_subscription_and_pays_the_invoice(customer, pro, site):
    checkout = start_checkout(customer, pro, site)

    landed = click_through(checkout["checkout_url"], "#pay", f"{site}/live?ok=1", screenshot=SCREENSHOT)

    assert parse_qs(urlsplit(landed).query)["session_id"] == [checkout["session_id"]]
    subscription = customer.get("/api/v1/subscriptions").json()["data"]
    assert subscription["id"] == checkout["subscription_id"]
    assert subscription["status"] == "active"
    invoices = customer.get("/api/v1/invoices").json()["data"]
    assert [invoice["status"] for invoice in invoices] == ["paid"]
    assert invoices[0]["total_cents"] == 2999


def test_declining_in_the_browser_leaves_the_subscription_incomplete_and_the_invoice_open(customer, pro, site):
    checkout = start_checkout(customer, pro, site)

    landed = click_through(checkout["checkout_url"], "#decline", f"{site}/live?cancel=1")

    assert parse_qs(urlsplit(landed).query)["session_id"] == [checkout["session_id"]]
    subscription = customer.get("/api/v1/subscriptions").json()["data"]
    assert subscription["id"] == checkout["subscription_id"]
    assert subscription["status"] == "incomplete"
    invoices = customer.get("/api/v1/invoices").json()["data"]
    assert [invoice["status"] for invoice in invoices] == ["open"]
