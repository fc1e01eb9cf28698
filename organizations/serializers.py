from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import Invitation, Organization, Role, country_validator, currency_validator


@extend_schema_field(
    {
        "type": "string",
        "anyOf": [{"format": "email"}, {"enum": [""]}],
        "description": "Where invoices and billing emails go; empty when unset (they then go to the owners).",
    }
)
class BillingEmailOutputField(serializers.CharField):
    """An email address, or "" when none is set: the schema says both, not just `format: email`."""


class OrganizationSerializer(serializers.ModelSerializer):
    billing_email = BillingEmailOutputField(read_only=True)
    role = serializers.ChoiceField(choices=Role.choices, read_only=True, help_text="Your role in this organization.")

    class Meta:
        model = Organization
        fields = [
            "id",
            "name",
            "slug",
            "billing_email",
            "country",
            "currency",
            "tax_id",
            "billing_address",
            "is_personal",
            "created_at",
            "role",
        ]
        read_only_fields = fields


class OrganizationCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=80, required=False)
    billing_email = serializers.EmailField(required=False, allow_blank=True, default="")
    country = serializers.CharField(required=False, allow_blank=True, default="", validators=[country_validator])
    currency = serializers.CharField(required=False, default="USD", validators=[currency_validator])


class OrganizationUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    slug = serializers.SlugField(max_length=80, required=False)
    billing_email = serializers.EmailField(required=False, allow_blank=True)
    country = serializers.CharField(required=False, allow_blank=True, validators=[country_validator])
    currency = serializers.CharField(required=False, validators=[currency_validator])
    tax_id = serializers.CharField(max_length=64, required=False, allow_blank=True, help_text="Printed on invoices.")
    billing_address = serializers.CharField(
        max_length=500, required=False, allow_blank=True, help_text="Postal address printed on invoices."
    )


class MemberSerializer(serializers.Serializer):
    user_id = serializers.UUIDField(source="user.id")
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.name")
    role = serializers.ChoiceField(choices=Role.choices)
    joined_at = serializers.DateTimeField(source="created_at")


class MemberRoleInputSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)


class InvitationSerializer(serializers.ModelSerializer):
    organization_id = serializers.UUIDField(source="organization.id", read_only=True)
    status = serializers.CharField(read_only=True)

    class Meta:
        model = Invitation
        fields = ["id", "organization_id", "email", "role", "status", "created_at", "expires_at"]
        read_only_fields = fields


class InvitationAcceptInputSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=256)


class MembershipSerializer(serializers.Serializer):
    organization = serializers.SerializerMethodField()
    role = serializers.CharField()

    def get_organization(self, membership) -> dict:
        org = membership.organization
        return {"id": str(org.id), "name": org.name, "slug": org.slug}
