from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from billing_project.api.request import client_ip
from billing_project.api.responses import ok
from billing_project.api.schema import error_response, message_response

from . import serializers as s
from . import services


class PublicAuthView(APIView):
    """Auth endpoints anyone may call: no JWT parsing, a per-IP abuse throttle (counted in
    Redis; in each process's memory while Redis cannot be reached, see billing_project.cache)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "anon_auth"


def _pair_data(pair: services.TokenPair) -> dict:
    return s.TokenPairSerializer(pair).data


class LoginView(PublicAuthView):
    @extend_schema(
        tags=["auth"],
        summary="Sign in",
        description=(
            "JSON `{email, password}` or form `username=&password=`. After 5 failed attempts in a "
            "minute for one email and IP, every attempt is refused with 429 `rate_limited`."
        ),
        request={
            "application/json": s.LoginInputSerializer,
            "application/x-www-form-urlencoded": s.LoginInputSerializer,
        },
        responses={
            200: s.TokenPairSerializer,
            401: error_response("Wrong email or password (`authentication_failed`)."),
            429: error_response("Too many failed attempts (`rate_limited`)."),
        },
        auth=[],
    )
    def post(self, request):
        data = s.LoginInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        pair = services.user_login(
            email=data.validated_data["email"], password=data.validated_data["password"], ip=client_ip(request)
        )
        return ok(_pair_data(pair))


class RefreshView(PublicAuthView):
    @extend_schema(
        tags=["auth"],
        summary="Rotate a refresh token",
        description="Returns a new pair; the refresh token sent stops working.",
        request=s.RefreshTokenInputSerializer,
        responses={200: s.TokenPairSerializer, 401: error_response("Invalid, expired or used token.")},
        auth=[],
    )
    def post(self, request):
        data = s.RefreshTokenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return ok(_pair_data(services.token_refresh(refresh_token=data.validated_data["refresh_token"])))


class LogoutView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["auth"],
        summary="Sign out",
        description="Revokes the given refresh token of the signed-in user.",
        request=s.RefreshTokenInputSerializer,
        responses={200: message_response("Signed out.")},
    )
    def post(self, request):
        data = s.RefreshTokenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.token_revoke(user=request.user, refresh_token=data.validated_data["refresh_token"])
        return ok("Logged out successfully")


class ForgotPasswordView(PublicAuthView):
    @extend_schema(
        tags=["auth"],
        summary="Request a password reset email",
        description="Answers the same whether or not an account has this email.",
        request=s.ForgotPasswordInputSerializer,
        responses={200: message_response("Always the same message.")},
        auth=[],
    )
    def post(self, request):
        data = s.ForgotPasswordInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_reset_request(email=data.validated_data["email"])
        return ok("If an account exists for this email, a password reset link has been sent.")


class ResetPasswordView(PublicAuthView):
    @extend_schema(
        tags=["auth"],
        summary="Set a new password with a reset token",
        description="The token works once and expires after an hour. Earlier sessions are signed out.",
        request=s.ResetPasswordInputSerializer,
        responses={200: message_response("Password changed.")},
        auth=[],
    )
    def post(self, request):
        data = s.ResetPasswordInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_reset_confirm(**data.validated_data)
        return ok("Password reset successfully")


# Routed as billing.views.accounts.ProfileView, which adds DELETE (account deletion winds
# down the account's organizations too). No docstring: drf-spectacular would show it as
# the operations' description.
class ProfileView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(tags=["profile"], summary="Your profile", responses={200: s.ProfileSerializer})
    def get(self, request):
        return ok(s.ProfileSerializer(request.user).data)

    def _update(self, request, *, partial: bool):
        data = s.ProfileUpdateInputSerializer(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        user = services.user_update_profile(user=request.user, **data.validated_data)
        return ok(s.ProfileSerializer(user).data)

    @extend_schema(
        tags=["profile"],
        summary="Replace your profile",
        description="Only `name` and `company` can be set; other fields are ignored.",
        request=s.ProfileUpdateInputSerializer,
        responses={200: s.ProfileSerializer},
    )
    def put(self, request):
        return self._update(request, partial=False)

    @extend_schema(
        tags=["profile"],
        summary="Update your profile",
        description="Only `name` and `company` can be set; other fields are ignored.",
        request=s.ProfileUpdateInputSerializer,
        responses={200: s.ProfileSerializer},
    )
    def patch(self, request):
        return self._update(request, partial=True)
