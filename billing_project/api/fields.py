"""Serializer fields shared by the API's input serializers."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


@extend_schema_field(OpenApiTypes.INT64)
class WholeCentsField(serializers.IntegerField):
    """A money amount in minor units, as a JSON integer: strings ("100"), fractions and
    whole floats (1.0) and booleans are refused, never coerced."""

    default_error_messages = {"invalid": "A whole number of minor units (a JSON integer) is required."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)
