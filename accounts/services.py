"""Writes for accounts: creation, sign-in, tokens, password reset, profile, anonymization.

Registering and deleting an account also touch its organizations: those use cases are
in billing.accounts, which calls the functions here."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from kombu.exceptions import OperationalError as KombuOperationalError
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from billing_project.errors import AuthenticationRequired, RateLimited, ValidationFailed

from .models import User, normalize_email
from .tasks import send_password_reset_email

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TokenPair:
    token: str
    refresh_token: str
    expires_at: datetime
    token_type: str = "Bearer"


def password_check(password: str, *, user: User | None = None, field: str = "password") -> None:
    """Apply the password rules (8+ chars, a letter and a digit, Django's validators)."""
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ValidationFailed(f"{field}: {exc.messages[0]}", details={field: list(exc.messages)}) from exc


def user_create(*, email: str, password: str, name: str = "", company: str = "") -> User:
    """Create an account, after the password rules and a check that the email is free.

    Registration (billing.accounts.account_register) also makes the account's personal
    organization; this is only the account."""
    email = normalize_email(email)
    password_check(password, user=User(email=email, name=name))
    if User.objects.filter(email=email).exists():
        raise ValidationFailed.for_field("email", "An account with this email already exists.")
    try:
        with transaction.atomic():
            return User.objects.create_user(email=email, password=password, name=name, company=company)
    except IntegrityError as exc:  # a concurrent registration of the same email won
        raise ValidationFailed.for_field("email", "An account with this email already exists.") from exc


def token_pair_for(user: User) -> TokenPair:
    refresh = RefreshToken.for_user(user)
    access = refresh.access_token
    return TokenPair(
        token=str(access),
        refresh_token=str(refresh),
        expires_at=datetime.fromtimestamp(access["exp"], tz=UTC),
    )


def _login_failure_key(email: str, ip: str) -> str:
    digest = hashlib.sha256(f"{normalize_email(email)}|{ip}".encode()).hexdigest()
    return f"login-failures:{digest}"


def user_authenticate(*, email: str, password: str, ip: str) -> User:
    """Check credentials: the account, or 401/429. One counter for the API and the pages.

    Attempts are counted per email + client IP in the cache with an atomic increment
    taken *before* the password is checked, so concurrent guesses cannot all slip in
    under the limit; a successful sign-in clears the count. After LOGIN_FAILURE_LIMIT
    failures in LOGIN_FAILURE_WINDOW seconds every attempt is refused with 429 until
    the window ends, right password or not. `POST /auth/login` and the `/login` page
    share the counter, so a guesser cannot double the limit by switching doors.

    While Redis cannot be reached the cache counts in each process's memory
    (billing_project.cache.ResilientRedisCache): the limit then holds per process, so a
    guesser spread over P processes gets at most P x LOGIN_FAILURE_LIMIT tries a window.
    That is chosen over failing open (no limit while Redis is down) and over a database
    counter (a write per sign-in attempt, for an outage of minutes).
    """
    key = _login_failure_key(email, ip)
    window = settings.LOGIN_FAILURE_WINDOW
    cache.add(key, 0, timeout=window)
    try:
        attempts = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window)
        attempts = 1
    if attempts > settings.LOGIN_FAILURE_LIMIT:
        raise RateLimited("Too many failed sign-in attempts. Try again in a minute.", retry_after=window)
    user = authenticate(username=normalize_email(email), password=password)
    if user is None:
        raise AuthenticationRequired("Invalid email or password.")
    cache.delete(key)
    User.objects.filter(pk=user.pk).update(last_login=timezone.now())
    return user


def user_login(*, email: str, password: str, ip: str) -> TokenPair:
    """Check credentials (user_authenticate) and issue a token pair."""
    return token_pair_for(user_authenticate(email=email, password=password, ip=ip))


def _invalid_refresh() -> AuthenticationRequired:
    return AuthenticationRequired("The refresh token is invalid, expired or already used.", code="token_not_valid")


@transaction.atomic
def token_refresh(*, refresh_token: str) -> TokenPair:
    """Exchange a refresh token for a new pair; the old one stops working.

    The old token is claimed by inserting its blacklist row (unique per token), so of
    two concurrent refreshes of one token exactly one gets a new pair. A token issued
    before the password last changed (by any route, not only a reset) is refused, as
    access tokens are.
    """
    try:
        refresh = RefreshToken(refresh_token)
    except TokenError as exc:
        raise _invalid_refresh() from exc
    user = User.objects.filter(pk=refresh.get("user_id"), is_active=True).first()
    outstanding = OutstandingToken.objects.filter(jti=refresh.get("jti")).first()
    if user is None or outstanding is None:
        raise _invalid_refresh()
    if jwt_settings.CHECK_REVOKE_TOKEN and refresh.get(jwt_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(
        user.password
    ):
        raise _invalid_refresh()
    try:
        with transaction.atomic():
            BlacklistedToken.objects.create(token=outstanding)
    except IntegrityError as exc:
        raise _invalid_refresh() from exc
    return token_pair_for(user)


@transaction.atomic
def token_revoke(*, user: User, refresh_token: str) -> None:
    """Log out: revoke one refresh token of `user`."""
    try:
        refresh = RefreshToken(refresh_token)
    except TokenError as exc:
        raise ValidationFailed.for_field("refresh_token", "Token is invalid, expired or already revoked.") from exc
    if str(refresh.get("user_id")) != str(user.pk):
        raise ValidationFailed.for_field("refresh_token", "Token is invalid, expired or already revoked.")
    outstanding = OutstandingToken.objects.filter(jti=refresh.get("jti")).first()
    if outstanding is not None:
        BlacklistedToken.objects.get_or_create(token=outstanding)


def tokens_revoke_all(*, user: User) -> int:
    """Revoke every refresh token `user` holds (password reset, account deletion)."""
    pending = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True)
    rows = [BlacklistedToken(token=token) for token in pending]
    BlacklistedToken.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def password_reset_token_make(user: User) -> str:
    return f"{urlsafe_base64_encode(force_bytes(user.pk))}.{default_token_generator.make_token(user)}"


def password_reset_request(*, email: str) -> None:
    """Email a reset link if an active account has this address; silent otherwise.

    The request only enqueues a task with the address, known or not; the task looks
    the account up and makes the token. The answer and its timing are the same for
    unknown addresses, and no token passes through the broker. When the broker cannot
    be reached the email is not sent and an error is logged, and the answer is still
    the same: a reset request is not worth a 500, nor a synchronous send whose timing
    would tell known addresses from unknown ones.
    """
    email = normalize_email(email)
    transaction.on_commit(lambda: _password_reset_email_queue(email))


def _password_reset_email_queue(email: str) -> None:
    try:
        send_password_reset_email.delay(email)
    except KombuOperationalError as exc:
        logger.error("Password reset email not queued, the Celery broker is unreachable (%s)", exc)


def _user_from_reset_token(token: str) -> tuple[User | None, str]:
    uid_part, _, secret = (token or "").partition(".")
    try:
        user_id = force_str(urlsafe_base64_decode(uid_part))
        user = User.objects.select_for_update().filter(pk=user_id, is_active=True).first()
    except (ValueError, TypeError, DjangoValidationError):
        return None, secret
    return user, secret


@transaction.atomic
def password_reset_confirm(*, token: str, new_password: str) -> User:
    """Set a new password with a reset token. The token works once (it is bound to the
    old password hash) and expires after PASSWORD_RESET_TIMEOUT; every refresh token
    issued before is revoked, and access tokens stop at once (they carry the hash)."""
    user, secret = _user_from_reset_token(token)
    if user is None or not default_token_generator.check_token(user, secret):
        raise ValidationFailed.for_field("token", "This reset link is invalid or has expired.")
    password_check(new_password, user=user, field="new_password")
    user.set_password(new_password)
    user.save(update_fields=["password", "updated_at"])
    tokens_revoke_all(user=user)
    return user


@transaction.atomic
def user_update_profile(*, user: User, **fields) -> User:
    allowed = {"name", "company"}
    changes = {key: value for key, value in fields.items() if key in allowed}
    for key, value in changes.items():
        setattr(user, key, value)
    if changes:
        user.save(update_fields=[*changes, "updated_at"])
    return user


def user_password_confirm(*, user: User, password: str) -> User:
    """Lock the account's row and confirm its password (before deleting the account):
    the account as it is now, or a 400 on `password`."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if not user.check_password(password):
        raise ValidationFailed.for_field("password", "Incorrect password.")
    return user


def user_anonymize(*, user: User) -> User:
    """Deactivate the account and erase its personal data (name, company, email,
    password). The row stays, so invoices and audit history keep their references.
    Account deletion (billing.accounts.account_delete) also winds down its organizations."""
    user.is_active = False
    user.deleted_at = timezone.now()
    user.name = ""
    user.company = ""
    user.email = f"deleted-{user.pk.hex}@deleted.invalid"
    user.set_unusable_password()
    user.save()
    return user
