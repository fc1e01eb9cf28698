"""Every page of the customer site in headless Chromium, at the desktop (1280 px) and the
phone (375 px) width, with an organization that has something on each page (a paid Pro
subscription, usage, an API key, a teammate, credit, a dispute): each answers 200, and
the harness (web/tests/browser.py) finds no axe-core violation of impact serious or
critical, no CSP violation or console error, no request to another host, no sideways
scroll on the phone. Swagger UI and ReDoc load their assets from this server too."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apikeys.services import apikey_create
from billing_project.tests.world import REPORT, Customer, customer_create, iso, member_of, paid_plans
from credits.services import credits_grant
from invoices.models import Invoice
from organizations.models import Role
from payments.disputes import dispute_open

from .browser import BROWSER_MARKS, PASSWORD, chromium, serve_site

pytestmark = BROWSER_MARKS

SIGNED_OUT = [
    ("/", "pricing", 200),
    ("/signup", "sign-up", 200),
    ("/login", "sign-in", 200),
    ("/reset-password", "reset-password", 200),
    # An unknown invitation token is a 404 page that says so (web.views.auth.invitation).
    ("/invitations/accept?token=bad", "invitation-not-valid", 404),
]


@pytest.fixture
def site(live_server, settings) -> str:
    return serve_site(live_server, settings)


@pytest.fixture
def account(site, media_in_tmp) -> dict:
    """A customer on Pro (paid on the sandbox page) with usage, a key, a teammate, credit
    and a dispute; the owner signs in with the factories' PASSWORD."""
    paid_plans()
    customer: Customer = customer_create()
    checkout = customer.subscribe("pro")
    now = timezone.now()
    for tokens in (120_000, 80_000):
        reported = customer.service().post(
            REPORT, {"event_type": "tokens_used", "quantity": tokens, "timestamp": iso(now)}, format="json"
        )
        assert reported.status_code == 201, reported.content
    customer.report_ok("call_minutes", now, 42)
    organization = customer.organization
    apikey_create(organization=organization, created_by=customer.owner, name="reporting", scopes=["usage:read"])
    member_of(organization, Role.BILLING)
    credits_grant(organization=organization, amount_cents=1500, reason="Welcome credit")
    invoice = Invoice.objects.get(organization=organization)
    dispute_open(
        organization=organization,
        opened_by=customer.owner,
        reason="incorrect_amount",
        description="The first invoice is higher than the price on the pricing page.",
        requested_refund_cents=500,
        invoice_id=invoice.pk,
    )
    pages = [
        ("/account/", "overview"),
        ("/account/usage", "usage"),
        ("/account/plans", "plans"),
        ("/account/invoices", "invoices"),
        (f"/account/invoices/{invoice.pk}", "invoice"),
        ("/account/payment", "payment"),
        ("/account/credits", "credits"),
        ("/account/keys", "api-keys"),
        ("/account/team", "team"),
        ("/account/disputes", "disputes"),
        (f"/account/checkout/done?session_id={checkout['session_id']}", "checkout-done"),
    ]
    return {"email": customer.owner.email, "organization": organization.name, "pages": pages}


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_every_customer_page_is_accessible_self_contained_and_fits(site, account, phone):
    with chromium(site, "phone" if phone else "desktop") as browser:
        visitor = browser.page(phone=phone)
        page = visitor.page
        for path, name, status in SIGNED_OUT:
            visitor.goto(path, name, status=status)

        visitor.goto("/login", "sign-in-form")
        page.get_by_label("Email").fill(account["email"])
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        visitor.wait_for_path("/account/")
        visitor.step("signed-in")
        page.get_by_label("Switch organization").select_option(label=account["organization"])
        page.get_by_role("button", name="Switch", exact=True).click()
        page.get_by_text(f"Now showing {account['organization']}.").wait_for()
        visitor.step("switched")

        for path, name in account["pages"]:
            visitor.goto(path, name)
        # Every failure of every page at once (chromium() raises them on the way out).


def test_the_api_documentation_loads_nothing_from_another_host(site):
    with chromium(site, "api-docs") as browser:
        visitor = browser.page()
        page = visitor.page
        visitor.goto("/api/docs/", "swagger-ui", axe=False, full_page=False)
        page.wait_for_selector(".swagger-ui .info .title")
        page.wait_for_selector(".opblock-tag")
        visitor.step("swagger-ui-rendered", axe=False, full_page=False)
        # ReDoc's footer asks Redocly's CDN for its logo: the policy blocks it before any
        # request is made (billing/tests/test_pages_browser.py), and nothing else leaves.
        visitor.expected_csp.add("img-src https://cdn.redoc.ly/redoc/logo-mini.svg")
        visitor.goto("/api/redoc/", "redoc", axe=False, full_page=False)
        page.wait_for_selector("h1:text('Billing backend API')")
        visitor.step("redoc-rendered", axe=False, full_page=False)
        elsewhere = [url for url in visitor.requests if not url.startswith(f"{site}/")]
        assert elsewhere == [], elsewhere


def test_the_harness_reports_what_it_checks(site):
    """A page that breaks every rule: each break is reported (and `finish` would fail)."""
    with chromium(site, "harness", for_docs=False) as browser:
        visitor = browser.page(phone=True)
        visitor.page.set_content(
            '<html lang="en"><head><title>Broken</title></head><body><main><h1>Broken</h1>'
            '<img src="https://cdn.example.com/logo.png"><button></button>'
            '<div style="width: 900px">wide</div><script>console.error("boom")</script></main></body></html>'
        )
        visitor.step("broken")
        visitor.goto("/", "pricing")
        visitor.goto("/login", "sign-in", status=404)
        visitor.page.goto(f"{site}/signup")
        failures = "\n".join(visitor.failures())
        visitor.problems.clear()  # seen: let chromium() close cleanly
        visitor.foreign.clear()
        visitor.console_errors.clear()
        visitor._arrived.clear()

    assert "https://cdn.example.com/logo.png" in failures
    assert "axe image-alt (critical)" in failures and "axe button-name (critical)" in failures
    assert "scrolls sideways at 375 px" in failures and "900 px wide" in failures
    assert "console error: boom" in failures
    assert "/login: status 200, expected 404" in failures
    assert f"reached but never checked: {site}/signup" in failures
