"""The rating engine: pure functions, no database. Unit tests pin each pricing model,
rounding and proration; Hypothesis properties check them against independent arithmetic
(Fractions and unit-by-unit counting)."""

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invoices.rating import (
    BASE_FEE,
    PRORATION,
    USAGE,
    Charge,
    RatedLine,
    Tier,
    base_fee_line,
    billable_quantity,
    prorate,
    proration_line,
    rate_usage,
    round_half_up,
    tiers_from_json,
    unused_time_amount,
)

MARCH = datetime(2026, 3, 1, tzinfo=UTC)
APRIL = datetime(2026, 4, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def rate(charge: Charge, used: int) -> list[RatedLine]:
    return rate_usage([charge], {charge.metric_code: used}, MARCH, APRIL)


def total(lines: list[RatedLine]) -> int:
    return sum(line.amount_cents for line in lines)


def minutes(included: int | None = 0, unit_price: str = "5") -> Charge:
    return Charge("call_minutes", "Call minutes", "minute", included, "per_unit", Decimal(unit_price))


def packaged_tokens(included: int | None = 0, unit_price: str = "200", package_size: int = 100_000) -> Charge:
    return Charge("tokens", "Tokens", "token", included, "package", Decimal(unit_price), package_size)


def tiered(model: str, tiers: list[tuple[int | None, str, int]], included: int | None = 0) -> Charge:
    return Charge(
        "tokens",
        "Tokens",
        "token",
        included,
        model,
        tiers=tuple(Tier(up_to, Decimal(price), flat) for up_to, price, flat in tiers),
    )


GRADUATED_TIERS = [(1_000, "1", 0), (5_000, "0.5", 0), (None, "0.25", 0)]
VOLUME_TIERS = [(1_000, "2", 0), (5_000, "1", 100), (None, "0.5", 0)]


# --- Rounding ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "expected"),
    [("0.5", 1), ("1.5", 2), ("2.5", 3), ("0.4999", 0), ("2.4", 2), ("2.6", 3), ("7", 7), ("0", 0)],
)
def test_round_half_up_rounds_halves_up(amount, expected):
    assert round_half_up(Decimal(amount)) == expected


@pytest.mark.parametrize(("amount", "expected"), [("-0.5", -1), ("-2.5", -3), ("-2.4", -2), ("-1.5", -2)])
def test_round_half_up_rounds_negative_halves_away_from_zero(amount, expected):
    assert round_half_up(Decimal(amount)) == expected


def test_round_half_up_refuses_floats():
    with pytest.raises(TypeError):
        round_half_up(0.5)


# --- Per unit ------------------------------------------------------------------------------


def test_per_unit_line_prices_every_billable_unit():
    [line] = rate(minutes(), 425)

    assert line == RatedLine(
        kind=USAGE,
        description="Call minutes: 425 minutes",
        quantity=Decimal(425),
        unit_price=Decimal(5),
        amount_cents=2125,
        metric_code="call_minutes",
        period_start=MARCH,
        period_end=APRIL,
    )


def test_per_unit_bills_only_usage_beyond_the_included_quantity():
    [line] = rate(minutes(included=1_000), 1_425)

    assert line.quantity == 425
    assert line.amount_cents == 2125
    assert line.description == "Call minutes: 425 minutes (after 1,000 included)"


@pytest.mark.parametrize("used", [0, 999, 1_000])
def test_usage_up_to_the_included_quantity_makes_no_line(used):
    assert rate(minutes(included=1_000), used) == []


def test_one_unit_above_the_included_quantity_bills_one_unit():
    [line] = rate(minutes(included=1_000), 1_001)

    assert (line.quantity, line.amount_cents) == (1, 5)


def test_unlimited_charge_bills_nothing():
    charge = minutes(included=None)

    assert billable_quantity(charge, 10**12) == 0
    assert rate(charge, 10**12) == []


def test_a_metric_without_usage_counts_as_zero():
    assert rate_usage([minutes()], {}, MARCH, APRIL) == []


def test_usage_of_metrics_without_a_charge_is_ignored():
    assert rate_usage([minutes()], {"sms": 50}, MARCH, APRIL) == []


def test_lines_follow_the_order_of_the_charges():
    sms = Charge("sms", "SMS", "message", 0, "per_unit", Decimal(1))
    lines = rate_usage([sms, minutes()], {"call_minutes": 1, "sms": 1}, MARCH, APRIL)

    assert [line.metric_code for line in lines] == ["sms", "call_minutes"]


@pytest.mark.parametrize(("calls", "expected"), [(5, 1), (14, 1), (15, 2), (25, 3), (10, 1), (5_900, 590)])
def test_fractional_unit_price_rounds_the_line_half_up(calls, expected):
    api_calls = Charge("api_calls", "API calls", "call", 0, "per_unit", Decimal("0.1"))

    [line] = rate(api_calls, calls)

    assert line.unit_price == Decimal("0.1")
    assert line.amount_cents == expected


def test_zero_priced_billable_usage_still_shows_as_a_line():
    [line] = rate(minutes(unit_price="0"), 3)

    assert (line.quantity, line.amount_cents) == (3, 0)


# --- Package -------------------------------------------------------------------------------


def test_package_pricing_rounds_a_started_package_up():
    [line] = rate(packaged_tokens(), 250_000)

    assert line.kind == USAGE
    assert (line.quantity, line.unit_price, line.amount_cents) == (3, Decimal(200), 600)
    assert line.description.startswith("Tokens: 3 packages of 100,000 tokens")
    assert (line.metric_code, line.period_start, line.period_end) == ("tokens", MARCH, APRIL)


@pytest.mark.parametrize(("used", "packages"), [(1, 1), (99_999, 1), (100_000, 1), (100_001, 2), (200_000, 2)])
def test_package_boundaries(used, packages):
    [line] = rate(packaged_tokens(), used)

    assert line.quantity == packages
    assert line.amount_cents == packages * 200


def test_package_pricing_applies_to_usage_after_the_included_quantity():
    [line] = rate(packaged_tokens(included=50_000), 250_000)

    assert line.quantity == 2
    assert "after 50,000 included" in line.description


def test_package_price_may_be_fractional():
    [line] = rate(packaged_tokens(unit_price="0.5", package_size=10), 25)

    assert (line.quantity, line.amount_cents) == (3, 2)  # 1.5 -> 2


# --- Graduated -----------------------------------------------------------------------------


def test_graduated_within_the_first_tier_is_one_line():
    [line] = rate(tiered("graduated", GRADUATED_TIERS), 400)

    assert (line.quantity, line.unit_price, line.amount_cents) == (400, Decimal(1), 400)
    assert line.description == "Tokens, tier 1 (1 to 1,000): 400 tokens"


def test_graduated_exactly_at_a_tier_bound_stays_in_that_tier():
    lines = rate(tiered("graduated", GRADUATED_TIERS), 1_000)

    assert [(line.quantity, line.amount_cents) for line in lines] == [(1_000, 1_000)]


def test_graduated_one_above_a_tier_bound_starts_the_next_tier():
    lines = rate(tiered("graduated", GRADUATED_TIERS), 1_001)

    assert [(line.quantity, line.unit_price, line.amount_cents) for line in lines] == [
        (1_000, Decimal(1), 1_000),
        (1, Decimal("0.5"), 1),
    ]
    assert lines[1].description == "Tokens, tier 2 (1,001 to 5,000): 1 token"


def test_graduated_spreads_usage_over_every_tier():
    lines = rate(tiered("graduated", GRADUATED_TIERS), 6_000)

    assert [(line.quantity, line.amount_cents) for line in lines] == [(1_000, 1_000), (4_000, 2_000), (1_000, 250)]
    assert lines[2].description == "Tokens, tier 3 (5,001 and up): 1,000 tokens"
    assert all(line.metric_code == "tokens" and line.kind == USAGE for line in lines)


def test_graduated_tiers_count_billable_units_after_the_included_quantity():
    lines = rate(tiered("graduated", GRADUATED_TIERS, included=100), 1_100)

    assert [line.quantity for line in lines] == [1_000]
    assert lines[0].description.endswith("(after 100 included)")


def test_graduated_flat_fee_is_charged_once_per_tier_that_has_units():
    charge = tiered("graduated", [(10, "1", 500), (20, "1", 300), (None, "1", 1_000)])

    assert [line.amount_cents for line in rate(charge, 10)] == [510]
    assert [line.amount_cents for line in rate(charge, 11)] == [510, 301]


def test_graduated_rounds_once_per_line():
    charge = tiered("graduated", [(1, "0.5", 0), (None, "0.5", 0)])

    # 0.5 + 0.5 would be 1 rounded once over the charge; each line rounds on its own.
    assert [line.amount_cents for line in rate(charge, 2)] == [1, 1]


# --- Volume --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("used", "unit_price", "amount"),
    [
        (1, "2", 2),
        (1_000, "2", 2_000),  # exactly at up_to: still tier 1
        (1_001, "1", 1_101),  # one above: every unit at tier 2, plus its flat fee
        (5_000, "1", 5_100),
        (5_001, "0.5", 2_501),  # 2500.5 rounds half up
    ],
)
def test_volume_prices_all_units_at_the_tier_containing_the_total(used, unit_price, amount):
    [line] = rate(tiered("volume", VOLUME_TIERS), used)

    assert (line.quantity, line.unit_price, line.amount_cents) == (used, Decimal(unit_price), amount)


def test_volume_description_names_the_tier():
    [line] = rate(tiered("volume", VOLUME_TIERS, included=10), 1_011)

    assert (
        line.description == "Tokens, volume tier 2 (1,001 to 5,000): 1,001 tokens plus a flat fee (after 10 included)"
    )


def test_volume_crossing_into_a_cheaper_tier_can_cost_less():
    # That is what volume pricing means: the discount applies to every unit.
    charge = tiered("volume", VOLUME_TIERS)

    assert total(rate(charge, 1_001)) < total(rate(charge, 1_000))


# --- Golden invoice (seed 002) -------------------------------------------------------------


def test_golden_invoice_from_seed_002():
    charges = [
        Charge("call_minutes", "Call minutes", "minute", 0, "per_unit", Decimal("5")),
        Charge("sms", "SMS", "message", 0, "per_unit", Decimal("1")),
        Charge("api_calls", "API calls", "call", 0, "per_unit", Decimal("0.1")),
    ]
    usage = {"call_minutes": 425, "sms": 1_150, "api_calls": 5_900}

    usage_lines = rate_usage(charges, usage, MARCH, APRIL)
    base = base_fee_line(plan_name="Pro", price_cents=2_999, period_start=MARCH, period_end=APRIL, interval="month")

    assert [line.amount_cents for line in usage_lines] == [2_125, 1_150, 590]
    assert total(usage_lines) == 3_865
    assert total([base, *usage_lines]) == 6_864


# --- Base fee ------------------------------------------------------------------------------


def test_base_fee_line_is_the_full_price_for_the_period():
    line = base_fee_line(plan_name="Pro", price_cents=2_999, period_start=MARCH, period_end=APRIL, interval="month")

    assert line == RatedLine(
        kind=BASE_FEE,
        description="Pro plan, monthly (2026-03-01 to 2026-04-01)",
        quantity=Decimal(1),
        unit_price=Decimal(2_999),
        amount_cents=2_999,
        period_start=MARCH,
        period_end=APRIL,
    )


def test_yearly_base_fee_says_yearly():
    next_year = datetime(2027, 3, 1, tzinfo=UTC)
    line = base_fee_line(plan_name="Pro", price_cents=1, period_start=MARCH, period_end=next_year, interval="year")

    assert line.description == "Pro plan, yearly (2026-03-01 to 2027-03-01)"


# --- Proration -----------------------------------------------------------------------------


def test_prorate_gives_the_share_of_elapsed_time():
    assert prorate(3_100, period_start=MARCH, period_end=APRIL, start=MARCH + 10 * DAY, end=APRIL) == 2_100


def test_prorate_counts_by_the_second():
    fee = 31 * 86_400  # one minor unit per second of March
    one_second = timedelta(seconds=1)

    assert prorate(fee, period_start=MARCH, period_end=APRIL, start=MARCH, end=MARCH + one_second) == 1


@pytest.mark.parametrize(("fee", "expected"), [(1, 1), (3, 2), (5, 3), (4, 2)])
def test_prorate_rounds_half_up(fee, expected):
    end = MARCH + 31 * DAY / 2  # exactly half of March

    assert prorate(fee, period_start=MARCH, period_end=APRIL, start=MARCH, end=end) == expected


def test_prorate_clips_the_window_to_the_period():
    before, after = MARCH - 5 * DAY, APRIL + 5 * DAY

    assert prorate(3_100, period_start=MARCH, period_end=APRIL, start=before, end=after) == 3_100
    assert prorate(3_100, period_start=MARCH, period_end=APRIL, start=before, end=MARCH + DAY) == 100
    assert prorate(3_100, period_start=MARCH, period_end=APRIL, start=APRIL, end=after) == 0


def test_a_switch_charges_the_remaining_time_of_the_new_plan():
    switch = MARCH + 10 * DAY

    charge = proration_line(plan_name="Pro", price_cents=3_000, period_start=MARCH, period_end=APRIL, switch_at=switch)

    assert (charge.kind, charge.amount_cents) == (PRORATION, 2_032)  # 3000 * 21/31 = 2032.3
    assert charge.description == "Remaining time on Pro from 2026-03-11 to 2026-04-01"
    assert (charge.period_start, charge.period_end, charge.metric_code) == (switch, APRIL, None)
    assert charge.quantity * charge.unit_price == charge.amount_cents


def test_the_unused_time_of_a_charge_is_its_remaining_share():
    switch = MARCH + 10 * DAY

    assert unused_time_amount(1_000, period_start=MARCH, period_end=APRIL, switch_at=switch) == 677  # 677.4


def test_switching_to_a_free_plan_charges_nothing():
    line = proration_line(plan_name="Free", price_cents=0, period_start=MARCH, period_end=APRIL, switch_at=APRIL - DAY)

    assert line is None


def test_a_switch_at_the_period_start_charges_the_whole_period():
    line = proration_line(plan_name="Pro", price_cents=3_000, period_start=MARCH, period_end=APRIL, switch_at=MARCH)

    assert line.amount_cents == 3_000


@pytest.mark.parametrize("switch_at", [APRIL, MARCH - DAY, APRIL + DAY])
def test_proration_outside_the_period_is_refused(switch_at):
    with pytest.raises(ValueError, match="not inside the period"):
        proration_line(plan_name="Pro", price_cents=3_000, period_start=MARCH, period_end=APRIL, switch_at=switch_at)


# --- Validation ----------------------------------------------------------------------------


def test_negative_usage_is_refused():
    with pytest.raises(ValueError, match="cannot be negative"):
        rate(minutes(), -1)
    with pytest.raises(ValueError, match="cannot be negative"):
        billable_quantity(minutes(), -1)


def test_fractional_usage_is_refused():
    with pytest.raises(ValueError, match="whole number"):
        rate(minutes(), Decimal("1.5"))


def test_negative_unit_price_is_refused():
    with pytest.raises(ValueError, match="cannot be negative"):
        minutes(unit_price="-1")


def test_float_unit_price_is_refused():
    with pytest.raises(ValueError, match="not float"):
        Charge("sms", "SMS", "message", 0, "per_unit", 0.1)


def test_negative_included_quantity_is_refused():
    with pytest.raises(ValueError, match="included"):
        minutes(included=-1)


def test_unknown_pricing_model_is_refused():
    with pytest.raises(ValueError, match="unknown pricing model"):
        Charge("sms", "SMS", "message", 0, "per_message")


@pytest.mark.parametrize("package_size", [0, -1])
def test_package_of_less_than_one_unit_is_refused(package_size):
    with pytest.raises(ValueError, match="at least one unit"):
        packaged_tokens(package_size=package_size)


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ([], "at least one tier"),
        ([(1_000, "1", 0)], "last tier must be open-ended"),
        ([(1_000, "1", 0), (1_000, "1", 0), (None, "1", 0)], "tiers must ascend"),
        ([(1_000, "1", 0), (500, "1", 0), (None, "1", 0)], "tiers must ascend"),
        ([(None, "1", 0), (None, "1", 0)], "tiers must ascend"),
    ],
)
@pytest.mark.parametrize("model", ["graduated", "volume"])
def test_malformed_tiers_are_refused(model, tiers, message):
    with pytest.raises(ValueError, match=message):
        tiered(model, tiers)


@pytest.mark.parametrize(
    ("up_to", "price", "flat", "message"),
    [(0, "1", 0, "up_to"), (True, "1", 0, "up_to"), (None, "-0.1", 0, "cannot be negative"), (None, "1", -1, "flat")],
)
def test_malformed_tier_is_refused(up_to, price, flat, message):
    with pytest.raises(ValueError, match=message):
        Tier(up_to, Decimal(price), flat)


def test_tiers_from_json_reads_plan_charge_tiers():
    raw = [
        {"up_to": 10_000_000, "unit_price": "0.0004", "flat_fee_cents": 0},
        {"up_to": None, "unit_price": "0.0002"},
    ]

    assert tiers_from_json(raw) == (Tier(10_000_000, Decimal("0.0004"), 0), Tier(None, Decimal("0.0002"), 0))
    assert tiers_from_json([]) == ()


def test_tiers_from_json_takes_a_json_number_as_written():
    assert tiers_from_json([{"up_to": None, "unit_price": 0.1}]) == (Tier(None, Decimal("0.1")),)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([{"up_to": 5}], "needs a unit_price"),
        ([{"up_to": 5, "unit_price": "1"}], "open-ended"),
        ([{"up_to": 5, "unit_price": "1"}, {"up_to": 5, "unit_price": "1"}, {"unit_price": "1"}], "ascend"),
        ([{"up_to": None, "unit_price": "abc"}], "not a number"),
        ([{"up_to": None, "unit_price": "-1"}], "cannot be negative"),
    ],
)
def test_tiers_from_json_refuses_malformed_tiers(raw, message):
    with pytest.raises(ValueError, match=message):
        tiers_from_json(raw)


def test_tiered_charge_from_json_rates_like_the_example():
    charge = Charge(
        "tokens",
        "Tokens",
        "token",
        0,
        "graduated",
        tiers=tiers_from_json([{"up_to": 10_000_000, "unit_price": "0.0004"}, {"up_to": None, "unit_price": "0.0002"}]),
    )

    lines = rate(charge, 10_002_500)

    assert lines[1].description == "Tokens, tier 2 (10,000,001 and up): 2,500 tokens"
    assert [line.amount_cents for line in lines] == [4_000, 1]  # 0.5 -> 1


def test_negative_base_fee_is_refused():
    with pytest.raises(ValueError, match="cannot be negative"):
        base_fee_line(plan_name="Pro", price_cents=-1, period_start=MARCH, period_end=APRIL, interval="month")


def test_unknown_interval_is_refused():
    with pytest.raises(ValueError, match="interval"):
        base_fee_line(plan_name="Pro", price_cents=1, period_start=MARCH, period_end=APRIL, interval="week")


def test_empty_period_is_refused():
    with pytest.raises(ValueError, match="end after it starts"):
        rate_usage([minutes()], {"call_minutes": 1}, APRIL, MARCH)


def test_prorating_a_negative_amount_is_refused():
    with pytest.raises(ValueError, match="cannot be negative"):
        prorate(-1, period_start=MARCH, period_end=APRIL, start=MARCH, end=APRIL)


def test_prorating_a_window_that_ends_before_it_starts_is_refused():
    with pytest.raises(ValueError, match="before it starts"):
        prorate(1, period_start=MARCH, period_end=APRIL, start=APRIL, end=MARCH)


# --- Properties ----------------------------------------------------------------------------

property_settings = settings(deadline=None, max_examples=200)

prices = st.decimals(min_value=0, max_value=1_000, places=6, allow_nan=False, allow_infinity=False)
flat_fees = st.integers(min_value=0, max_value=10_000)
usages = st.integers(min_value=0, max_value=3_000)
includeds = st.one_of(st.none(), st.integers(min_value=0, max_value=1_000))


@st.composite
def tier_lists(draw) -> tuple[Tier, ...]:
    gaps = draw(st.lists(st.integers(min_value=1, max_value=800), max_size=4))
    bounds = [sum(gaps[: index + 1]) for index in range(len(gaps))] + [None]
    return tuple(Tier(up_to, draw(prices), draw(flat_fees)) for up_to in bounds)


@st.composite
def charges(draw, model: str | None = None) -> Charge:
    model = model or draw(st.sampled_from(["per_unit", "package", "graduated", "volume"]))
    return Charge(
        metric_code=draw(st.sampled_from(["tokens", "minutes", "sms"])),
        metric_name="Metric",
        unit="unit",
        included=draw(includeds),
        pricing_model=model,
        unit_price=draw(prices),
        package_size=draw(st.integers(min_value=1, max_value=500)),
        tiers=draw(tier_lists()) if model in ("graduated", "volume") else (),
    )


def half_up(value: Fraction) -> int:
    """Round a non-negative Fraction half up, independently of the engine."""
    return math.floor(value + Fraction(1, 2))


def tier_of_unit(tiers: tuple[Tier, ...], unit: int) -> int:
    """Index of the tier holding the `unit`-th billable unit (1-based)."""
    return next(index for index, tier in enumerate(tiers) if tier.up_to is None or unit <= tier.up_to)


@property_settings
@given(charge=charges("graduated"), used=usages)
def test_graduated_amount_is_the_sum_of_each_tiers_units_at_its_price(charge, used):
    billable = 0 if charge.included is None else max(used - charge.included, 0)
    units_per_tier = [0] * len(charge.tiers)
    for unit in range(1, billable + 1):  # count unit by unit, not by tier arithmetic
        units_per_tier[tier_of_unit(charge.tiers, unit)] += 1
    expected = [
        (Decimal(units), tier.unit_price, half_up(units * Fraction(tier.unit_price) + tier.flat_fee_cents))
        for units, tier in zip(units_per_tier, charge.tiers, strict=True)
        if units
    ]

    lines = rate(charge, used)

    assert [(line.quantity, line.unit_price, line.amount_cents) for line in lines] == expected


@property_settings
@given(charge=charges("volume"), used=usages)
def test_volume_prices_everything_at_exactly_one_tier(charge, used):
    billable = 0 if charge.included is None else max(used - charge.included, 0)

    lines = rate(charge, used)

    if billable == 0:
        assert lines == []
        return
    tier = charge.tiers[tier_of_unit(charge.tiers, billable)]
    [line] = lines
    assert line.unit_price in [other.unit_price for other in charge.tiers]
    assert line.quantity == billable
    assert line.amount_cents == half_up(billable * Fraction(tier.unit_price) + tier.flat_fee_cents)


@property_settings
@given(
    charge_list=st.lists(charges(), max_size=4),
    used=st.dictionaries(st.sampled_from(["tokens", "minutes", "sms"]), st.integers(0, 10**7)),
    price_cents=st.integers(min_value=0, max_value=10**9),
)
def test_rated_and_base_fee_lines_are_never_negative(charge_list, used, price_cents):
    lines = [
        *rate_usage(charge_list, used, MARCH, APRIL),
        base_fee_line(plan_name="Pro", price_cents=price_cents, period_start=MARCH, period_end=APRIL, interval="month"),
    ]

    assert all(line.amount_cents >= 0 and line.kind in (USAGE, BASE_FEE) for line in lines)


@property_settings
@given(charge=charges(), used=usages, more=st.integers(min_value=0, max_value=3_000))
def test_more_usage_never_costs_less(charge, used, more):
    if charge.pricing_model == "volume":
        # Volume pricing is monotonic only within a tier (see
        # test_volume_crossing_into_a_cheaper_tier_can_cost_less): compare inside one tier.
        billable = 0 if charge.included is None else max(used - charge.included, 0)
        if billable == 0:
            return
        tier = charge.tiers[tier_of_unit(charge.tiers, billable)]
        if tier.up_to is not None:
            more = min(more, tier.up_to - billable)

    assert total(rate(charge, used + more)) >= total(rate(charge, used))


periods = st.integers(min_value=1, max_value=366 * 86_400 * 10**6)  # microseconds
period_starts = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC))  # noqa: DTZ001 - hypothesis takes naive bounds
fees = st.integers(min_value=0, max_value=10**10)


def microseconds(duration: timedelta) -> int:
    return (duration.days * 86_400 + duration.seconds) * 10**6 + duration.microseconds


def exact_share(fee: int, period_start, period_end, start, end) -> Fraction:
    window = min(end, period_end) - max(start, period_start)
    return Fraction(fee * max(microseconds(window), 0), microseconds(period_end - period_start))


@property_settings
@given(
    fee=fees,
    period_start=period_starts,
    length=periods,
    offsets=st.lists(st.floats(min_value=-0.5, max_value=1.5), min_size=3, max_size=3),
)
def test_prorated_parts_add_up_to_the_whole(fee, period_start, length, offsets):
    period_end = period_start + timedelta(microseconds=length)
    start, split, end = sorted(period_start + timedelta(microseconds=int(length * offset)) for offset in offsets)
    period = {"period_start": period_start, "period_end": period_end}

    whole = prorate(fee, **period, start=start, end=end)
    first = prorate(fee, **period, start=start, end=split)
    second = prorate(fee, **period, start=split, end=end)

    assert abs(first + second - whole) <= 1
    assert abs(first - exact_share(fee, period_start, period_end, start, split)) <= Fraction(1, 2)
    assert abs(second - exact_share(fee, period_start, period_end, split, end)) <= Fraction(1, 2)
    assert first >= 0 and second >= 0


@property_settings
@given(fee=fees, period_start=period_starts, length=periods, split=st.floats(min_value=0, max_value=1))
def test_prorating_the_whole_period_in_two_parts_gives_the_whole_fee(fee, period_start, length, split):
    period_end = period_start + timedelta(microseconds=length)
    split_at = period_start + timedelta(microseconds=int(length * split))
    period = {"period_start": period_start, "period_end": period_end}

    first = prorate(fee, **period, start=period_start, end=split_at)
    second = prorate(fee, **period, start=split_at, end=period_end)

    assert prorate(fee, **period, start=period_start, end=period_end) == fee
    assert abs(first + second - fee) <= 1


@property_settings
@given(
    old_fee=fees,
    new_fee=fees,
    period_start=period_starts,
    length=st.integers(min_value=2, max_value=366 * 86_400 * 10**6),
    switch=st.floats(min_value=0, max_value=1),
)
def test_a_switch_charges_and_credits_the_remaining_shares(old_fee, new_fee, period_start, length, switch):
    """What comes back of the old fee and what the new one charges are each within half a
    cent of their exact share of the remaining time, and net to the exact difference
    within one cent."""
    period_end = period_start + timedelta(microseconds=length)
    switch_at = period_start + timedelta(microseconds=min(max(int(length * switch), 1), length - 1))

    unused = unused_time_amount(old_fee, period_start=period_start, period_end=period_end, switch_at=switch_at)
    line = proration_line(
        plan_name="New", price_cents=new_fee, period_start=period_start, period_end=period_end, switch_at=switch_at
    )
    charged = line.amount_cents if line else 0

    assert abs(unused - exact_share(old_fee, period_start, period_end, switch_at, period_end)) <= Fraction(1, 2)
    assert abs(charged - exact_share(new_fee, period_start, period_end, switch_at, period_end)) <= Fraction(1, 2)
    exact = exact_share(new_fee - old_fee, period_start, period_end, switch_at, period_end)
    assert abs(charged - unused - exact) <= 1
    assert line is None or line.amount_cents > 0
