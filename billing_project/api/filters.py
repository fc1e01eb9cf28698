"""django-filter for the API's lists, reading a query string the way the API's serializers
read a body.

django-filter validates with Django form fields, and those parse and word things their own
way: a date may come in a locale format (`03/15/2026`), `?active=1` is no boolean, a bad
choice is "Select a valid choice". The filters here read each value with DRF's own parsing
and keep DRF's messages, so a bad value is the API's 400 `validation_error` with the same
field message as a bad body field (DjangoFilterBackend raises the form's errors as a DRF
ValidationError, and billing_project.api.exceptions renders it).
"""

from __future__ import annotations

import django_filters
from django import forms
from django_filters import rest_framework as filters
from rest_framework import serializers

INVALID_CHOICE = '"%(value)s" is not a valid choice.'  # DRF ChoiceField's words
INVALID_UUID = "Must be a valid UUID."


class _ReadBySerializerField(forms.Field):
    """A form field whose value is read by a DRF serializer field (`reader`), with its
    error message. An absent or empty value is None: no filtering."""

    reader: serializers.Field

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return self.reader.run_validation(value)
        except serializers.ValidationError as exc:
            # "%(message)s": django-filter %-formats each message with its params.
            raise forms.ValidationError("%(message)s", code="invalid", params={"message": exc.detail[0]}) from None


class ISODateField(_ReadBySerializerField):
    """YYYY-MM-DD, as DRF's DateField reads it (ISO 8601)."""

    reader = serializers.DateField()


class NullBooleanField(_ReadBySerializerField):
    """true/false, 1/0, yes/no, on/off (any case), as DRF's BooleanField reads them;
    `null` or an empty value is no filter."""

    reader = serializers.BooleanField(allow_null=True)


class ChoiceFilter(filters.ChoiceFilter):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("error_messages", {"invalid_choice": INVALID_CHOICE})
        super().__init__(*args, **kwargs)


class UUIDFilter(filters.UUIDFilter):
    """A UUID as DRF's UUIDField reads it: surrounding spaces make it invalid."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("strip", False)
        kwargs.setdefault("error_messages", {"invalid": INVALID_UUID})
        super().__init__(*args, **kwargs)


class DateFilter(filters.DateFilter):
    field_class = ISODateField


class BooleanFilter(django_filters.BooleanFilter):
    # Not the rest_framework variant: its widget reads only "true" and "false", and
    # turns anything else into "no filter" before the field sees it.
    field_class = NullBooleanField
