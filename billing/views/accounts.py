"""The account endpoints whose use cases span apps: register (with a personal
organization) and DELETE /profile (winding down what the account alone used).

No docstrings on the view classes: drf-spectacular would show them as the operations'
descriptions (the base classes in accounts.views have none either)."""

from drf_spectacular.utils import extend_schema

from accounts import serializers as s
from accounts import views as account_views
from billing_project.api.responses import created, ok
from billing_project.api.schema import error_response, message_response
from organizations.selectors import personal_organization_of

from .. import accounts


class RegisterView(account_views.PublicAuthView):
    @extend_schema(
        tags=["auth"],
        summary="Create an account",
        description="Creates the user and a personal organization owned by it.",
        request=s.RegisterInputSerializer,
        responses={201: s.RegisterOutputSerializer, 429: error_response("Too many requests (`rate_limited`).")},
        auth=[],
    )
    def post(self, request):
        data = s.RegisterInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = accounts.account_register(**data.validated_data)
        organization = personal_organization_of(user=user)
        output = {
            "id": user.id,
            "email": user.email,
            "name": user.name,
            "created_at": user.created_at,
            "organization": {"id": organization.id, "name": organization.name, "slug": organization.slug},
        }
        return created(s.RegisterOutputSerializer(output).data)


# GET, PUT and PATCH /profile are accounts' own (accounts.views.ProfileView); DELETE is added here.
class ProfileView(account_views.ProfileView):
    @extend_schema(
        tags=["profile"],
        summary="Delete your account",
        description=(
            "Confirms with the password, then deactivates and anonymizes the account and "
            "revokes its sessions. The last owner of a shared organization must hand over first (409)."
        ),
        request=s.ProfileDeleteInputSerializer,
        responses={200: message_response("Account deleted."), 409: error_response("Last owner of a shared org.")},
    )
    def delete(self, request):
        data = s.ProfileDeleteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        accounts.account_delete(user=request.user, password=data.validated_data["password"])
        return ok("Account deleted successfully")
