"""The customer site's journeys in headless Chromium, through the real pages only: fields
are typed into by their labels, buttons pressed by their accessible names, emailed links
read from the outbox the live server writes to. Every page on the way passes the
harness's checks (web/tests/browser.py: no other host, no CSP violation or console error,
axe-core clean, no sideways scroll on a phone) and leaves a screenshot."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import authenticate

from billing.accounts import account_register
from billing_project.money import format_money
from billing_project.tests.world import Customer, customer_create, new_team, paid_plans
from invoices.models import Invoice, InvoiceReason, InvoiceStatus
from organizations.models import Membership, Role
from plans.models import Plan
from subscriptions.models import Status

from .browser import BROWSER_MARKS, PASSWORD, chromium, last_email_to, link_in_email, serve_site

pytestmark = BROWSER_MARKS

NEW_PASSWORD = "Brand-new-pw-42"


@pytest.fixture
def site(live_server, settings) -> str:
    return serve_site(live_server, settings)


def new_email(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}@example.com"


# --- through the pages -------------------------------------------------------------------------


def sign_in(visitor, email: str, password: str = PASSWORD, *, step: str = "sign-in") -> None:
    """Through the sign-in page, to the billing overview."""
    visitor.goto("/login", step)
    visitor.page.get_by_label("Email").fill(email)
    visitor.page.get_by_label("Password", exact=True).fill(password)
    visitor.page.get_by_role("button", name="Sign in").click()
    visitor.wait_for_path("/account/")
    visitor.page.get_by_role("heading", name="Billing overview").wait_for()
    visitor.step("signed-in")


def switch_to(visitor, organization_name: str) -> None:
    """The organization switcher of the account pages."""
    page = visitor.page
    page.get_by_label("Switch organization").select_option(label=organization_name)
    page.get_by_role("button", name="Switch", exact=True).click()
    visitor.wait_for_path("/account/")
    assert f"Now showing {organization_name}." in visitor.text()


def on_pro() -> Customer:
    """A customer who checked out Pro through the API and paid on the sandbox page (its
    card saved for later charges)."""
    paid_plans()
    customer = customer_create()
    customer.subscribe("pro")
    return customer


# --- 1. sign up, choose Pro, pay on the sandbox page ---------------------------------------------


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_signing_up_for_pro_paying_and_seeing_plan_usage_and_invoice(site, media_in_tmp, phone):
    paid_plans()
    email = new_email("pro")

    with chromium(site, "subscribe-to-pro-phone" if phone else "subscribe-to-pro") as browser:
        visitor = browser.page(phone=phone)
        page = visitor.page
        visitor.goto("/", "pricing")
        page.get_by_role("link", name="Choose Pro").click()
        visitor.wait_for_path("/signup")
        visitor.step("sign-up")
        page.get_by_label("Your name").fill("Paula Pro")
        page.get_by_label("Company").fill("Pro Telecom")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        visitor.wait_for_path("/account/plans")
        assert visitor.path.startswith("/account/plans?plan=pro")
        confirm = page.get_by_role("region", name="Subscribe to Pro")
        assert "$29.99" in confirm.inner_text()
        visitor.step("confirm-pro")

        confirm.get_by_role("button", name="Continue to pay $29.99").click()
        page.wait_for_url(f"{site}/sandbox/checkout/**")
        visitor.step("sandbox-checkout")
        page.get_by_role("button", name="Pay $29.99").click()
        visitor.wait_for_path("/account/checkout/done")
        page.get_by_role("heading", name="You are on Pro").wait_for()
        assert "Your payment of $29.99 was received." in visitor.text()
        visitor.step("paid")

        visitor.goto("/account/keys", "api-keys")
        page.get_by_label("Name", exact=True).fill("backend")
        page.get_by_label("usage:write").check()
        page.get_by_role("button", name="Create API key").click()
        secret = page.locator("#new-secret").inner_text().strip()
        assert secret.startswith("sk_live_")
        visitor.step("key-created")
        for event_type, quantity in (("tokens_used", 250_000), ("api_call", 1), ("api_call", 1), ("api_call", 1)):
            reported = page.request.post(
                f"{site}/api/v1/usage/report",
                data={"event_type": event_type, "quantity": quantity},
                headers={"Authorization": f"Bearer {secret}"},
            )
            assert reported.status == 201, reported.text()

        visitor.goto("/account/", "billing-overview")
        plan = page.get_by_role("region", name="Plan")
        assert "Pro" in plan.inner_text() and "Active" in plan.inner_text()
        usage = page.get_by_role("region", name="Usage this period")
        assert "250,000 of 1,000,000 tokens included" in usage.inner_text()
        assert "3 of 50,000 requests included" in usage.inner_text()
        assert usage.get_by_role("meter", name="Tokens").get_attribute("value") == "250000"
        assert usage.get_by_role("meter", name="Requests").get_attribute("value") == "3"

        page.get_by_role("link", name="All invoices").click()
        visitor.wait_for_path("/account/invoices")
        visitor.step("invoices")
        row = page.get_by_role("row").filter(has_text="$29.99")
        assert "Paid" in row.inner_text()
        row.get_by_role("link").first.click()
        page.get_by_role("heading", name="Invoice INV-").wait_for()
        visitor.step("invoice")
        # The PDF is served inline (the browser's viewer shows it): fetched with the page's session.
        href = page.get_by_role("link", name="Download PDF").get_attribute("href")
        pdf = page.request.get(f"{site}{href}")
        assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.body().startswith(b"%PDF-")


# --- 2. invite a teammate, who accepts from the emailed link ------------------------------------------


def test_a_teammate_is_invited_and_joins_from_the_emailed_link(site):
    owner_email, teammate_email = new_email("owner"), new_email("mate")
    account_register(email=owner_email, password=PASSWORD, name="Olga Owner")

    with chromium(site, "invite-a-teammate") as browser:
        owner = browser.page()
        page = owner.page
        sign_in(owner, owner_email)
        page.get_by_role("link", name="Team").click()
        owner.wait_for_path("/account/team")
        owner.step("personal-organization")
        page.get_by_label("Organization name").fill("Acme Robotics")
        page.get_by_role("button", name="Create a team organization").click()
        page.get_by_role("heading", name="Members of Acme Robotics").wait_for()
        owner.step("team-organization")
        invite = page.get_by_role("region", name="Invite someone")
        invite.get_by_label("Email").fill(teammate_email)
        invite.get_by_label("Role", exact=True).select_option("billing")
        invite.get_by_role("button", name="Send the invitation").click()
        pending = page.get_by_role("region", name="Pending invitations")
        pending.get_by_role("row").filter(has_text=teammate_email).wait_for()
        owner.step("invitation-sent")

        email = last_email_to(teammate_email)
        assert "Acme Robotics" in email.body
        link = link_in_email(email, "/invitations/accept?token=")

        teammate = browser.page()
        page = teammate.page
        teammate.goto(link, "invitation")
        page.get_by_role("heading", name="Join Acme Robotics").wait_for()
        page.get_by_role("link", name="Create an account").click()
        teammate.wait_for_path("/signup")
        assert page.get_by_label("Email").input_value() == teammate_email
        teammate.step("sign-up-with-the-invited-address")
        page.get_by_label("Your name").fill("Tom Teammate")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        teammate.wait_for_path("/invitations/accept")
        teammate.step("join")
        page.get_by_role("button", name="Join Acme Robotics").click()
        teammate.wait_for_path("/account/")
        assert "You joined Acme Robotics." in teammate.text()
        subnav = page.locator(".org-name")
        assert "Acme Robotics" in subnav.inner_text() and "Billing" in subnav.inner_text()
        teammate.step("joined")
        page.get_by_role("link", name="Team").click()
        teammate.wait_for_path("/account/team")
        members = page.get_by_role("region", name="Members of Acme Robotics")
        assert owner_email in members.inner_text() and teammate_email in members.inner_text()
        teammate.step("team-members")

    joined = Membership.objects.get(user__email=teammate_email, organization__name="Acme Robotics")
    assert joined.role == Role.BILLING


# --- 3. forgot password ------------------------------------------------------------------------


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_a_forgotten_password_is_reset_from_the_emailed_link(site, phone):
    email = new_email("forgot")
    account_register(email=email, password=PASSWORD, name="Fay Forgetful")

    with chromium(site, "reset-password-phone" if phone else "reset-password") as browser:
        visitor = browser.page(phone=phone)
        page = visitor.page
        visitor.goto("/login", "sign-in")
        page.get_by_role("link", name="Forgot your password?").click()
        visitor.wait_for_path("/reset-password")
        visitor.step("ask-for-a-link")
        page.get_by_label("Email").fill(email)
        page.get_by_role("button", name="Send the link").click()
        page.get_by_role("heading", name="Check your email").wait_for()
        visitor.step("link-sent")

        link = link_in_email(last_email_to(email), "/reset-password?token=")
        assert link.startswith(f"{site}/reset-password?token=")
        visitor.goto(link, "choose-a-new-password")
        page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
        page.get_by_label("New password again").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Set the new password").click()
        visitor.wait_for_path("/login")
        assert "Your password is changed" in visitor.text()
        visitor.step("password-changed")

        page.get_by_label("Email").fill(email)
        page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        visitor.wait_for_path("/account/")
        page.get_by_role("heading", name="Billing overview").wait_for()
        visitor.step("signed-in-with-the-new-password")

        # The link worked once.
        visitor.goto(link, "used-link")
        page.get_by_label("New password", exact=True).fill("Another-pw-77")
        page.get_by_label("New password again").fill("Another-pw-77")
        visitor.expected_statuses.add(400)
        page.get_by_role("button", name="Set the new password").click()
        page.get_by_role("alert").filter(has_text="invalid or has expired").wait_for()
        visitor.step("link-used-twice")

    assert authenticate(email=email, password=NEW_PASSWORD) is not None
    assert authenticate(email=email, password=PASSWORD) is None


# --- 4. upgrade Pro -> Team with the proration shown first -------------------------------------------------


def test_upgrading_to_team_charges_the_previewed_proration(site, media_in_tmp, clock):
    customer = on_pro()
    organization_name = customer.organization.name
    # A week into the period, the clock stopped: what is previewed is what is charged.
    clock.move_to(customer.subscription.current_period_start + timedelta(days=7), tick=False)

    with chromium(site, "upgrade-to-team") as browser:
        visitor = browser.page()
        page = visitor.page
        sign_in(visitor, customer.owner.email)
        switch_to(visitor, organization_name)
        visitor.step("switched-organization")
        page.get_by_role("link", name="Plans").first.click()
        visitor.wait_for_path("/account/plans")
        visitor.step("plans")
        page.get_by_role("link", name="Switch to Team").click()
        confirm = page.get_by_role("region", name="Switch from Pro to Team")
        confirm.wait_for()
        charged = confirm.locator("dt:text-is('Charged now') + dd strong").inner_text()
        assert charged.startswith("$") and charged != "$0.00"
        assert f"Charged now {charged}" in " ".join(confirm.locator("tfoot").inner_text().split())
        visitor.step("proration-preview")
        confirm.get_by_role("button", name=f"Switch to Team and pay {charged}").click()
        visitor.wait_for_path("/account/plans")
        assert "You are now on Team." in visitor.text()
        visitor.step("on-team")

        page.get_by_role("link", name="Invoices").first.click()
        visitor.wait_for_path("/account/invoices")
        visitor.step("invoices")
        rows = page.get_by_role("row").filter(has_text="Plan change")
        assert charged in rows.first.inner_text()
        rows.first.get_by_role("link").first.click()
        page.get_by_role("heading", name="Invoice INV-").wait_for()
        total = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Total", exact=True))
        assert total.locator("td").inner_text() == charged
        visitor.step("plan-change-invoice")

    subscription = customer.subscription
    assert subscription.plan.code == "team"
    invoice = Invoice.objects.filter(organization=customer.organization, reason=InvoiceReason.SUBSCRIPTION_UPDATE).get()
    assert invoice.status == InvoiceStatus.PAID
    assert format_money(invoice.total_cents, invoice.currency) == charged


# --- 5. cancel at the period end, then reactivate ------------------------------------------------------------


def test_cancelling_at_the_period_end_and_reactivating(site):
    customer = on_pro()
    organization_name = customer.organization.name

    with chromium(site, "cancel-and-reactivate") as browser:
        visitor = browser.page()
        page = visitor.page
        sign_in(visitor, customer.owner.email)
        switch_to(visitor, organization_name)
        visitor.step("switched-organization")
        visitor.goto("/account/plans", "plans")
        page.get_by_role("link", name="Cancel subscription").click()
        cancel = page.get_by_role("region", name="Cancel Pro")
        cancel.wait_for()
        visitor.step("cancel-choices")
        at_end = cancel.locator("form").filter(has=page.get_by_role("heading", name="At the end of the period"))
        assert "no refund" in at_end.inner_text()
        at_end.get_by_label("Why are you leaving?").fill("Trying another product")
        at_end.get_by_role("button", name="Cancel at the end of the period").click()
        visitor.wait_for_path("/account/plans")
        assert "You keep it until then." in visitor.text()
        plan = page.get_by_role("region", name="Your plan", exact=True)
        assert "Ends at the period end" in plan.inner_text()
        visitor.step("cancelled-at-period-end")
        visitor.goto("/account/", "overview-ending")
        assert "Your subscription ends at the end of this period." in visitor.text()

        visitor.goto("/account/plans", "plans-ending")
        page.get_by_role("button", name="Keep Pro: undo the cancellation").click()
        visitor.wait_for_path("/account/plans")
        assert "Your Pro subscription continues" in visitor.text()
        assert "Ends at the period end" not in page.get_by_role("region", name="Your plan", exact=True).inner_text()
        visitor.step("reactivated")

    subscription = customer.subscription
    assert subscription.status == Status.ACTIVE and not subscription.cancel_at_period_end


# --- 6. a member sees the plan but cannot change billing ------------------------------------------------------


def test_a_member_is_refused_billing_changes(site):
    paid_plans()
    team = new_team("Acme Team")
    owner = Customer(organization=team.org, owner=team.users[Role.OWNER], api_key="")
    owner.subscribe("pro")
    invoice = Invoice.objects.get(organization=team.org)
    team_plan = Plan.objects.get(code="team")
    member = team.users[Role.MEMBER]

    with chromium(site, "member-refused") as browser:
        visitor = browser.page()
        page = visitor.page
        sign_in(visitor, member.email)
        switch_to(visitor, "Acme Team")
        visitor.step("member-overview")

        visitor.goto("/account/plans", "member-plans")
        assert "Only owners, admins and billing managers can change the plan." in visitor.text()
        main = page.locator("main")
        assert main.get_by_role("button").count() == 0
        for name in ("Switch to", "Choose", "Cancel subscription"):
            assert main.get_by_role("link", name=name).count() == 0, name
        csrf = visitor.csrf_token()

        visitor.goto("/account/invoices", "member-invoices", status=403)
        assert "cannot see this page" in visitor.text()
        assert page.locator("main").get_by_role("button").count() == 0
        visitor.goto(f"/account/invoices/{invoice.pk}", "member-invoice", status=403)

        forged = {
            "/account/plans/change": {"plan": str(team_plan.pk), "when": "now"},
            "/account/plans/cancel": {"when": "now"},
            f"/account/invoices/{invoice.pk}/pay": {},
        }
        for path, fields in forged.items():
            refused = page.request.post(
                f"{site}{path}",
                form={"csrfmiddlewaretoken": csrf, "idempotency_key": uuid.uuid4().hex, **fields},
                headers={"Referer": f"{site}/account/plans"},
                max_redirects=0,
            )
            assert refused.status == 403, (path, refused.status)
            assert "does not allow this action" in refused.text() or "cannot see this page" in refused.text()

    subscription = owner.subscription
    assert subscription.plan.code == "pro" and subscription.status == Status.ACTIVE
    assert not subscription.cancel_at_period_end
    invoice.refresh_from_db()
    assert invoice.payments.count() == 1


# --- 7. keyboard-only sign-in ---------------------------------------------------------------------

FOCUSED = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  return {
    tag: el.tagName.toLowerCase(), id: el.id, text: (el.innerText || el.value || '').trim(),
    visible: el.matches(':focus-visible'), outline: style.outlineStyle, outlineWidth: style.outlineWidth,
  };
}"""


def focused(visitor) -> dict:
    return visitor.page.evaluate(FOCUSED)


def assert_focus_visible(visitor) -> dict:
    now = focused(visitor)
    assert now["visible"], f"focus is not :focus-visible on {now}"
    assert now["outline"] != "none" and now["outlineWidth"] != "0px", f"no focus outline on {now}"
    return now


def tab_to(visitor, text: str, *, most: int = 30) -> dict:
    """Press Tab until the focused element says `text`."""
    for _ in range(most):
        visitor.page.keyboard.press("Tab")
        now = assert_focus_visible(visitor)
        if now["text"] == text:
            return now
    raise AssertionError(f"{text!r} not reached in {most} presses of Tab")


def test_signing_in_with_the_keyboard_alone(site):
    email = new_email("keys")
    account_register(email=email, password=PASSWORD, name="Kim Keyboard")

    with chromium(site, "keyboard-sign-in") as browser:
        visitor = browser.page()
        keyboard = visitor.page.keyboard
        visitor.goto("/", "pricing")
        # The first Tab reaches the skip link, which shows itself and jumps to the content.
        keyboard.press("Tab")
        skip = assert_focus_visible(visitor)
        assert skip["text"] == "Skip to content"
        keyboard.press("Enter")
        assert focused(visitor)["id"] == "main"
        visitor.step("skipped-to-content")

        visitor.goto("/", "pricing-again")
        tab_to(visitor, "Sign in")
        keyboard.press("Enter")
        visitor.wait_for_path("/login")
        # The email field has the focus on arrival: the browser applies `autofocus` once the
        # document is ready, which on a loaded machine is a moment after the URL changes.
        visitor.page.wait_for_function("document.activeElement && document.activeElement.id === 'id_username'")
        start = assert_focus_visible(visitor)
        assert (start["tag"], start["id"]) == ("input", "id_username")
        visitor.step("sign-in-form")
        keyboard.type(email)
        keyboard.press("Tab")
        assert assert_focus_visible(visitor)["id"] == "id_password"
        keyboard.type(PASSWORD)
        keyboard.press("Enter")
        visitor.wait_for_path("/account/")
        visitor.page.get_by_role("heading", name="Billing overview").wait_for()
        visitor.step("signed-in")
        # The account tabs are reachable and show their focus too.
        tab_to(visitor, "Usage")
