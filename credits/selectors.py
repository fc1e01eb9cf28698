"""Reads of an organization's credit."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

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


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def ledger_entries(
    *,
    organization: Organization,
    kind: str | None = None,
    start_date: date | None = None,
    end_date: date | None = None,
    sort_by: str = "created_at",
    sort_order: str = "desc",
) -> QuerySet[CreditLedgerEntry]:
    """The organization's ledger entries, optionally of one `kind`, created on
    `start_date` .. `end_date` (UTC days, both inclusive), sorted by `created_at` or
    `amount`; ties keep the order the entries were written in."""
    if sort_by not in SORT_FIELDS:
        raise ValueError(f"sort_by must be one of {sorted(SORT_FIELDS)}")
    if sort_order not in SORT_ORDERS:
        raise ValueError(f"sort_order must be one of {SORT_ORDERS}")
    queryset = CreditLedgerEntry.objects.filter(organization=organization)
    if kind:
        queryset = queryset.filter(kind=kind)
    if start_date is not None:
        queryset = queryset.filter(created_at__gte=_start_of(start_date))
    if end_date is not None and end_date < date.max:
        queryset = queryset.filter(created_at__lt=_start_of(end_date + timedelta(days=1)))
    prefix = "-" if sort_order == "desc" else ""
    return queryset.order_by(f"{prefix}{SORT_FIELDS[sort_by]}", f"{prefix}sequence")
