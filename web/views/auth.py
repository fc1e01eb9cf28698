"""Sign-up, sign-in, sign-out, password reset and accepting an invitation: Django's
session authentication on the API's own services (same rules, same throttles, the same
emailed links)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.services import password_reset_confirm, password_reset_request
from billing.accounts import account_register
from billing_project.errors import DomainError, ValidationFailed
from organizations.selectors import invitation_by_token
from organizations.services import invitation_accept

from ..context import SESSION_ORG
from ..forms import ResetPasswordForm, ResetRequestForm, SignInForm, SignUpForm, errors_onto
from ..throttle import anon_auth_allowed

TOO_MANY = "Too many attempts from your network. Wait a minute and try again."


def same_site_path(value: str | None, default: str = "/account/") -> str:
    """`next=` is followed only to a path of this site: not to another host, not to a
    scheme-relative `//host`, not to a backslash trick browsers read as one."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) or "\\" in value:
        return default
    if any(ord(char) < 32 for char in value):
        return default
    return value


class SignInView(auth_views.LoginView):
    template_name = "web/auth/login.html"
    authentication_form = SignInForm
    redirect_authenticated_user = True

    def get_success_url(self):
        return same_site_path(self.request.POST.get("next") or self.request.GET.get("next"))

    def get_redirect_url(self):
        return same_site_path(self.request.POST.get("next") or self.request.GET.get("next"), default="")

    def form_valid(self, form):
        response = super().form_valid(form)
        self.request.session.pop(SESSION_ORG, None)
        return response

    def form_invalid(self, form):
        response = super().form_invalid(form)
        throttled = any(error.code == "throttled" for error in form.errors.as_data().get("__all__", []))
        response.status_code = 429 if throttled else 400
        return response


class SignOutView(auth_views.LogoutView):
    """POST only (Django's LogoutView): a link cannot sign anyone out."""


@require_http_methods(["GET", "POST"])
def signup(request):
    next_path = same_site_path(request.POST.get("next") or request.GET.get("next"))
    if request.user.is_authenticated:
        return redirect(next_path)
    form = SignUpForm(request.POST or None, initial={"email": request.GET.get("email", "")})
    status = 200
    if request.method == "POST":
        status = 400
        if not anon_auth_allowed(request):
            form.is_valid()
            form.add_error(None, TOO_MANY)
            status = 429
        elif form.is_valid():
            try:
                user = account_register(**form.cleaned_data)
            except ValidationFailed as exc:
                errors_onto(form, exc)
            else:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                messages.success(request, "Welcome! Your account is ready.")
                return redirect(next_path)
    return render(request, "web/auth/signup.html", {"form": form, "next": next_path}, status=status)


@require_http_methods(["GET", "POST"])
def reset_password(request):
    """Without a token: ask for the email. With the emailed token: set a new password."""
    token = request.POST.get("token") or request.GET.get("token") or ""
    if not token:
        form = ResetRequestForm(request.POST or None)
        if request.method == "POST":
            if not anon_auth_allowed(request):
                form.is_valid()
                form.add_error(None, TOO_MANY)
                return render(request, "web/auth/reset_request.html", {"form": form}, status=429)
            if form.is_valid():
                password_reset_request(email=form.cleaned_data["email"])
                return render(request, "web/auth/reset_sent.html", {"email": form.cleaned_data["email"]})
            return render(request, "web/auth/reset_request.html", {"form": form}, status=400)
        return render(request, "web/auth/reset_request.html", {"form": form})
    form = ResetPasswordForm(request.POST or None)
    token_error = ""
    if request.method == "POST" and form.is_valid():
        try:
            password_reset_confirm(token=token, new_password=form.cleaned_data["new_password"])
        except ValidationFailed as exc:
            if "token" in (exc.details or {}):
                token_error = exc.details["token"][0]  # the link itself: offer a new one
            else:
                errors_onto(form, exc)
        else:
            messages.success(request, "Your password is changed. Sign in with the new one.")
            return redirect("web-login")
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "token": token, "token_error": token_error}
    return render(request, "web/auth/reset_confirm.html", context, status=status)


@require_http_methods(["GET", "POST"])
def invitation(request):
    """The emailed invitation link: who invites you where; sign in or sign up (with the
    invited address), then Join."""
    token = request.POST.get("token") or request.GET.get("token") or ""
    found = invitation_by_token(token=token)
    here = f"{request.path}?token={token}"
    context = {"invitation": found, "token": token, "here": here}
    if found is None or found.status != "pending":
        return render(request, "web/auth/invitation.html", context, status=404 if found is None else 410)
    if request.method == "POST" and request.user.is_authenticated:
        try:
            membership = invitation_accept(token=token, user=request.user)
        except DomainError as exc:  # another address, already a member, just expired
            context["error"] = exc.message
            return render(request, "web/auth/invitation.html", context, status=exc.status_code)
        request.session[SESSION_ORG] = str(membership.organization_id)
        messages.success(request, f"You joined {membership.organization.name}.")
        return redirect("web-account")
    return render(request, "web/auth/invitation.html", context)
