"""The server-rendered pages (billing portal, sandbox checkout) never link to a return,
success or cancel URL off the redirect allow-list, and every page is served under a strict
Content-Security-Policy with a per-response nonce. The API refuses such URLs with a 400
and stores nothing."""

import re
from urllib.parse import quote, urlparse

import pytest
from django.test import Client

from invoices.services import invoice_for_first_period
from payments.models import Payment
from payments.tests.support import (
    CHECKOUT,
    PORTAL,
    RETURN_URL,
    assert_error,
    assert_ok,
    counts,
    site_path,
    start_checkout,
    subscribe,
)

pytestmark = pytest.mark.django_db

HOSTILE_URLS = [
    "javascript:alert(1)",
    "JavaScript:alert(document.cookie)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "//evil.example",
    "http://evil.example",
    "http://evil.example\\@127.0.0.1/",
    "http://127.0.0.1@evil.example/",
    '" onmouseover="alert(1)',
]
NONCE = re.compile(r"'nonce-([A-Za-z0-9+/=]+)'")


def csp_of(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


def assert_strict_csp(response, *, inline_script: bool = True) -> str:
    """The page's policy is the strict one; returns its nonce (without inline script, the
    policy carries none: scripts only from this site)."""
    policy = csp_of(response)
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["form-action"][0] == "'self'"
    nonces = NONCE.findall(" ".join(policy["script-src"]))
    if not inline_script:
        assert policy["script-src"] == ["'self'"]
        return ""
    assert len(nonces) == 1 and policy["script-src"][0] == "'self'"
    return nonces[0]


def assert_no_inline_code_without_the_nonce(html: str, nonce: str) -> None:
    assert " style=" not in html
    assert re.search(r"\son[a-z]+=", html) is None  # no event handler attributes
    for tag in re.findall(r"<(?:script|style)\b[^>]*>", html):
        assert 'src="' in tag or f'nonce="{nonce}"' in tag, tag


@pytest.fixture
def subscription(org, pro):
    return subscribe(org, pro)


def portal_page_path(owner) -> str:
    """The portal page's path, without the query the API put on it."""
    url = assert_ok(owner.post(PORTAL, {"return_url": RETURN_URL}, format="json"))["portal_url"]
    return urlparse(site_path(url)).path


# --- the billing portal page -----------------------------------------------------------


@pytest.mark.parametrize("return_url", HOSTILE_URLS)
def test_the_portal_page_never_renders_a_return_url_off_the_allow_list(owner, subscription, return_url):
    page = Client().get(f"{portal_page_path(owner)}?return_url={quote(return_url, safe='')}")

    assert page.status_code == 200
    html = page.content.decode()
    assert "evil.example" not in html
    assert "javascript:" not in html.lower()
    assert "data:text" not in html
    assert "onmouseover" not in html
    assert ">Return</a>" not in html


def test_the_portal_page_links_back_to_an_allowed_return_url(owner, subscription):
    page = Client().get(f"{portal_page_path(owner)}?return_url={quote(RETURN_URL, safe='')}")

    assert f'<a class="button" href="{RETURN_URL}">Return</a>' in page.content.decode()


def test_the_portal_page_has_a_strict_csp_and_no_inline_script(owner, subscription):
    # The customer site's layout: its one script is a file of this site (static/web/site.js).
    page = Client().get(portal_page_path(owner))

    assert_strict_csp(page, inline_script=False)
    html = page.content.decode()
    assert '<script src="/static/web/site.js" defer></script>' in html
    assert_no_inline_code_without_the_nonce(html, "no inline code at all")


def test_each_page_gets_a_fresh_nonce(owner, pro):
    path = site_path(stored_checkout(owner, pro).checkout_url)

    first, second = assert_strict_csp(Client().get(path)), assert_strict_csp(Client().get(path))

    assert first != second


def test_the_portal_forms_may_land_on_the_allowed_redirect_hosts(owner, subscription, settings):
    settings.ALLOWED_REDIRECT_HOSTS = ["localhost", "app.example.com:8443"]

    form_action = csp_of(Client().get(portal_page_path(owner)))["form-action"]

    assert {"'self'", "http://localhost:*", "https://localhost:*", "https://app.example.com:8443"} <= set(form_action)
    assert "https://checkout.xendit.co" in form_action  # where Pay sends a Xendit customer
    assert not any("evil" in source for source in form_action)


def test_paying_a_malformed_invoice_id_in_the_portal_says_not_found(owner, subscription):
    response = Client().post(portal_page_path(owner), {"action": "pay", "invoice": "not-a-uuid"})

    assert response.status_code == 200
    assert "Invoice not found." in response.content.decode()
    assert not Payment.objects.exists()


# --- the sandbox checkout page ---------------------------------------------------------


def stored_checkout(owner, pro, **urls) -> Payment:
    """A pending checkout whose stored URLs are `urls` (rows written before the allow-list
    was strict, or with ALLOWED_REDIRECT_HOSTS changed since)."""
    checkout = start_checkout(owner, pro)
    payment = Payment.objects.get(pk=checkout["session_id"])
    Payment.objects.filter(pk=payment.pk).update(**urls)
    payment.refresh_from_db()
    return payment


def test_the_sandbox_page_has_a_strict_csp_and_nonced_script(owner, pro):
    payment = stored_checkout(owner, pro)

    page = Client().get(site_path(payment.checkout_url))

    assert page.status_code == 200
    nonce = assert_strict_csp(page)
    assert_no_inline_code_without_the_nonce(page.content.decode(), nonce)


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_the_sandbox_page_never_links_to_a_stored_hostile_cancel_url(owner, pro, url):
    payment = stored_checkout(owner, pro, cancel_url=url)
    Client().post(site_path(payment.checkout_url), {"action": "decline"})

    page = Client().get(site_path(payment.checkout_url))

    html = page.content.decode()
    assert "declined" in html
    assert ">Back</a>" not in html
    assert "evil.example" not in html and "javascript:" not in html.lower() and "data:text" not in html


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_the_sandbox_page_never_links_to_a_stored_hostile_success_url(owner, pro, url):
    payment = stored_checkout(owner, pro, success_url=url)
    Client().post(site_path(payment.checkout_url), {"action": "pay"})

    page = Client().get(site_path(payment.checkout_url))

    html = page.content.decode()
    assert "Payment received" in html
    assert ">Continue</a>" not in html
    assert "evil.example" not in html and "javascript:" not in html.lower() and "data:text" not in html


# --- other pages under the policy ------------------------------------------------------


def test_the_admin_login_page_has_the_strict_csp():
    page = Client().get("/admin/login/")

    assert page.status_code == 200
    assert "'unsafe-inline'" not in page["Content-Security-Policy"]
    assert csp_of(page)["default-src"] == ["'self'"]


def test_swagger_ui_is_served_from_this_site_with_nonced_inline_code():
    page = Client().get("/api/docs/")

    assert page.status_code == 200
    nonce = assert_strict_csp(page)
    html = page.content.decode()
    assert "cdn" not in html and "https://" not in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert_no_inline_code_without_the_nonce(html, nonce)


def test_redoc_gets_only_inline_style_on_top_of_the_strict_policy():
    page = Client().get("/api/redoc/")

    assert page.status_code == 200
    policy = csp_of(page)
    html = page.content.decode()
    assert "fonts.googleapis.com" not in html and "cdn" not in html
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"]
    assert "'unsafe-inline'" not in policy["script-src"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]


# --- the API refuses what a browser would read differently -----------------------------

API_HOSTILE = [
    "http://evil.example\\@127.0.0.1/",
    "http://127.0.0.1@evil.example/",
    "http://user:pw@127.0.0.1/",
    "http://evil.example%2f@127.0.0.1",
    "http:\\\\evil.example",
    "http://127.0.0.1.evil.example/",
    "javascript:alert(1)",
    "//evil.example",
]


@pytest.mark.parametrize("url", API_HOSTILE)
@pytest.mark.parametrize("field", ["success_url", "cancel_url"])
def test_checkout_with_a_url_a_browser_reads_as_another_host_is_400_and_stores_nothing(owner, org, pro, field, url):
    before = counts(org)

    response = owner.post(
        CHECKOUT,
        {"plan_id": str(pro.pk), "success_url": RETURN_URL, "cancel_url": RETURN_URL, field: url},
        format="json",
    )

    error = assert_error(response, 400, "validation_error")
    assert field in error["details"]
    assert counts(org) == before


@pytest.mark.parametrize("url", API_HOSTILE)
def test_the_portal_with_a_url_a_browser_reads_as_another_host_is_400(owner, subscription, url):
    error = assert_error(owner.post(PORTAL, {"return_url": url}, format="json"), 400, "validation_error")

    assert "return_url" in error["details"]


def test_an_open_invoice_pays_through_the_portal_still(owner, subscription):
    invoice = invoice_for_first_period(subscription=subscription)

    response = Client().post(portal_page_path(owner), {"action": "pay", "invoice": str(invoice.pk)})

    assert response.status_code == 302
    assert response["Location"] == Payment.objects.get(invoice=invoice).checkout_url


@pytest.mark.parametrize(("action", "field"), [("pay", "success_url"), ("decline", "cancel_url")])
@pytest.mark.parametrize("url", ["http://evil.example/", "http://evil.example\\@127.0.0.1/", "javascript:alert(1)"])
def test_the_sandbox_page_never_redirects_to_a_stored_hostile_url(owner, pro, action, field, url):
    payment = stored_checkout(owner, pro, **{field: url})
    path = site_path(payment.checkout_url)

    response = Client().post(path, {"action": action})

    assert response.status_code == 302
    assert response["Location"] == path  # back to the page, which shows the result


@pytest.mark.parametrize(
    "path", ["/sandbox/checkout/sbx_cs_a%00b", "/sandbox/checkout/sbx%ED%A0%80", "/sandbox/checkout/a%2Fb"]
)
def test_a_checkout_reference_that_is_not_a_token_is_404_not_a_500(path):
    response = Client(raise_request_exception=False).get(path)

    assert response.status_code == 404


def test_the_portal_offers_no_sandbox_test_cards_for_a_subscription_another_gateway_charges(owner, subscription):
    path = portal_page_path(owner)  # a link still valid when the subscription moved to Stripe
    subscription.gateway = "stripe"
    subscription.save(update_fields=["gateway"])

    page = Client().get(path)

    assert page.status_code == 200
    assert "pm_sandbox" not in page.content.decode()


def test_the_portal_offers_no_sandbox_test_cards_once_the_sandbox_is_off(owner, subscription, settings):
    path = portal_page_path(owner)
    settings.SANDBOX_GATEWAY_ENABLED = False

    page = Client().get(path)

    assert page.status_code == 200
    assert "pm_sandbox" not in page.content.decode()


def test_the_portal_offers_the_sandbox_test_cards_where_the_sandbox_charges(owner, subscription):
    page = Client().get(portal_page_path(owner))

    assert "pm_sandbox_ok" in page.content.decode()
