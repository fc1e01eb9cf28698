"""Request and response shapes of the usage endpoints (for validation of the people
endpoints' query strings and for the OpenAPI schema; the service endpoints parse by hand)."""

from datetime import timedelta

from django.utils import timezone
from rest_framework import serializers


class UsageEventInputSerializer(serializers.Serializer):
    event_type = serializers.CharField(help_text="Must be listed by a billable metric, e.g. `api_call`.")
    quantity = serializers.IntegerField(min_value=0, default=1, help_text="A whole number >= 0.")
    endpoint = serializers.CharField(required=False, max_length=255)
    metadata = serializers.DictField(
        required=False, help_text="Up to 4 KB as JSON, nested at most 32 levels; finite numbers only."
    )
    timestamp = serializers.DateTimeField(
        required=False, help_text="When it happened; default now. At most 5 minutes ahead, not in an invoiced period."
    )
    idempotency_key = serializers.CharField(required=False, max_length=255, help_text="Unique per organization.")


class RemainingQuotaSerializer(serializers.DictField):
    child = serializers.IntegerField(allow_null=True)


class UsageReportOutputSerializer(serializers.Serializer):
    recorded_at = serializers.DateTimeField()
    duplicate = serializers.BooleanField(help_text="True when the idempotency key was seen before (counted once).")
    remaining_quota = RemainingQuotaSerializer(help_text="Metric code -> units left this period (null: unlimited).")


class BatchInputSerializer(serializers.Serializer):
    events = UsageEventInputSerializer(many=True, help_text="1 to 1000 events.")


class BatchErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    error = serializers.CharField()
    field = serializers.CharField()


class BatchOutputSerializer(serializers.Serializer):
    processed_count = serializers.IntegerField()
    duplicate_count = serializers.IntegerField()
    failed_count = serializers.IntegerField()
    errors = BatchErrorSerializer(many=True)
    remaining_quota = RemainingQuotaSerializer()


class QuotaCheckQuerySerializer(serializers.Serializer):
    """Documents the query; usage.services.quota_needs_from_query parses it."""

    tokens_needed = serializers.IntegerField(min_value=0, required=False)
    requests_needed = serializers.IntegerField(min_value=0, required=False)
    metric = serializers.CharField(required=False, max_length=50)
    quantity = serializers.IntegerField(min_value=0, required=False, default=1)


class QuotaCheckOutputSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    remaining = RemainingQuotaSerializer()
    resets_at = serializers.DateTimeField()


class MetricUsageSerializer(serializers.Serializer):
    used = serializers.IntegerField()
    included = serializers.IntegerField(allow_null=True)
    remaining = serializers.IntegerField(allow_null=True)
    unit = serializers.CharField()
    policy = serializers.CharField(allow_null=True)


class SeriesPointSerializer(serializers.Serializer):
    date = serializers.DateField()
    metrics = serializers.DictField(child=serializers.IntegerField())


class PlanRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    code = serializers.CharField()
    name = serializers.CharField()


class UsageOutputSerializer(serializers.Serializer):
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    plan = PlanRefSerializer(allow_null=True)
    tokens_used = serializers.IntegerField()
    requests_made = serializers.IntegerField()
    quota = serializers.DictField(child=serializers.IntegerField(allow_null=True))
    metrics = serializers.DictField(child=MetricUsageSerializer())
    series = SeriesPointSerializer(many=True, required=False)


class UsageQuerySerializer(serializers.Serializer):
    period = serializers.ChoiceField(choices=["current_month", "previous_month"], default="current_month")
    group_by = serializers.ChoiceField(choices=["day"], required=False)


class HistoryQuerySerializer(serializers.Serializer):
    """Defaults to the last 30 days; at most a year of daily or five years of monthly points."""

    MAX_DAYS = {"daily": 366, "monthly": 366 * 5}

    start_date = serializers.DateField(required=False)
    end_date = serializers.DateField(required=False)
    granularity = serializers.ChoiceField(choices=["daily", "monthly"], default="daily")

    def validate(self, attrs):
        end = attrs.get("end_date") or timezone.now().date()
        start = attrs.get("start_date") or end - timedelta(days=29)
        if start > end:
            raise serializers.ValidationError({"start_date": ["Must not be after end_date."]})
        limit = self.MAX_DAYS[attrs["granularity"]]
        if (end - start).days + 1 > limit:
            raise serializers.ValidationError(
                {"start_date": [f"At most {limit} days of {attrs['granularity']} history at once."]}
            )
        return {"start": start, "end": end, "granularity": attrs["granularity"]}


class HistoryPointSerializer(serializers.Serializer):
    date = serializers.DateField(help_text="The day, or the first day of the month.")
    tokens_used = serializers.IntegerField()
    requests_made = serializers.IntegerField()
    metrics = serializers.DictField(child=serializers.IntegerField())


class LimitsOutputSerializer(serializers.Serializer):
    plan = PlanRefSerializer(allow_null=True)
    limits = serializers.DictField(
        child=serializers.IntegerField(allow_null=True),
        help_text="`<metric>_monthly` -> included units per month (null: unlimited).",
    )
