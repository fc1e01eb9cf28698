from rest_framework import serializers

from .models import User


class OrganizationSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    slug = serializers.CharField()


class RegisterInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=150)
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(write_only=True, max_length=128, trim_whitespace=False)
    company = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class RegisterOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    organization = OrganizationSummarySerializer()


class LoginInputSerializer(serializers.Serializer):
    """JSON `{email, password}` or the OAuth2 password form `username=&password=`."""

    email = serializers.EmailField(required=False, max_length=254)
    username = serializers.CharField(required=False, max_length=254, help_text="Form logins: the email address.")
    password = serializers.CharField(max_length=128, trim_whitespace=False)

    def validate(self, attrs):
        email = attrs.get("email") or attrs.get("username")
        if not email:
            raise serializers.ValidationError({"email": ["This field is required."]})
        attrs["email"] = email
        return attrs


class TokenPairSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Access token (JWT) for `Authorization: Bearer`.")
    refresh_token = serializers.CharField(help_text="Single-use refresh token.")
    token_type = serializers.CharField(default="Bearer")
    expires_at = serializers.DateTimeField(help_text="When the access token expires.")


class RefreshTokenInputSerializer(serializers.Serializer):
    refresh_token = serializers.CharField()


class ForgotPasswordInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class ResetPasswordInputSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=512)
    new_password = serializers.CharField(max_length=128, trim_whitespace=False)


class ProfileSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "name", "email", "company", "created_at"]
        read_only_fields = fields


class ProfileUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=150)
    company = serializers.CharField(max_length=200, allow_blank=True, required=False, default="")


class ProfileDeleteInputSerializer(serializers.Serializer):
    password = serializers.CharField(max_length=128, trim_whitespace=False)
