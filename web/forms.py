"""Forms of the customer site's sign-in pages. The rules are the services' own
(accounts.services, billing.accounts): a form only collects and shows."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from accounts.services import user_authenticate
from billing_project.api.request import client_ip
from billing_project.errors import AuthenticationRequired, RateLimited


class SignInForm(AuthenticationForm):
    """Django's sign-in form on the API's credential check: the same per email + IP
    failure counter as POST /auth/login (accounts.services.user_authenticate)."""

    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )
    error_messages = {
        "invalid_login": "Invalid email or password.",
        "inactive": "This account is inactive.",
    }

    def clean(self):
        email = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if email and password:
            try:
                self.user_cache = user_authenticate(email=email, password=password, ip=client_ip(self.request))
            except RateLimited as exc:
                raise ValidationError(exc.message, code="throttled") from exc
            except AuthenticationRequired as exc:
                raise ValidationError(self.error_messages["invalid_login"], code="invalid_login") from exc
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class SignUpForm(forms.Form):
    name = forms.CharField(label="Your name", max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"}))
    company = forms.CharField(
        label="Company", max_length=200, required=False, widget=forms.TextInput(attrs={"autocomplete": "organization"})
    )
    email = forms.EmailField(label="Email", widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(
        label="Password",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters, with a letter and a digit.",
    )


class ResetRequestForm(forms.Form):
    email = forms.EmailField(label="Email", widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}))


class ResetPasswordForm(forms.Form):
    new_password = forms.CharField(
        label="New password",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "autofocus": True}),
        help_text="At least 8 characters, with a letter and a digit.",
    )
    confirm_password = forms.CharField(
        label="New password again", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean(self):
        data = super().clean()
        if (
            data.get("new_password")
            and data.get("confirm_password")
            and data["new_password"] != data["confirm_password"]
        ):
            self.add_error("confirm_password", "The two passwords differ.")
        return data


def errors_onto(form: forms.Form, exc) -> None:
    """A service's ValidationFailed onto the form: its field errors where the field is,
    the rest as a form error."""
    details = getattr(exc, "details", None) or {}
    placed = False
    for field, messages in details.items():
        if field in form.fields:
            for message in messages if isinstance(messages, list) else [messages]:
                form.add_error(field, str(message))
            placed = True
    if not placed:
        form.add_error(None, exc.message)
