"""Unit prices the rating engine takes have at most the 6 decimal places an invoice line
stores (audit item 13): 0.00000125 x 10,000,000 rated as 13 but stored as 0.000001 made
a line whose quantity x unit_price is 10. The line's unit_price is exactly the price
rated, so round_half_up(quantity x unit_price (+ flat fee)) is always its amount."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from invoices import rating
from invoices.rating import (
    GRADUATED,
    PACKAGE,
    PER_UNIT,
    VOLUME,
    Charge,
    Tier,
    rate_usage,
    round_half_up,
    tiers_from_json,
)

START = datetime(2025, 1, 1, tzinfo=UTC)
END = datetime(2025, 2, 1, tzinfo=UTC)
STORED = Decimal("0.000001")  # InvoiceLine.unit_price: decimal_places=6


def charge(pricing_model: str, *, unit_price="0", tiers=(), package_size=1, included=0) -> Charge:
    return Charge(
        metric_code="tokens",
        metric_name="Tokens",
        unit="token",
        included=included,
        pricing_model=pricing_model,
        unit_price=Decimal(unit_price) if isinstance(unit_price, str) else unit_price,
        package_size=package_size,
        tiers=tuple(tiers),
    )


# --- the audit's numbers -----------------------------------------------------------------------


def test_a_tier_price_with_more_than_6_decimals_is_refused():
    with pytest.raises(ValueError, match=r"0\.00000125.*6 decimal places"):
        Tier(None, Decimal("0.00000125"))


def test_tiers_from_json_refuse_a_price_with_more_than_6_decimals_naming_the_tier():
    raw = [{"up_to": 100, "unit_price": "0.1"}, {"up_to": None, "unit_price": "0.00000125"}]
    with pytest.raises(ValueError, match=r"Tier 2: .*0\.00000125.*6 decimal places"):
        tiers_from_json(raw)


def test_a_json_float_price_with_more_than_6_decimals_is_refused():
    with pytest.raises(ValueError, match="6 decimal places"):
        tiers_from_json([{"up_to": None, "unit_price": 1.25e-06}])


def test_a_per_unit_price_with_more_than_6_decimals_is_refused():
    with pytest.raises(ValueError, match=r"tokens: unit_price.*6 decimal places"):
        charge(PER_UNIT, unit_price="0.00000125")


def test_the_audited_tier_price_cannot_reach_a_line():
    with pytest.raises(ValueError):
        rate_usage(
            [charge(GRADUATED, tiers=tiers_from_json([{"up_to": None, "unit_price": "0.00000125"}]))],
            {"tokens": 10_000_000},
            START,
            END,
        )


def test_a_price_with_6_decimals_rates_a_line_whose_quantity_times_price_is_its_amount():
    [line] = rate_usage(
        [charge(GRADUATED, tiers=tiers_from_json([{"up_to": None, "unit_price": "0.000001"}]))],
        {"tokens": 10_000_000},
        START,
        END,
    )
    assert line.unit_price == Decimal("0.000001")
    assert line.quantity * line.unit_price == line.amount_cents == 10


@pytest.mark.parametrize("price", ["0.1000000", "0.0000010", "1E-6", "12", "0", "1.5E+3"])
def test_trailing_zeros_and_exponents_are_judged_by_the_digits_that_count(price):
    assert Tier(None, price).unit_price == Decimal(price)


def test_the_engine_checks_the_precision_invoice_lines_and_plan_charges_store():
    from invoices.models import InvoiceLine
    from plans.models import PlanCharge

    assert InvoiceLine._meta.get_field("unit_price").decimal_places == rating.PRICE_DECIMAL_PLACES
    assert PlanCharge._meta.get_field("unit_price").decimal_places == rating.PRICE_DECIMAL_PLACES


# --- properties --------------------------------------------------------------------------------

# Prices with 0 to 6 decimal places, from 0 to a million cents a unit.
prices = st.builds(
    lambda digits, places: Decimal(digits).scaleb(-places),
    st.integers(min_value=0, max_value=10**12),
    st.integers(min_value=0, max_value=6),
)
flat_fees = st.integers(min_value=0, max_value=10**6)


@st.composite
def tier_lists(draw) -> tuple[Tier, ...]:
    bounds = sorted(draw(st.sets(st.integers(min_value=1, max_value=10**7), max_size=4)))
    ups = [*bounds, None]
    return tuple(Tier(up, draw(prices), draw(flat_fees)) for up in ups)


@st.composite
def charges(draw) -> Charge:
    model = draw(st.sampled_from([PER_UNIT, PACKAGE, GRADUATED, VOLUME]))
    included = draw(st.none() | st.integers(min_value=0, max_value=10**6))
    if model in (GRADUATED, VOLUME):
        return charge(model, tiers=draw(tier_lists()), included=included)
    return charge(
        model, unit_price=draw(prices), package_size=draw(st.integers(min_value=1, max_value=10**4)), included=included
    )


@given(charge_=charges(), used=st.integers(min_value=0, max_value=10**9))
def test_every_rated_line_is_its_quantity_times_the_exact_price_rated(charge_, used):
    lines = rate_usage([charge_], {"tokens": used}, START, END)

    if charge_.pricing_model == GRADUATED:
        rated = list(zip(lines, charge_.tiers, strict=False))  # tier n's units are line n
    elif charge_.pricing_model == VOLUME:
        billable = rating.billable_quantity(charge_, used)
        tier = next((t for t in charge_.tiers if t.up_to is None or billable <= t.up_to), None)
        rated = [(line, tier) for line in lines]
    else:
        rated = [(line, Tier(None, charge_.unit_price)) for line in lines]
    for line, tier in rated:
        assert line.unit_price == tier.unit_price  # exactly the price rated...
        assert line.unit_price == line.unit_price.quantize(STORED)  # ...and what the line stores
        assert round_half_up(line.quantity * line.unit_price + tier.flat_fee_cents) == line.amount_cents


@given(
    digits=st.integers(min_value=1, max_value=10**12).filter(lambda n: n % 10),
    places=st.integers(min_value=7, max_value=20),
)
def test_every_price_with_more_than_6_decimal_places_is_refused(digits, places):
    price = Decimal(digits).scaleb(-places)
    with pytest.raises(ValueError, match="6 decimal places"):
        Tier(None, price)
    with pytest.raises(ValueError, match="6 decimal places"):
        charge(PER_UNIT, unit_price=price)
