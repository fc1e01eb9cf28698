"""Reads of an organization's credit."""

from __future__ import annotations

from datetime import datetime

from django.db.models import BigIntegerField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from organizations.models import Organization

from .models import CreditBalance, CreditLedgerEntry, CreditLot

SORT_FIELDS = {"created_at": "created_at", "amount": "amount_cents"}
SORT_ORDERS = ("asc", "desc")


def balance_of(*, organization: Organization, now: datetime | None = None) -> tuple[int, str]:
    """The credit the organization can use and its currency (0 in the organization's
    currency before any credit moved): the balance less what is left of lots past their
    expiry that the hourly job has not expired yet (no debit can use it). One query; a
    read never writes the expiry itself."""
    expired = (
        CreditLot.objects.filter(
            organization_id=OuterRef("pk"), remaining_cents__gt=0, expires_at__lte=now or timezone.now()
        )
        .order_by()
        .values("organization_id")
        .annotate(total=Sum("remaining_cents"))
        .values("total")
    )
    row = (
        CreditBalance.objects.filter(pk=organization.pk)
        .annotate(expired=Coalesce(Subquery(expired), Value(0), output_field=BigIntegerField()))
        .values_list("balance_cents", "expired", "currency")
        .first()
    )
    if row is None:
        return 0, organization.currency
    balance_cents, expired_cents, currency = row
    return balance_cents - expired_cents, currency


def ledger_entries(*, organization: Organization) -> QuerySet[CreditLedgerEntry]:
    """The organization's ledger entries, newest first (the API's lists filter and sort
    them with credits.filters.LedgerEntryFilter)."""
    return CreditLedgerEntry.objects.filter(organization=organization).order_by(
        *ledger_order_by(sort_by="created_at", sort_order="desc")
    )


def ledger_order_by(*, sort_by: str, sort_order: str) -> tuple[str, str]:
    """The ordering of ledger entries by `created_at` or `amount` (the signed amount),
    `asc` or `desc`; ties keep the order the entries were written in."""
    if sort_by not in SORT_FIELDS:
        raise ValueError(f"sort_by must be one of {sorted(SORT_FIELDS)}")
    if sort_order not in SORT_ORDERS:
        raise ValueError(f"sort_order must be one of {SORT_ORDERS}")
    prefix = "-" if sort_order == "desc" else ""
    return f"{prefix}{SORT_FIELDS[sort_by]}", f"{prefix}sequence"
