"""Template helpers of the customer site: money per currency (Babel), dates in the
viewer's zone with UTC in a tooltip, the per-form idempotency key, usage bars."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from django import template
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

from billing_project.money import format_money, format_unit_price

register = template.Library()


@register.filter
def money(amount_minor, currency: str) -> str:
    """{{ invoice.total_cents|money:invoice.currency }} -> $1,234.56, Rp 150.000, ¥500."""
    if amount_minor is None or not currency:
        return ""
    return format_money(amount_minor, currency)


@register.filter
def unit_price(amount_minor, currency: str) -> str:
    if amount_minor is None or not currency:
        return ""
    return format_unit_price(amount_minor, currency)


@register.simple_tag
def when(value, style: str = "datetime"):
    """<time> in the viewer's zone, its UTC moment in the tooltip and the datetime attribute."""
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime):
        local = timezone.localtime(value) if timezone.is_aware(value) else value
        utc = value.astimezone(UTC) if timezone.is_aware(value) else value
        shown = (
            date_format(local, "DATE_FORMAT")
            if style == "date"
            else f"{date_format(local, 'DATE_FORMAT')} {local:%H:%M} {local.tzname()}"
        )
        return format_html(
            '<time datetime="{}" title="{} UTC">{}</time>', utc.isoformat(), utc.strftime("%Y-%m-%d %H:%M:%S"), shown
        )
    if isinstance(value, date):
        return format_html('<time datetime="{}">{}</time>', value.isoformat(), date_format(value, "DATE_FORMAT"))
    return str(value)


@register.simple_tag
def form_key():
    """The hidden idempotency key of a form (web.once): new at each render."""
    return format_html('<input type="hidden" name="idempotency_key" value="{}">', uuid.uuid4().hex)


@register.filter
def percent_of(used, limit) -> int:
    """Share of `limit` used, 0-100, for bars (a meter shows the value itself)."""
    try:
        used, limit = int(used or 0), int(limit or 0)
    except (TypeError, ValueError):
        return 0
    if limit <= 0:
        return 0
    return max(0, min(100, round(used * 100 / limit)))
