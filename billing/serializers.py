from rest_framework import serializers

from billing_project.api.fields import WholeCentsField
from subscriptions.serializers import SubscriptionSerializer


class CheckoutCreateInputSerializer(serializers.Serializer):
    plan_id = serializers.UUIDField()
    success_url = serializers.URLField(max_length=2000)
    cancel_url = serializers.URLField(max_length=2000)
    gateway = serializers.CharField(
        required=False,
        max_length=20,
        help_text=(
            "sandbox, stripe, xendit or midtrans (configured ones). Default: for an organization in Indonesia, "
            "INDONESIA_DEFAULT_GATEWAY when it is configured and takes the plan's currency; else DEFAULT_GATEWAY."
        ),
    )


class CheckoutOutputSerializer(serializers.Serializer):
    checkout_url = serializers.URLField()
    session_id = serializers.CharField()
    subscription_id = serializers.CharField(allow_blank=True)
    status = serializers.CharField()


class CheckoutSuccessQuerySerializer(serializers.Serializer):
    session_id = serializers.CharField(max_length=100)


class CheckoutStatusSerializer(serializers.Serializer):
    status = serializers.CharField()
    subscription = SubscriptionSerializer(allow_null=True)


class PortalInputSerializer(serializers.Serializer):
    return_url = serializers.URLField(max_length=2000)


class PortalOutputSerializer(serializers.Serializer):
    portal_url = serializers.URLField()


class CancelInputSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
    cancel_immediately = serializers.BooleanField(required=False, default=False)


class CancelOutputSerializer(serializers.Serializer):
    status = serializers.CharField()
    canceled_at = serializers.DateTimeField(allow_null=True)
    cancel_at_period_end = serializers.BooleanField()
    current_period_end = serializers.DateTimeField()


class ReactivateOutputSerializer(serializers.Serializer):
    status = serializers.CharField()
    cancel_at_period_end = serializers.BooleanField()


class UpgradeInputSerializer(serializers.Serializer):
    new_plan_id = serializers.UUIDField()
    prorate = serializers.BooleanField(default=True)


class UpgradeOutputSerializer(serializers.Serializer):
    subscription = SubscriptionSerializer()
    invoice = serializers.DictField(allow_null=True)


class PaymentMethodInputSerializer(serializers.Serializer):
    payment_method_id = serializers.CharField(max_length=255)


class PayOutputSerializer(serializers.Serializer):
    payment_intent_url = serializers.URLField(required=False)
    session_id = serializers.CharField(required=False)
    status = serializers.CharField(required=False)


class CreditsPurchaseInputSerializer(serializers.Serializer):
    amount_cents = WholeCentsField(min_value=1, max_value=10**10, help_text="Minor units of credit to buy, > 0.")
    success_url = serializers.URLField(max_length=2000)
    cancel_url = serializers.URLField(max_length=2000)
    gateway = serializers.CharField(required=False, max_length=20)
