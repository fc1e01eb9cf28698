from rest_framework import serializers

from .models import APIKey, Mode, Scope


class APIKeySerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True)

    class Meta:
        model = APIKey
        fields = [
            "id",
            "name",
            "prefix",
            "mode",
            "scopes",
            "status",
            "created_at",
            "last_used_at",
            "expires_at",
            "rotated_at",
        ]
        read_only_fields = fields


class APIKeyCreatedSerializer(APIKeySerializer):
    key = serializers.CharField(read_only=True, help_text="The secret. Shown only now; store it safely.")

    class Meta(APIKeySerializer.Meta):
        fields = [*APIKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class APIKeyCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.choices), allow_empty=False)
    mode = serializers.ChoiceField(choices=Mode.choices, default=Mode.LIVE)
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class APIKeyUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.choices), allow_empty=False)


class APIKeyRotatedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    key = serializers.CharField(help_text="The new secret. Shown only now.")
    prefix = serializers.CharField()
    rotated_at = serializers.DateTimeField()
