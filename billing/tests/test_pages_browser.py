"""The server-rendered pages in headless Chromium under their Content-Security-Policy:
they render styled, their buttons and forms work, and the browser reports no violation
(the sandbox checkout, the billing portal, the admin, Swagger UI and ReDoc)."""

from __future__ import annotations

import uuid
from urllib.parse import quote, urlsplit

import pytest
from playwright.sync_api import sync_playwright
from rest_framework.test import APIClient

from accounts.models import User
from plans.demo import demo_catalogue_ensure
from plans.models import Plan

from .test_e2e_browser import CHROMIUM, CHROMIUM_ARGS, LOOPBACK, PASSWORD

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Chromium at {CHROMIUM} (apt-get install chromium)"),
]

# Every violation of the page's policy, as the page itself sees it.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + (event.blockedURI || "inline"));
});
"""


@pytest.fixture
def site(live_server, settings):
    settings.SITE_URL = live_server.url
    return live_server.url


@pytest.fixture
def customer(site) -> APIClient:
    demo_catalogue_ensure()
    Plan.objects.filter(code="pro").update(trial_days=0)
    api = APIClient()
    email = f"csp-{uuid.uuid4().hex[:8]}@example.com"
    api.post("/api/v1/auth/register", {"name": "Cas Pe", "email": email, "password": PASSWORD}, format="json")
    token = api.post("/api/v1/auth/login", {"email": email, "password": PASSWORD}, format="json").json()["data"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token['token']}")
    return api


class Browser:
    """One Chromium page that may reach loopback only, and records CSP violations and
    console errors."""

    def __init__(self, page):
        self.page = page
        self.console_errors: list[str] = []
        self.blocked: list[str] = []
        page.on("console", lambda message: message.type == "error" and self.console_errors.append(message.text))
        page.add_init_script(RECORD_VIOLATIONS)
        page.route("**/*", self._loopback_only)
        page.set_default_timeout(15_000)

    def _loopback_only(self, route):
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def open(self, url: str) -> None:
        response = self.page.goto(url)
        assert response is not None and response.status == 200, url
        assert "'unsafe-inline'" not in response.headers["content-security-policy"].split("script-src")[1].split(";")[0]

    def assert_clean(self, *, expected: tuple[str, ...] = ()) -> None:
        violations = [v for v in self.page.evaluate("window.__cspViolations") if v not in expected]
        csp_console = [
            text
            for text in self.console_errors
            if "Content Security Policy" in text and not any(e.split()[1] in text for e in expected)
        ]
        assert violations == [] and csp_console == [], (violations, csp_console)
        assert self.blocked == [], f"the page tried to leave loopback: {self.blocked}"


def in_chromium(steps) -> None:
    """Run `steps(browser)` in a fresh headless Chromium; no ORM call may happen in there
    (Playwright's sync API runs an event loop in this thread)."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            steps(Browser(chromium.new_page(viewport={"width": 1000, "height": 800})))
        finally:
            chromium.close()


def background_of(browser: Browser, selector: str) -> str:
    return browser.page.eval_on_selector(selector, "element => getComputedStyle(element).backgroundColor")


def test_the_sandbox_checkout_page_pays_under_its_policy(customer, site):
    pro = Plan.objects.get(code="pro")
    checkout = customer.post(
        "/api/v1/checkout/create",
        {"plan_id": str(pro.pk), "success_url": f"{site}/live?ok=1", "cancel_url": f"{site}/live?cancel=1"},
        format="json",
    ).json()["data"]

    def steps(browser: Browser) -> None:
        browser.open(checkout["checkout_url"])
        assert background_of(browser, "#pay") == "rgb(31, 136, 61)"  # the stylesheet applies
        browser.assert_clean()
        browser.page.click("#pay")
        browser.page.wait_for_url(lambda url: url.startswith(f"{site}/live?ok=1"))
        browser.assert_clean()

    in_chromium(steps)

    assert customer.get("/api/v1/subscriptions").json()["data"]["status"] == "active"


def test_the_billing_portal_page_works_under_its_policy(customer, site):
    pro = Plan.objects.get(code="pro")
    checkout = customer.post(
        "/api/v1/checkout/create",
        {"plan_id": str(pro.pk), "success_url": f"{site}/live?ok=1", "cancel_url": f"{site}/live?cancel=1"},
        format="json",
    ).json()["data"]
    portal = customer.post("/api/v1/billing/portal", {"return_url": f"{site}/live?back=1"}, format="json")
    portal_url = portal.json()["data"]["portal_url"]
    hostile = portal_url.split("?")[0] + "?return_url=" + quote("javascript:alert(1)", safe="")

    def steps(browser: Browser) -> None:
        browser.open(checkout["checkout_url"])
        browser.page.click("#pay")
        browser.page.wait_for_url(lambda url: url.startswith(f"{site}/live?ok=1"))
        browser.open(portal_url)
        assert background_of(browser, "button.danger") == "rgb(153, 27, 27)"  # the site's stylesheet (--bad)
        browser.page.click("button[value=cancel]")
        browser.page.wait_for_selector("text=Your subscription will end at the end of the period.")
        browser.assert_clean()
        browser.page.click("a.button:text('Return')")
        browser.page.wait_for_url(lambda url: url.startswith(f"{site}/live?back=1"))
        browser.open(hostile)
        assert browser.page.locator("a.button:text('Return')").count() == 0
        browser.assert_clean()

    in_chromium(steps)

    assert customer.get("/api/v1/subscriptions").json()["data"]["cancel_at_period_end"] is True


def test_the_admin_signs_in_under_its_policy(site):
    User.objects.create_superuser(email="csp-admin@example.com", password=PASSWORD)

    def steps(browser: Browser) -> None:
        browser.open(f"{site}/admin/login/")
        browser.page.fill("#id_username", "csp-admin@example.com")
        browser.page.fill("#id_password", PASSWORD)
        browser.page.click("input[type=submit]")
        browser.page.wait_for_url(f"{site}/admin/")
        browser.page.wait_for_selector("text=Site administration")
        browser.assert_clean()

    in_chromium(steps)


def test_swagger_ui_renders_the_api_under_its_policy(site):
    def steps(browser: Browser) -> None:
        browser.open(f"{site}/api/docs/")
        browser.page.wait_for_selector(".swagger-ui .info .title")
        browser.page.wait_for_selector(".opblock-tag")
        browser.assert_clean()

    in_chromium(steps)


def test_redoc_renders_the_api_under_its_policy(site):
    def steps(browser: Browser) -> None:
        browser.open(f"{site}/api/redoc/")
        browser.page.wait_for_selector("h1:text('Billing backend API')")
        # ReDoc's footer always asks Redocly's CDN for its logo: blocked on purpose (no
        # third-party request from our pages); the page hides the broken image itself.
        browser.assert_clean(expected=("img-src https://cdn.redoc.ly/redoc/logo-mini.svg",))

    in_chromium(steps)
