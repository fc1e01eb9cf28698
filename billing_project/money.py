"""Money: amounts are integers in a currency's minor unit; this module knows the units
and formats amounts for people (invoices, emails) with Babel."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_currency, get_currency_precision

# Currencies billed in whole units. IDR is one: Indonesian gateways (Xendit, Midtrans)
# take whole rupiah, and prices are set in rupiah.
ZERO_DECIMAL = frozenset({"IDR", "JPY", "KRW", "VND", "CLP", "ISK", "UGX", "PYG", "XAF", "XOF"})

LOCALES = {"IDR": "id_ID", "EUR": "de_DE", "GBP": "en_GB", "JPY": "ja_JP"}


def exponent(currency: str) -> int:
    """Digits after the decimal point of the currency's minor unit."""
    currency = currency.upper()
    return 0 if currency in ZERO_DECIMAL else get_currency_precision(currency)


def to_major(amount_minor: int | Decimal, currency: str) -> Decimal:
    return Decimal(amount_minor).scaleb(-exponent(currency))


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
