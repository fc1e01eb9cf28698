from rest_framework import serializers

from .models import Subscription


class PlanBriefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    code = serializers.CharField()
    name = serializers.CharField()
    price_cents = serializers.IntegerField()
    currency = serializers.CharField()
    interval = serializers.CharField()


class SubscriptionSerializer(serializers.ModelSerializer):
    plan = PlanBriefSerializer()
    scheduled_plan = PlanBriefSerializer(allow_null=True)

    class Meta:
        model = Subscription
        fields = [
            "id",
            "plan",
            "status",
            "current_period_start",
            "current_period_end",
            "cancel_at_period_end",
            "canceled_at",
            "trial_end",
            "scheduled_plan",
            "created_at",
        ]
        read_only_fields = fields
