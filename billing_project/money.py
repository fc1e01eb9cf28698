"""Money: amounts are integers in a currency's minor unit; this module knows the units
(ours and each gateway's) and formats amounts for people (invoices, emails) with Babel.

Every exponent (digits after the decimal point of a minor unit) is ISO 4217's as Babel
knows it, except where EXPONENTS names another for one side: this project (BILLING) or a
gateway. One table, so a gateway amount and ours are always converted by the same
numbers, and exactly: an amount the other side's unit cannot hold is refused, never
rounded.
"""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_currency, get_currency_precision

BILLING = "billing"  # this project's side of EXPONENTS

# Currencies billed in whole units. IDR is one: Indonesian gateways (Xendit, Midtrans)
# take whole rupiah, and prices are set in rupiah.
ZERO_DECIMAL = frozenset({"IDR", "JPY", "KRW", "VND", "CLP", "ISK", "UGX", "PYG", "XAF", "XOF"})

# The currencies Stripe charges (its presentment currencies, https://docs.stripe.com/currencies).
STRIPE_CURRENCIES = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BWP BYN
    BZD CAD CDF CHF CLP CNY COP CRC CVE CZK DJF DKK DOP DZD EGP ETB EUR FJD FKP GBP GEL GIP GMD
    GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR ISK JMD JOD JPY KES KGS KHR KMF KRW KWD KYD KZT LAK
    LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD
    OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SEK SGD SHP SLE SOS SRD STD
    SZL THB TJS TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VND VUV WST XAF XCD XCG XOF XPF YER
    ZAR ZMW
    """.split()  # noqa: SIM905 (a table read as one)
)

# Where a side's minor unit is not Babel's ISO 4217 one.
EXPONENTS: dict[str, dict[str, int]] = {
    BILLING: dict.fromkeys(ZERO_DECIMAL, 0),
    # Stripe takes its zero-decimal currencies in whole units, BHD, JOD, KWD, OMR and TND in
    # thousandths, and every other currency in hundredths: these are the currencies where
    # that differs from Babel's (CLDR gives them 0 digits; ISK stays two-decimal at Stripe
    # though it is charged in whole krónur).
    "stripe": dict.fromkeys(("AFN", "ALL", "ISK", "LAK", "LBP", "MMK", "RSD", "SOS", "STD", "YER"), 2),
}

# A gateway's amounts in these currencies must be multiples of this many of its minor
# units: Stripe wants the last digit of a three-decimal amount 0, and whole krónur.
AMOUNT_STEPS: dict[str, dict[str, int]] = {
    "stripe": {"BHD": 10, "JOD": 10, "KWD": 10, "OMR": 10, "TND": 10, "ISK": 100},
}


def gateway_exponent(side: str, currency: str) -> int:
    """Digits after the decimal point of `side`'s minor unit of `currency` (`side`:
    BILLING or a gateway's name)."""
    currency = currency.upper()
    return EXPONENTS.get(side, {}).get(currency, get_currency_precision(currency))


def exponent(currency: str) -> int:
    """Digits after the decimal point of the currency's minor unit (this project's)."""
    return gateway_exponent(BILLING, currency)


def to_gateway_amount(amount_minor: int, currency: str, gateway: str) -> int:
    """Our `amount_minor` in `gateway`'s minor units; ValueError (saying why) when the
    gateway cannot take it exactly."""
    amount = _convert(amount_minor, currency, source=BILLING, target=gateway)
    step = AMOUNT_STEPS.get(gateway, {}).get(currency.upper(), 1)
    if amount % step:
        unit = to_major(step, currency, side=gateway)
        raise ValueError(
            f"{_who(gateway)} cannot take {_shown(amount_minor, currency)}: it takes {currency.upper()} "
            f"in multiples of {unit} {currency.upper()}."
        )
    return amount


def from_gateway_amount(amount: int, currency: str, gateway: str) -> int:
    """`gateway`'s `amount` in our minor units; ValueError when ours cannot hold it exactly."""
    return _convert(amount, currency, source=gateway, target=BILLING)


def _convert(amount: int, currency: str, *, source: str, target: str) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValueError(f"An amount in minor units is a whole number, not {amount!r}.")
    shift = gateway_exponent(target, currency) - gateway_exponent(source, currency)
    if shift >= 0:
        return amount * 10**shift
    whole, rest = divmod(amount, 10**-shift)
    if rest:
        major = Decimal(amount).scaleb(-gateway_exponent(source, currency))
        raise ValueError(
            f"{major} {currency.upper()} has more decimals than {_who(target)} keeps "
            f"({gateway_exponent(target, currency)})."
        )
    return whole


def _who(side: str) -> str:
    return "this project" if side == BILLING else side.capitalize()


def _shown(amount_minor: int, currency: str) -> str:
    return f"{to_major(amount_minor, currency)} {currency.upper()}"


LOCALES = {"IDR": "id_ID", "EUR": "de_DE", "GBP": "en_GB", "JPY": "ja_JP"}


def to_major(amount_minor: int | Decimal, currency: str, side: str = BILLING) -> Decimal:
    return Decimal(amount_minor).scaleb(-gateway_exponent(side, currency))


def format_money(amount_minor: int | Decimal, currency: str, locale: str | None = None) -> str:
    """`$1,234.56` for 123456 USD; `Rp 150.000` for 150000 IDR."""
    currency = currency.upper()
    locale = locale or LOCALES.get(currency, "en_US")
    value = to_major(amount_minor, currency)
    if exponent(currency) == 0 and get_currency_precision(currency) != 0:
        return format_currency(value, currency, locale=locale, format="¤ #,##0", currency_digits=False)
    return format_currency(value, currency, locale=locale)


def format_unit_price(amount_minor: Decimal, currency: str, locale: str | None = None) -> str:
    """A unit price may be a fraction of the minor unit (0.1 cent): show every digit it has."""
    currency = currency.upper()
    locale = locale or LOCALES.get(currency, "en_US")
    value = to_major(amount_minor, currency).normalize()
    digits = max(-value.as_tuple().exponent, exponent(currency)) if value else exponent(currency)
    pattern = "¤ #,##0" if exponent(currency) == 0 and get_currency_precision(currency) != 0 else "¤#,##0"
    if digits:
        pattern += "." + "0" * digits
    return format_currency(value, currency, locale=locale, format=pattern, currency_digits=False)
