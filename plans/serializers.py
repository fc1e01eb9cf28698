from rest_framework import serializers

from .models import Plan, PlanCharge


class TierSerializer(serializers.Serializer):
    up_to = serializers.IntegerField(allow_null=True, help_text="Upper bound of the tier; null for the last.")
    unit_price = serializers.DecimalField(max_digits=18, decimal_places=6, help_text="Minor units per unit.")
    flat_fee_cents = serializers.IntegerField(default=0)


class PlanChargeSerializer(serializers.ModelSerializer):
    metric = serializers.CharField(source="metric.code")
    metric_name = serializers.CharField(source="metric.name")
    unit = serializers.CharField(source="metric.unit")
    unit_price = serializers.DecimalField(
        max_digits=18, decimal_places=6, help_text="Minor units per unit (e.g. 0.1 = a tenth of a cent)."
    )
    tiers = TierSerializer(many=True)

    class Meta:
        model = PlanCharge
        fields = [
            "metric",
            "metric_name",
            "unit",
            "included_quantity",
            "policy",
            "pricing_model",
            "unit_price",
            "package_size",
            "tiers",
        ]
        read_only_fields = fields


class PlanSerializer(serializers.ModelSerializer):
    trial_days = serializers.IntegerField()
    version = serializers.IntegerField(
        read_only=True,
        help_text="The plan's version: an edit of the terms of a plan with subscribers makes a new one.",
    )
    limits = serializers.SerializerMethodField(help_text="Metric code -> included units per month (null: unlimited).")
    charges = PlanChargeSerializer(many=True)
    active = serializers.BooleanField(source="is_active")
    default = serializers.BooleanField(source="is_default")

    class Meta:
        model = Plan
        fields = [
            "id",
            "code",
            "version",
            "name",
            "description",
            "price_cents",
            "currency",
            "interval",
            "trial_days",
            "features",
            "limits",
            "charges",
            "active",
            "default",
        ]
        read_only_fields = fields

    def get_limits(self, plan) -> dict[str, int | None]:
        return {charge.metric.code: charge.included_quantity for charge in plan.charges.all()}


# The query of GET /plans, for the OpenAPI schema; plans.filters.PlanFilter reads it.
class PlanListQuerySerializer(serializers.Serializer):
    active = serializers.BooleanField(required=False, allow_null=True, default=None)


class EntitlementsSerializer(serializers.Serializer):
    plan = serializers.DictField(allow_null=True)
    features = serializers.DictField()
