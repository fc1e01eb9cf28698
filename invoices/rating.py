"""The rating engine: usage, base fees and proration turned into invoice lines.

Pure Python (no Django, no ORM, no settings) so it can be property-tested in microseconds.
Amounts are integers in minor units; unit prices are `Decimal` minor units and may be
fractional (0.1 is a tenth of a cent). Each line is rounded exactly once, half-up (half away
from zero), by `round_half_up`. Periods are half-open `[start, end)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal, DivisionByZero, InvalidOperation, Overflow, localcontext

BASE_FEE, USAGE, PRORATION, CREDIT, ADJUSTMENT = "base_fee", "usage", "proration", "credit", "adjustment"

PER_UNIT, PACKAGE, GRADUATED, VOLUME = "per_unit", "package", "graduated", "volume"
PRICING_MODELS = (PER_UNIT, PACKAGE, GRADUATED, VOLUME)
TIERED_MODELS = (GRADUATED, VOLUME)

INTERVAL_ADJECTIVES = {"month": "monthly", "year": "yearly"}

# Wide enough that products of BigInteger quantities and 18-digit prices, and proration
# quotients, are exact (or, for a repeating quotient, far finer than the half-cent that
# decides the rounding), so `round_half_up` is the only place a value is ever rounded.
_EXACT = Context(prec=80, traps=[InvalidOperation, DivisionByZero, Overflow])
_ONE = Decimal(1)


# --- Values --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tier:
    up_to: int | None  # inclusive upper bound of billable units in this tier; None = open-ended
    unit_price: Decimal  # minor units per unit
    flat_fee_cents: int = 0  # charged once when the tier has any units

    def __post_init__(self):
        if self.up_to is not None and (not _is_whole_number(self.up_to) or self.up_to < 1):
            raise ValueError(f"A tier's up_to must be a whole number >= 1 or None, not {self.up_to!r}.")
        object.__setattr__(self, "unit_price", _price(self.unit_price, "A tier's unit_price"))
        if not _is_whole_number(self.flat_fee_cents) or self.flat_fee_cents < 0:
            raise ValueError(f"A tier's flat_fee_cents must be a whole number >= 0, not {self.flat_fee_cents!r}.")


@dataclass(frozen=True)
class Charge:
    metric_code: str
    metric_name: str
    unit: str
    included: int | None  # units included for the rated period; None = unlimited (nothing billable)
    pricing_model: str  # "per_unit" | "package" | "graduated" | "volume"
    unit_price: Decimal = Decimal(0)  # per unit; for "package": price of one package
    package_size: int = 1
    tiers: tuple[Tier, ...] = ()

    def __post_init__(self):
        if self.pricing_model not in PRICING_MODELS:
            raise ValueError(
                f"{self.metric_code}: unknown pricing model {self.pricing_model!r}; "
                f"expected one of {', '.join(PRICING_MODELS)}."
            )
        if self.included is not None and (not _is_whole_number(self.included) or self.included < 0):
            raise ValueError(
                f"{self.metric_code}: the included quantity must be a whole number >= 0 or None, not {self.included!r}."
            )
        object.__setattr__(self, "unit_price", _price(self.unit_price, f"{self.metric_code}: unit_price"))
        # Like PlanCharge.clean(), package_size and tiers only matter to the models that use them.
        if self.pricing_model == PACKAGE and (not _is_whole_number(self.package_size) or self.package_size < 1):
            raise ValueError(
                f"{self.metric_code}: a package holds at least one unit (package_size {self.package_size!r})."
            )
        tiers = tuple(self.tiers)
        object.__setattr__(self, "tiers", tiers)
        if self.pricing_model in TIERED_MODELS:
            _validate_tiers(tiers, self.metric_code)


@dataclass(frozen=True)
class RatedLine:
    kind: str
    description: str
    quantity: Decimal
    unit_price: Decimal  # minor units, may be fractional
    amount_cents: int
    metric_code: str | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None


# --- Rounding and parsing ------------------------------------------------------------------


def round_half_up(amount: Decimal) -> int:
    """`amount` to whole minor units, halves away from zero (0.5 -> 1, -2.5 -> -3).
    The one place the engine rounds."""
    if isinstance(amount, bool) or not isinstance(amount, (Decimal, int)):
        raise TypeError(f"round_half_up takes a Decimal or int, not {type(amount).__name__}.")
    amount = Decimal(amount)
    if not amount.is_finite():
        raise ValueError(f"Cannot round {amount} to minor units.")
    with localcontext(_EXACT):
        return int(amount.quantize(_ONE, rounding=ROUND_HALF_UP))


def tiers_from_json(raw: list[dict]) -> tuple[Tier, ...]:
    """Tiers from PlanCharge.tiers JSON: `[{"up_to": int|null, "unit_price": "decimal string",
    "flat_fee_cents": int}]`. An empty list gives `()` (the charge is not tiered)."""
    if not isinstance(raw, (list, tuple)):
        raise ValueError(f"Tiers must be a list, not {type(raw).__name__}.")
    tiers = []
    for position, item in enumerate(raw, start=1):
        if not isinstance(item, Mapping) or "unit_price" not in item:
            raise ValueError(f"Tier {position} needs a unit_price.")
        price = item["unit_price"]
        # JSON numbers arrive as floats; their shortest repr is what was written ("0.1").
        if isinstance(price, float):
            price = str(price)
        try:
            tiers.append(Tier(item.get("up_to"), price, item.get("flat_fee_cents", 0)))
        except ValueError as exc:
            raise ValueError(f"Tier {position}: {exc}") from exc
    result = tuple(tiers)
    if result:
        _validate_tiers(result, "tiers")
    return result


# --- Usage ---------------------------------------------------------------------------------


def billable_quantity(charge: Charge, used: int) -> int:
    """Units beyond the included quantity; 0 when the charge is unlimited."""
    _check_usage(charge.metric_code, used)
    if charge.included is None:
        return 0
    return max(used - charge.included, 0)


def rate_usage(
    charges: Iterable[Charge], usage: Mapping[str, int], period_start: datetime, period_end: datetime
) -> list[RatedLine]:
    """USAGE lines for the billable part of `usage` (metric code -> units used in the period),
    in the order of `charges`. A metric without usage counts as 0; nothing billable, no line."""
    _check_period(period_start, period_end)
    for metric_code, used in usage.items():
        _check_usage(metric_code, used)
    lines: list[RatedLine] = []
    for charge in charges:
        billable = billable_quantity(charge, usage.get(charge.metric_code, 0))
        if billable == 0:
            continue
        with localcontext(_EXACT):
            if charge.pricing_model == PER_UNIT:
                lines.append(_per_unit_line(charge, billable, period_start, period_end))
            elif charge.pricing_model == PACKAGE:
                lines.append(_package_line(charge, billable, period_start, period_end))
            elif charge.pricing_model == GRADUATED:
                lines.extend(_graduated_lines(charge, billable, period_start, period_end))
            else:
                lines.append(_volume_line(charge, billable, period_start, period_end))
    return lines


def _per_unit_line(charge: Charge, billable: int, period_start: datetime, period_end: datetime) -> RatedLine:
    return _usage_line(
        charge,
        f"{charge.metric_name}: {_units(billable, charge.unit)}{_after_included(charge)}",
        quantity=billable,
        unit_price=charge.unit_price,
        amount=billable * charge.unit_price,
        period=(period_start, period_end),
    )


def _package_line(charge: Charge, billable: int, period_start: datetime, period_end: datetime) -> RatedLine:
    packages = -(-billable // charge.package_size)  # a started package is a whole package
    noun = "package" if packages == 1 else "packages"
    return _usage_line(
        charge,
        f"{charge.metric_name}: {packages:,} {noun} of {_units(charge.package_size, charge.unit)}"
        f" for {_units(billable, charge.unit)}{_after_included(charge)}",
        quantity=packages,
        unit_price=charge.unit_price,
        amount=packages * charge.unit_price,
        period=(period_start, period_end),
    )


def _graduated_lines(charge: Charge, billable: int, period_start: datetime, period_end: datetime) -> list[RatedLine]:
    lines = []
    below = 0  # billable units covered by the tiers before this one
    for number, tier in enumerate(charge.tiers, start=1):
        if billable <= below:
            break
        top = billable if tier.up_to is None else min(billable, tier.up_to)
        units = top - below
        lines.append(
            _usage_line(
                charge,
                f"{charge.metric_name}, tier {number} ({_tier_range(below, tier.up_to)}): "
                f"{_units(units, charge.unit)}{_flat_fee_note(tier)}{_after_included(charge)}",
                quantity=units,
                unit_price=tier.unit_price,
                amount=units * tier.unit_price + tier.flat_fee_cents,
                period=(period_start, period_end),
            )
        )
        below = top
    return lines


def _volume_line(charge: Charge, billable: int, period_start: datetime, period_end: datetime) -> RatedLine:
    below = 0
    for number, tier in enumerate(charge.tiers, start=1):
        if tier.up_to is None or billable <= tier.up_to:
            return _usage_line(
                charge,
                f"{charge.metric_name}, volume tier {number} ({_tier_range(below, tier.up_to)}): "
                f"{_units(billable, charge.unit)}{_flat_fee_note(tier)}{_after_included(charge)}",
                quantity=billable,
                unit_price=tier.unit_price,
                amount=billable * tier.unit_price + tier.flat_fee_cents,
                period=(period_start, period_end),
            )
        below = tier.up_to
    raise AssertionError("unreachable: the last tier is open-ended")  # pragma: no cover


def _usage_line(
    charge: Charge,
    description: str,
    *,
    quantity: int,
    unit_price: Decimal,
    amount: Decimal,
    period: tuple[datetime, datetime],
) -> RatedLine:
    return RatedLine(
        kind=USAGE,
        description=description,
        quantity=Decimal(quantity),
        unit_price=unit_price,
        amount_cents=round_half_up(amount),
        metric_code=charge.metric_code,
        period_start=period[0],
        period_end=period[1],
    )


# --- Base fee and proration ----------------------------------------------------------------


def base_fee_line(
    *, plan_name: str, price_cents: int, period_start: datetime, period_end: datetime, interval: str
) -> RatedLine:
    """The plan's full base fee for one billing period."""
    _check_cents(price_cents, "price_cents")
    _check_period(period_start, period_end)
    if interval not in INTERVAL_ADJECTIVES:
        raise ValueError(f"Unknown interval {interval!r}; expected one of {', '.join(INTERVAL_ADJECTIVES)}.")
    return RatedLine(
        kind=BASE_FEE,
        description=(f"{plan_name} plan, {INTERVAL_ADJECTIVES[interval]} ({_day(period_start)} to {_day(period_end)})"),
        quantity=_ONE,
        unit_price=Decimal(price_cents),
        amount_cents=price_cents,
        period_start=period_start,
        period_end=period_end,
    )


def prorate(amount_cents: int, *, period_start: datetime, period_end: datetime, start: datetime, end: datetime) -> int:
    """The share of `amount_cents` (the fee for the whole period) that falls in `[start, end)`
    clipped to `[period_start, period_end)`, measured in elapsed time and rounded half-up."""
    _check_cents(amount_cents, "amount_cents")
    _check_period(period_start, period_end)
    if end < start:
        raise ValueError(f"The prorated window ends ({end.isoformat()}) before it starts ({start.isoformat()}).")
    window = min(end, period_end) - max(start, period_start)
    if window <= timedelta(0):
        return 0
    with localcontext(_EXACT):
        share = Decimal(amount_cents) * _seconds(window) / _seconds(period_end - period_start)
    return round_half_up(share)


def prorate_quantity(
    included: int | None, *, window_start: datetime, window_end: datetime, start: datetime, end: datetime
) -> int | None:
    """The share of an included quantity that a plan segment `[start, end)` gets of the
    usage window `[window_start, window_end)`, by elapsed time, rounded half-up to whole
    units. None (unlimited) stays unlimited."""
    _check_period(window_start, window_end)
    if included is None:
        return None
    if not _is_whole_number(included) or included < 0:
        raise ValueError(f"An included quantity must be a whole number >= 0 or None, not {included!r}.")
    window = min(end, window_end) - max(start, window_start)
    if window <= timedelta(0):
        return 0
    with localcontext(_EXACT):
        share = Decimal(included) * _seconds(window) / _seconds(window_end - window_start)
    return round_half_up(share)


def proration_line(
    *, plan_name: str, price_cents: int, period_start: datetime, period_end: datetime, switch_at: datetime
) -> RatedLine | None:
    """The new plan's fee for the rest of the period after a switch at `switch_at`, by
    elapsed time (None when it rounds to 0)."""
    if not period_start <= switch_at < period_end:
        raise ValueError(
            f"The plan change at {switch_at.isoformat()} is not inside the period "
            f"{period_start.isoformat()} to {period_end.isoformat()}."
        )
    amount = prorate(price_cents, period_start=period_start, period_end=period_end, start=switch_at, end=period_end)
    if not amount:
        return None
    dates = f"from {_day(switch_at)} to {_day(period_end)}"
    return _proration_line(PRORATION, f"Remaining time on {plan_name} {dates}", amount, switch_at, period_end)


def unused_time_amount(amount_cents: int, *, period_start: datetime, period_end: datetime, switch_at: datetime) -> int:
    """What is left of a charge for `[period_start, period_end)` from `switch_at` on."""
    return prorate(amount_cents, period_start=period_start, period_end=period_end, start=switch_at, end=period_end)


def _proration_line(kind: str, description: str, amount: int, start: datetime, end: datetime) -> RatedLine:
    # One unit priced at the rounded amount: quantity x unit_price always equals the amount,
    # and no second rounding of a fractional period share is needed.
    return RatedLine(
        kind=kind,
        description=description,
        quantity=_ONE,
        unit_price=Decimal(amount),
        amount_cents=amount,
        period_start=start,
        period_end=end,
    )


# --- Checks and formatting -----------------------------------------------------------------


def _is_whole_number(value) -> bool:
    """An int that is not a bool (True must not pass as 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


# The decimal places of a stored unit price (InvoiceLine.unit_price, PlanCharge.unit_price):
# a finer price would be rated as written and stored rounded, so the line's
# quantity x unit_price would not be its amount. Such prices are refused.
PRICE_DECIMAL_PLACES = 6


def _price(value, what: str) -> Decimal:
    if isinstance(value, (bool, float)) or not isinstance(value, (Decimal, int, str)):
        raise ValueError(f"{what} must be a Decimal, int or decimal string, not {type(value).__name__}.")
    try:
        price = Decimal(value)
    except InvalidOperation as exc:
        raise ValueError(f"{what}: {value!r} is not a number.") from exc
    if not price.is_finite():
        raise ValueError(f"{what} must be a finite number, not {value!r}.")
    if price < 0:
        raise ValueError(f"{what} cannot be negative ({value!r}).")
    if price.normalize().as_tuple().exponent < -PRICE_DECIMAL_PLACES:
        raise ValueError(
            f"{what} {price} has more than {PRICE_DECIMAL_PLACES} decimal places, more than an invoice line stores."
        )
    return price


def _validate_tiers(tiers: tuple[Tier, ...], what: str) -> None:
    if not tiers:
        raise ValueError(f"{what}: tiered pricing needs at least one tier.")
    previous = 0
    for number, tier in enumerate(tiers, start=1):
        if not isinstance(tier, Tier):
            raise ValueError(f"{what}: tier {number} is a {type(tier).__name__}, not a Tier.")
        is_last = number == len(tiers)
        if is_last and tier.up_to is not None:
            raise ValueError(f"{what}: the last tier must be open-ended (up_to None), not up to {tier.up_to}.")
        if not is_last and (tier.up_to is None or tier.up_to <= previous):
            raise ValueError(
                f"{what}: tiers must ascend; tier {number} needs a whole-number up_to above {previous}, "
                f"not {tier.up_to!r} (only the last tier is open-ended)."
            )
        previous = tier.up_to or previous


def _check_usage(metric_code: str, used) -> None:
    if not _is_whole_number(used):
        raise ValueError(f"Usage of {metric_code} must be a whole number of units, not {used!r}.")
    if used < 0:
        raise ValueError(f"Usage of {metric_code} cannot be negative ({used}).")


def _check_cents(amount, what: str) -> None:
    if not _is_whole_number(amount):
        raise ValueError(f"{what} must be a whole number of minor units, not {amount!r}.")
    if amount < 0:
        raise ValueError(f"{what} cannot be negative ({amount}).")


def _check_period(period_start: datetime, period_end: datetime) -> None:
    if not period_start < period_end:
        raise ValueError(f"A period must end after it starts ({period_start.isoformat()} to {period_end.isoformat()}).")


def _seconds(duration: timedelta) -> Decimal:
    """Elapsed seconds, exactly (microseconds included)."""
    whole = duration.days * 86_400 + duration.seconds
    return Decimal(whole * 1_000_000 + duration.microseconds) / 1_000_000


def _day(at: datetime) -> str:
    return at.date().isoformat()


def _units(count: int, unit: str) -> str:
    """`1 minute`, `425 minutes` (units are singular nouns; a unit already plural stays so)."""
    if count != 1 and unit and not unit.endswith("s"):
        unit = f"{unit}es" if unit.endswith(("ch", "sh", "x")) else f"{unit}s"
    return f"{count:,} {unit}"


def _after_included(charge: Charge) -> str:
    if not charge.included:
        return ""
    return f" (after {charge.included:,} included)"


def _tier_range(below: int, up_to: int | None) -> str:
    if up_to is None:
        return f"{below + 1:,} and up"
    return f"{below + 1:,} to {up_to:,}"


def _flat_fee_note(tier: Tier) -> str:
    return " plus a flat fee" if tier.flat_fee_cents else ""
