"""The query strings of the plan lists (documented by serializers.PlanListQuerySerializer)."""

from django_filters import rest_framework as filters

from billing_project.api import filters as api

from .models import Plan


class PlanFilter(filters.FilterSet):
    active = api.BooleanFilter(field_name="is_active")

    class Meta:
        model = Plan
        fields = ["active"]
