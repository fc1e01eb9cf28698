"""POST /api/v1/credits/purchase takes `amount_cents` as a JSON integer only, like every
money input: no strings, fractions, floats or booleans coerced into an amount."""

import pytest

from invoices.models import Invoice
from payments.models import Payment
from payments.tests.support import CANCEL_URL, CREDITS_PURCHASE, SUCCESS_URL, assert_error, assert_ok, counts

pytestmark = pytest.mark.django_db


def purchase(client, amount_cents):
    body = {"amount_cents": amount_cents, "success_url": SUCCESS_URL, "cancel_url": CANCEL_URL}
    return client.post(CREDITS_PURCHASE, body, format="json")


@pytest.mark.parametrize(
    "amount",
    [
        pytest.param("100", id="string"),
        pytest.param(100.0, id="whole-float"),
        pytest.param(1.5, id="fraction"),
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
        pytest.param("1e3", id="exponent-string"),
        pytest.param(None, id="null"),
        pytest.param([100], id="list"),
    ],
)
def test_credits_purchase_refuses_an_amount_that_is_not_a_json_integer(owner, org, amount):
    before = counts(org)

    error = assert_error(purchase(owner, amount), 400, "validation_error")

    assert "amount_cents" in error["details"]
    assert counts(org) == before


@pytest.mark.parametrize("amount", [0, -100, 10**10 + 1])
def test_credits_purchase_refuses_an_amount_out_of_range(owner, org, amount):
    assert_error(purchase(owner, amount), 400, "validation_error")

    assert not Payment.objects.filter(organization=org).exists()


def test_credits_purchase_takes_a_json_integer(owner, org):
    data = assert_ok(purchase(owner, 100))

    assert Payment.objects.get(pk=data["session_id"]).amount_cents == 100
    assert Invoice.objects.get(organization=org).total_cents == 100
