"""Routes of the customer site (ROOT urlconf includes them at the top level)."""

from django.urls import path

from .views import auth, disputes, home, invoices, plans, public, team, usage

urlpatterns = [
    path("", public.pricing, name="web-pricing"),
    path("signup", auth.signup, name="web-signup"),
    path("login", auth.SignInView.as_view(), name="web-login"),
    path("logout", auth.SignOutView.as_view(), name="web-logout"),
    path("reset-password", auth.reset_password, name="web-reset-password"),
    path("invitations/accept", auth.invitation, name="web-invitation"),
    path("account/", home.account_home, name="web-account"),
    path("account/switch", home.switch_organization, name="web-switch"),
    *usage.urlpatterns,
    *plans.urlpatterns,
    *invoices.urlpatterns,
    *team.urlpatterns,
    *disputes.urlpatterns,
]
