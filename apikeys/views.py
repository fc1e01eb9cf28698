from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.decorators import action

from billing_project.api.responses import created, ok
from billing_project.api.viewsets import ResourceViewSet
from organizations.context import OrgScopedAPIView
from organizations.models import MANAGER_ROLES

from . import serializers as s
from . import services
from .models import APIKey


# API keys of the current organization (X-Current-Org); owners and admins only.
class APIKeyViewSet(OrgScopedAPIView, mixins.ListModelMixin, ResourceViewSet):
    org_roles = MANAGER_ROLES
    queryset = APIKey.objects.none()  # the model, for the schema; get_queryset scopes it
    serializer_class = s.APIKeySerializer
    lookup_url_kwarg = "key_id"
    lookup_value_converter = "uuid"

    def get_queryset(self):
        return APIKey.objects.filter(organization=self.organization, revoked_at__isnull=True)

    @extend_schema(
        tags=["api-keys"],
        summary="API keys",
        description="Active and expired keys; the secret is never shown again, only its `prefix`.",
        responses={200: s.APIKeySerializer(many=True)},
    )
    def list(self, request):
        return super().list(request)

    @extend_schema(
        tags=["api-keys"],
        summary="Create an API key",
        description="Returns the secret `key` once. A plan may limit the number of active keys (403).",
        request=s.APIKeyCreateInputSerializer,
        responses={201: s.APIKeyCreatedSerializer},
    )
    def create(self, request):
        data = s.APIKeyCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key, secret = services.apikey_create(
            organization=self.organization, created_by=request.user, **data.validated_data
        )
        key.key = secret
        return created(s.APIKeyCreatedSerializer(key).data)

    @extend_schema(
        tags=["api-keys"],
        summary="Rename or re-scope an API key",
        description="API keys of the current organization (X-Current-Org); owners and admins only.",
        request=s.APIKeyUpdateInputSerializer,
        responses={200: s.APIKeySerializer},
    )
    def update(self, request, key_id):
        data = s.APIKeyUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = services.apikey_update(organization=self.organization, key_id=key_id, **data.validated_data)
        return ok(s.APIKeySerializer(key).data)

    @extend_schema(
        tags=["api-keys"],
        summary="Revoke an API key",
        description=(
            "The key stops working at once; should the shared cache be unreachable, within "
            "APIKEY_CACHE_SECONDS (5 s by default) on every server."
        ),
        responses={200: s.APIKeySerializer},
    )
    def destroy(self, request, key_id):
        key = services.apikey_revoke(organization=self.organization, key_id=key_id)
        return ok(s.APIKeySerializer(key).data, message="API key revoked successfully")

    @extend_schema(
        tags=["api-keys"],
        summary="Rotate an API key",
        description=(
            "Issues a new secret; the old one stops working at once (should the shared cache be "
            "unreachable, within APIKEY_CACHE_SECONDS on every server)."
        ),
        request=None,
        responses={200: s.APIKeyRotatedSerializer},
    )
    @action(detail=True, methods=["post"])
    def rotate(self, request, key_id):
        key, secret = services.apikey_rotate(organization=self.organization, key_id=key_id)
        return ok(
            s.APIKeyRotatedSerializer(
                {"id": key.id, "key": secret, "prefix": key.prefix, "rotated_at": key.rotated_at}
            ).data
        )
