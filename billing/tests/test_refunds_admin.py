"""The admin's refund action on payments: an intermediate form, then the refund through
the sandbox gateway (whose refund event settles it)."""

import pytest

from billing.services import invoice_collect
from invoices.services import invoice_for_first_period
from payments.models import Payment, Refund
from payments.tests.support import PRO_PRICE_CENTS, subscribe

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/payments/payment/"


@pytest.fixture
def succeeded_payment(org, pro) -> Payment:
    """A 29.99 off-session payment of a subscription's first invoice."""
    invoice = invoice_for_first_period(subscription=subscribe(org, pro))
    payment = invoice_collect(invoice=invoice)
    assert payment.status == "succeeded"
    return payment


def refund_action(browser, payment, **form):
    data = {"action": "refund", "_selected_action": [str(payment.pk)], **form}
    return browser.post(CHANGELIST, data, follow=bool(form))


def test_the_refund_action_first_shows_a_form_and_refunds_nothing(staff_client, succeeded_payment):
    response = refund_action(staff_client, succeeded_payment)

    assert response.status_code == 200
    html = response.content.decode()
    assert f"refundable {PRO_PRICE_CENTS}" in html
    assert 'name="apply"' in html
    assert 'name="amount_cents"' in html
    assert not Refund.objects.exists()


def test_a_partial_refund_succeeds_and_marks_the_payment_partially_refunded(staff, staff_client, succeeded_payment):
    response = refund_action(staff_client, succeeded_payment, apply="Refund", amount_cents=1000, reason="goodwill")

    assert response.status_code == 200
    assert "Refunded 1 payment(s)." in response.content.decode()
    refund = Refund.objects.get(payment=succeeded_payment)
    assert (refund.amount_cents, refund.status, refund.reason) == (1000, "succeeded", "goodwill")
    assert refund.reference.startswith("sbx_re_")
    assert refund.created_by == staff  # the staff member signed in to the admin
    succeeded_payment.refresh_from_db()
    assert (succeeded_payment.status, succeeded_payment.amount_refunded_cents) == ("partially_refunded", 1000)
    assert succeeded_payment.refundable_cents == PRO_PRICE_CENTS - 1000


def test_an_empty_amount_refunds_all_that_is_left(staff_client, succeeded_payment):
    refund_action(staff_client, succeeded_payment, apply="Refund", amount_cents=1000, reason="first")

    refund_action(staff_client, succeeded_payment, apply="Refund", amount_cents="", reason="the rest")

    succeeded_payment.refresh_from_db()
    assert (succeeded_payment.status, succeeded_payment.amount_refunded_cents) == ("refunded", PRO_PRICE_CENTS)
    assert sorted(Refund.objects.values_list("amount_cents", flat=True)) == [1000, PRO_PRICE_CENTS - 1000]


def test_a_refund_above_what_is_left_is_refused(staff_client, succeeded_payment):
    response = refund_action(
        staff_client, succeeded_payment, apply="Refund", amount_cents=PRO_PRICE_CENTS + 1, reason="too much"
    )

    assert f"Must be between 1 and {PRO_PRICE_CENTS}." in response.content.decode()
    assert not Refund.objects.exists()
    succeeded_payment.refresh_from_db()
    assert (succeeded_payment.status, succeeded_payment.amount_refunded_cents) == ("succeeded", 0)


def test_a_fully_refunded_payment_cannot_be_refunded_again(staff_client, succeeded_payment):
    refund_action(staff_client, succeeded_payment, apply="Refund", amount_cents="", reason="all")

    response = refund_action(staff_client, succeeded_payment, apply="Refund", amount_cents=1, reason="more")

    assert "nothing left to refund" in response.content.decode()
    assert Refund.objects.count() == 1
    succeeded_payment.refresh_from_db()
    assert succeeded_payment.amount_refunded_cents == PRO_PRICE_CENTS


def test_a_failed_payment_cannot_be_refunded(staff_client, org, pro):
    invoice = invoice_for_first_period(subscription=subscribe(org, pro, payment_method="pm_sandbox_decline"))
    failed = invoice_collect(invoice=invoice)
    assert failed.status == "failed"

    response = refund_action(staff_client, failed, apply="Refund", amount_cents=100, reason="no")

    assert "nothing left to refund" in response.content.decode()
    assert not Refund.objects.exists()


def test_a_refund_needs_a_reason(staff_client, succeeded_payment):
    response = refund_action(staff_client, succeeded_payment, apply="Refund", amount_cents=100, reason="")

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not Refund.objects.exists()


def test_only_staff_reach_the_refund_action(client, succeeded_payment):
    response = client.post(
        CHANGELIST,
        {"action": "refund", "_selected_action": [str(succeeded_payment.pk)], "apply": "Refund", "reason": "x"},
    )

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert not Refund.objects.exists()
