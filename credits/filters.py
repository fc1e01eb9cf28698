"""The query string of the credit ledger (documented by
serializers.TransactionsQuerySerializer)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django_filters import rest_framework as filters

from billing_project.api import filters as api

from .models import CreditLedgerEntry, EntryKind
from .selectors import SORT_FIELDS, SORT_ORDERS, ledger_order_by


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


class LedgerQueryForm(forms.Form):
    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start_date"), cleaned.get("end_date")
        # Only once every value is valid, as a serializer's validate() would.
        if not self.errors and start and end and start > end:
            self.add_error("start_date", "Must not be after end_date.")
        return cleaned


class LedgerEntryFilter(filters.FilterSet):
    """`type` (an entry kind); `start_date` .. `end_date`, UTC days, both inclusive;
    `sort_by` created_at (default) or amount, `sort_order` desc (default) or asc."""

    type = api.ChoiceFilter(field_name="kind", choices=EntryKind.choices)
    start_date = api.DateFilter(method="created_from")
    end_date = api.DateFilter(method="created_until")
    sort_by = api.ChoiceFilter(choices=[(field, field) for field in SORT_FIELDS], method="sorted_later")
    sort_order = api.ChoiceFilter(choices=[(order, order) for order in SORT_ORDERS], method="sorted_later")

    class Meta:
        model = CreditLedgerEntry
        fields = ["type", "start_date", "end_date", "sort_by", "sort_order"]
        form = LedgerQueryForm

    def created_from(self, queryset, name, day: date):
        return queryset.filter(created_at__gte=_start_of(day))

    def created_until(self, queryset, name, day: date):
        if day == date.max:  # the last day there is: nothing comes after it
            return queryset
        return queryset.filter(created_at__lt=_start_of(day + timedelta(days=1)))

    def sorted_later(self, queryset, name, value):
        return queryset  # sort_by and sort_order decide together: filter_queryset sorts

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        data = self.form.cleaned_data
        return queryset.order_by(
            *ledger_order_by(sort_by=data.get("sort_by") or "created_at", sort_order=data.get("sort_order") or "desc")
        )
