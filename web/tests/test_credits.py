"""The credits page: the balance, the ledger with its filters (the API's LedgerEntryFilter)
and pages, and a top-up: the amount in major units -> a confirmation showing it -> the
checkout on the sandbox page -> back on the page with its status. Per role, per
organization, once per form."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from django.conf import settings
from django.test import Client

from billing.services import credits_purchase_checkout
from billing_project.tests.world import utc
from credits.models import CreditLedgerEntry
from credits.selectors import balance_of
from credits.services import credits_grant, credits_spend
from invoices.models import Invoice
from payments.models import Payment

from .conftest import form_key_of

pytestmark = pytest.mark.django_db

PAGE = "/account/credits"
TOP_UP = "/account/credits/top-up"


def body(response) -> str:
    return response.content.decode()


def confirm(client, amount: str):
    """The confirmation step (GET) and its Confirm form posted."""
    page = client.get(TOP_UP, {"amount": amount})
    assert page.status_code == 200, body(page)
    return page, client.post(TOP_UP, {"amount": amount, "idempotency_key": form_key_of(body(page))})


def nothing_bought(organization) -> bool:
    return (
        not Payment.objects.filter(organization=organization).exists()
        and not Invoice.objects.filter(organization=organization).exists()
    )


# --- balance and ledger ------------------------------------------------------------------------


def test_the_balance_and_the_ledger(site, team):
    credits_grant(organization=team.org, amount_cents=2500, reason="Welcome credit")
    credits_spend(organization=team.org, amount_cents=700, reference="job-42", idempotency_key="k1")

    page = site("billing").get(PAGE)

    assert page.status_code == 200
    html = body(page)
    assert "$18.00" in html  # the balance
    assert "Welcome credit" in html and "Grant" in html
    assert "job-42" in html and "Spend" in html
    assert "-$7.00" in html
    assert html.index("job-42") < html.index("Welcome credit")  # newest first


def test_the_ledger_filters_by_kind_and_days(site, team, clock):
    clock.move_to(utc(2026, 3, 1, 12))
    credits_grant(organization=team.org, amount_cents=1000, reason="March grant")
    clock.move_to(utc(2026, 4, 2, 12))
    credits_grant(organization=team.org, amount_cents=1000, reason="April grant")
    credits_spend(organization=team.org, amount_cents=100, reference="april-spend", idempotency_key="k2")
    client = site()

    grants = body(client.get(PAGE, {"type": "grant"}))
    april = body(client.get(PAGE, {"start_date": "2026-04-01", "end_date": "2026-04-30"}))
    march_grants = body(client.get(PAGE, {"type": "grant", "end_date": "2026-03-01"}))

    assert "March grant" in grants and "April grant" in grants and "april-spend" not in grants
    assert "April grant" in april and "april-spend" in april and "March grant" not in april
    assert "March grant" in march_grants and "April grant" not in march_grants


def test_the_ledger_sorts_by_amount(site, team):
    for amount in (500, 9000, 2000):
        credits_grant(organization=team.org, amount_cents=amount, reason=f"grant of {amount} cents")

    html = body(site().get(PAGE, {"sort_by": "amount", "sort_order": "desc"}))

    assert html.index("grant of 9000 cents") < html.index("grant of 2000 cents") < html.index("grant of 500 cents")


def test_bad_filters_are_a_400_with_the_reasons(site, team):
    credits_grant(organization=team.org, amount_cents=500, reason="a grant")

    page = site().get(PAGE, {"type": "gift", "start_date": "yesterday"})
    reversed_days = site().get(PAGE, {"start_date": "2026-05-02", "end_date": "2026-05-01"})

    assert page.status_code == 400
    assert "&quot;gift&quot; is not a valid choice." in body(page)
    assert "Date has wrong format." in body(page)
    assert "a grant" not in body(page)
    assert reversed_days.status_code == 400
    assert "Must not be after end_date." in body(reversed_days)


def test_the_ledger_has_pages_of_25(site, team):
    for index in range(30):
        credits_grant(organization=team.org, amount_cents=100 + index, reason=f"grant number {index:02d}")

    first = body(site().get(PAGE, {"type": "grant"}))
    second = body(site().get(PAGE, {"type": "grant", "page": "2"}))

    assert "Page 1 of 2 (30 entries)" in first
    assert "grant number 29" in first and "grant number 04" not in first
    assert "grant number 04" in second and "grant number 05" not in second
    assert 'href="?type=grant&amp;page=2"' in first


def test_another_organizations_ledger_is_not_shown(site, team, other_team):
    credits_grant(organization=other_team.org, amount_cents=9900, reason="their grant")

    html = body(site().get(PAGE))

    assert "their grant" not in html and "$99.00" not in html


def test_signed_out_the_page_sends_to_sign_in():
    response = Client().get(PAGE)

    assert response.status_code == 302 and response["Location"] == "/login?next=/account/credits"


def test_a_member_is_refused_the_page_and_the_top_up(site, team):
    credits_grant(organization=team.org, amount_cents=2500, reason="Welcome credit")
    member = site("member")

    page = member.get(PAGE)
    assert page.status_code == 403 and "Welcome credit" not in body(page)
    assert member.get(TOP_UP, {"amount": "10"}).status_code == 403
    assert member.post(TOP_UP, {"amount": "10", "idempotency_key": "f" * 32}).status_code == 403
    assert nothing_bought(team.org)


# --- top-up --------------------------------------------------------------------------------------


def test_a_top_up_is_confirmed_then_paid_on_the_sandbox_page_and_shown_on_return(site, team):
    client = site("billing")

    confirmation, response = confirm(client, "25.50")

    assert "Confirm your top-up" in body(confirmation) and "Pay $25.50" in body(confirmation)
    assert response.status_code == 302
    payment = Payment.objects.get(organization=team.org)
    assert payment.amount_cents == 2550
    assert response["Location"] == payment.checkout_url
    checkout = urlparse(response["Location"]).path
    back = client.post(checkout, {"action": "pay"})
    assert back["Location"].startswith(f"{settings.SITE_URL}/account/credits?purchase=done&session_id=")
    query = parse_qs(urlparse(back["Location"]).query)
    returned = body(client.get(PAGE, {key: values[0] for key, values in query.items()}))
    assert "Your top-up of $25.50 is paid: the credit is in your balance." in returned
    assert balance_of(organization=team.org) == (2550, "USD")


def test_a_declined_top_up_says_so_and_adds_nothing(site, team):
    client = site()
    _, response = confirm(client, "10")

    back = client.post(urlparse(response["Location"]).path, {"action": "decline"})

    query = {key: values[0] for key, values in parse_qs(urlparse(back["Location"]).query).items()}
    assert query["purchase"] == "canceled"
    returned = body(client.get(PAGE, query))
    assert "The payment of $10.00 was declined" in returned
    assert balance_of(organization=team.org)[0] == 0


def test_the_confirmation_shows_the_amount_and_moves_nothing(site, team):
    page = site().get(TOP_UP, {"amount": "1,000.00"})

    assert page.status_code == 200
    assert "$1,000.00" in body(page)
    assert nothing_bought(team.org)


def test_the_same_confirm_form_posted_twice_buys_once(site, team):
    client = site()
    page = client.get(TOP_UP, {"amount": "12"})
    key = form_key_of(body(page))

    first = client.post(TOP_UP, {"amount": "12", "idempotency_key": key})
    second = client.post(TOP_UP, {"amount": "12", "idempotency_key": key})

    assert Payment.objects.filter(organization=team.org).count() == 1
    assert Invoice.objects.filter(organization=team.org).count() == 1
    assert second["Location"] == first["Location"] and second["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("", "This field is required."),
        ("ten", "Enter an amount as a number, e.g. 25.00."),
        ("NaN", "Enter an amount as a number, e.g. 25.00."),
        ("1.005", "USD has at most 2 decimals."),
        ("0", "Buy at least $0.01."),
        ("-5", "Buy at least $0.01."),
        ("100000000.01", "Buy at most $100,000,000.00 at a time."),
    ],
)
def test_an_amount_outside_the_apis_rules_is_a_400_saying_why(site, team, amount, message):
    client = site()

    page = client.get(TOP_UP, {"amount": amount})
    posted = client.post(TOP_UP, {"amount": amount, "idempotency_key": "a1" * 16})

    assert page.status_code == posted.status_code == 400
    assert message in body(page) and message in body(posted)
    assert nothing_bought(team.org)


def test_the_amount_is_read_by_the_currencys_exponent(site, team):
    team.org.currency = "IDR"
    team.org.save()

    whole = site().get(TOP_UP, {"amount": "150000"})
    fraction = site().get(TOP_UP, {"amount": "150000.5"})

    assert whole.status_code == 200 and "Rp" in body(whole) and "150.000" in body(whole)
    assert fraction.status_code == 400 and "IDR is bought in whole units, without decimals." in body(fraction)


def test_the_top_up_form_is_on_the_page_with_its_limits(site, team):
    html = body(site().get(PAGE))

    assert 'action="/account/credits/top-up"' in html
    assert "from $0.01 to $100,000,000.00" in html


def test_a_return_with_another_organizations_session_shows_nothing(site, other_team):
    theirs = credits_purchase_checkout(
        organization=other_team.org,
        amount_cents=4321,
        success_url=f"{settings.SITE_URL}/account/credits",
        cancel_url=f"{settings.SITE_URL}/account/credits",
    )

    html = body(site().get(PAGE, {"purchase": "done", "session_id": theirs.session_id}))

    assert "$43.21" not in html and "top-up of" not in html


def test_a_signed_out_top_up_buys_nothing(team):
    response = Client().post(TOP_UP, {"amount": "10", "idempotency_key": "a" * 32})

    assert response.status_code == 302 and response["Location"].startswith("/login?next=")
    assert nothing_bought(team.org)


def test_entries_link_their_invoice(site, team):
    _, response = confirm(site(), "8")
    client = site()
    client.post(urlparse(response["Location"]).path, {"action": "pay"})
    entry = CreditLedgerEntry.objects.get(organization=team.org, kind="purchase")

    html = body(client.get(PAGE))

    assert f'href="/account/invoices/{entry.invoice_id}"' in html
