"""Sign-in, login throttling, token refresh, logout and password reset.

Registration is tested in billing/tests/test_account_register.py."""

from __future__ import annotations

import random
import statistics
import time
import uuid
from datetime import timedelta
from urllib.parse import urlencode

import pytest
import time_machine
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.models import User
from accounts.tests.factories import PASSWORD, UserFactory
from accounts.tests.helpers import (
    FORGOT_URL,
    LOGIN_URL,
    LOGOUT_URL,
    PROFILE_URL,
    REFRESH_URL,
    RESET_URL,
    assert_error,
    bearer,
    login,
    login_pair,
    refresh,
)

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Brand-new-pw-42"


# --- login -----------------------------------------------------------------------------


def test_login_with_json_returns_a_bearer_token_pair(api_client, user):
    response = login(api_client, user.email)

    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert set(data) == {"token", "refresh_token", "token_type", "expires_at"}
    assert data["token_type"] == "Bearer"
    assert data["token"] and data["refresh_token"] and data["token"] != data["refresh_token"]
    assert data["expires_at"].endswith("Z")


def test_login_token_opens_the_profile(api_client, user):
    token = login_pair(api_client, user.email)["token"]

    response = bearer(APIClient(), token).get(PROFILE_URL)

    assert response.status_code == 200
    assert response.json()["data"]["email"] == user.email


def test_login_with_an_oauth2_password_form(api_client, user):
    response = api_client.post(
        LOGIN_URL,
        urlencode({"username": user.email, "password": PASSWORD}),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200, response.content
    assert response.json()["data"]["token_type"] == "Bearer"


def test_login_email_is_case_insensitive(api_client, user):
    assert login(api_client, user.email.upper()).status_code == 200


def test_login_with_a_wrong_password_is_401(api_client, user):
    response = login(api_client, user.email, "Wrong-password-1")

    assert_error(response, 401, "authentication_failed")


def test_login_with_an_unknown_email_is_401_with_the_same_message(api_client, user):
    wrong_password = assert_error(login(api_client, user.email, "Wrong-password-1"), 401, "authentication_failed")

    unknown = assert_error(login(api_client, f"nobody-{uuid.uuid4().hex}@example.com"), 401, "authentication_failed")

    assert unknown["message"] == wrong_password["message"]


def test_login_of_an_inactive_user_is_401(api_client, user):
    user.is_active = False
    user.save()

    assert_error(login(api_client, user.email), 401, "authentication_failed")


def test_login_without_a_password_is_400(api_client, user):
    response = api_client.post(LOGIN_URL, {"email": user.email}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert "password" in error["details"]


def test_login_records_last_login(api_client, user):
    assert user.last_login is None

    login_pair(api_client, user.email)

    user.refresh_from_db()
    assert user.last_login is not None


# --- login throttling ------------------------------------------------------------------


def fail_logins(client, email: str, times: int, **extra) -> None:
    for _ in range(times):
        assert_error(login(client, email, "Wrong-password-1", **extra), 401, "authentication_failed")


def test_login_is_rate_limited_after_five_failures_even_with_the_right_password(api_client, user):
    fail_logins(api_client, user.email, 5)

    response = login(api_client, user.email)

    assert_error(response, 429, "rate_limited")
    assert 0 < int(response["Retry-After"]) <= 60


def test_fifth_failed_login_is_still_401(api_client, user):
    fail_logins(api_client, user.email, 4)

    assert_error(login(api_client, user.email, "Wrong-password-1"), 401, "authentication_failed")


def test_login_throttle_does_not_affect_another_email(api_client, user):
    other = UserFactory()
    fail_logins(api_client, user.email, 5)

    assert login(api_client, other.email).status_code == 200


def test_login_throttle_does_not_affect_another_ip(api_client, user):
    fail_logins(api_client, user.email, 5, REMOTE_ADDR="10.0.0.1")

    assert login(api_client, user.email, REMOTE_ADDR="10.0.0.2").status_code == 200


def test_login_throttle_is_not_bypassed_with_a_forged_forwarded_for_header(api_client, user):
    fail_logins(api_client, user.email, 5)

    response = login(api_client, user.email, HTTP_X_FORWARDED_FOR="203.0.113.9")

    assert_error(response, 429, "rate_limited")


def test_login_throttle_counts_email_case_variants_together(api_client, user):
    fail_logins(api_client, user.email, 3)
    fail_logins(api_client, user.email.upper(), 2)

    assert_error(login(api_client, user.email), 429, "rate_limited")


def test_successful_login_resets_the_failure_count(api_client, user):
    fail_logins(api_client, user.email, 4)
    assert login(api_client, user.email).status_code == 200
    fail_logins(api_client, user.email, 4)

    assert login(api_client, user.email).status_code == 200


@pytest.fixture
def local_memory_cache(settings):
    """time_machine moves Python's clock, which expires local-memory cache entries but
    not keys held by Redis; this test swaps in a private local-memory cache."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"accounts-tests-{uuid.uuid4().hex}",
        }
    }


@pytest.mark.usefixtures("local_memory_cache")
def test_login_works_again_after_the_throttle_window(api_client, user):
    fail_logins(api_client, user.email, 5)
    assert_error(login(api_client, user.email), 429, "rate_limited")

    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        response = login(api_client, user.email)

    assert response.status_code == 200, response.content


# --- per-IP abuse throttle of the public auth endpoints --------------------------------


@pytest.fixture
def anon_auth_rate(monkeypatch):
    """Three requests a minute per client for the public auth endpoints (the test run's
    default is effectively unlimited). Each test uses its own client address, so
    earlier requests in a shared cache do not count."""
    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "anon_auth", "3/min")
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def test_public_auth_endpoints_are_throttled_per_client_ip(api_client, anon_auth_rate):
    for _ in range(3):
        assert login(api_client, "nobody@example.com", REMOTE_ADDR=anon_auth_rate).status_code == 401

    response = api_client.post(FORGOT_URL, {"email": "x@example.com"}, format="json", REMOTE_ADDR=anon_auth_rate)

    assert_error(response, 429, "rate_limited")
    assert int(response["Retry-After"]) > 0


def test_public_auth_throttle_is_not_bypassed_with_forged_forwarded_for_headers(api_client, anon_auth_rate):
    for n in range(3):
        login(api_client, "nobody@example.com", REMOTE_ADDR=anon_auth_rate, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")

    response = login(api_client, "nobody@example.com", REMOTE_ADDR=anon_auth_rate, HTTP_X_FORWARDED_FOR="198.51.100.99")

    assert_error(response, 429, "rate_limited")


# --- refresh ---------------------------------------------------------------------------


def test_refresh_returns_a_new_token_pair(api_client, user):
    pair = login_pair(api_client, user.email)

    response = refresh(api_client, pair["refresh_token"])

    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert {"token", "refresh_token", "expires_at"} <= set(data)
    assert data["refresh_token"] != pair["refresh_token"]
    assert bearer(APIClient(), data["token"]).get(PROFILE_URL).status_code == 200
    assert refresh(api_client, data["refresh_token"]).status_code == 200


def test_refresh_token_cannot_be_used_twice(api_client, user):
    old = login_pair(api_client, user.email)["refresh_token"]
    assert refresh(api_client, old).status_code == 200

    assert_error(refresh(api_client, old), 401, "token_not_valid")


def test_access_token_cannot_be_used_as_refresh_token(api_client, user):
    pair = login_pair(api_client, user.email)

    assert_error(refresh(api_client, pair["token"]), 401, "token_not_valid")


def test_refresh_with_garbage_is_401(api_client):
    assert_error(refresh(api_client, "not.a.token"), 401, "token_not_valid")


def test_refresh_of_a_deactivated_user_is_401(api_client, user):
    pair = login_pair(api_client, user.email)
    User.objects.filter(pk=user.pk).update(is_active=False)

    assert_error(refresh(api_client, pair["refresh_token"]), 401, "token_not_valid")


def test_refresh_token_stops_working_after_a_password_change(api_client, user):
    """A password changed outside the reset flow (admin, changepassword) also ends sessions."""
    pair = login_pair(api_client, user.email)
    user.set_password("Changed-by-admin-7")
    user.save(update_fields=["password"])

    assert_error(refresh(api_client, pair["refresh_token"]), 401, "token_not_valid")


def test_refresh_without_a_token_is_400(api_client):
    error = assert_error(api_client.post(REFRESH_URL, {}, format="json"), 400, "validation_error")

    assert "refresh_token" in error["details"]


# --- logout ----------------------------------------------------------------------------


def test_logout_revokes_the_refresh_token(api_client, user):
    pair = login_pair(api_client, user.email)
    client = bearer(APIClient(), pair["token"])

    response = client.post(LOGOUT_URL, {"refresh_token": pair["refresh_token"]}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["success"] is True
    assert refresh(api_client, pair["refresh_token"]).status_code == 401


def test_logout_without_auth_is_401(api_client, user):
    pair = login_pair(api_client, user.email)

    response = api_client.post(LOGOUT_URL, {"refresh_token": pair["refresh_token"]}, format="json")

    assert_error(response, 401, "not_authenticated")
    assert refresh(api_client, pair["refresh_token"]).status_code == 200


def test_logout_with_someone_elses_refresh_token_is_400_and_keeps_it(api_client, user):
    victim = UserFactory()
    victim_pair = login_pair(api_client, victim.email)
    client = bearer(APIClient(), login_pair(api_client, user.email)["token"])

    response = client.post(LOGOUT_URL, {"refresh_token": victim_pair["refresh_token"]}, format="json")

    assert_error(response, 400, "validation_error")
    assert refresh(api_client, victim_pair["refresh_token"]).status_code == 200


# --- forgot password -------------------------------------------------------------------


def forgot(client, email: str, capture):
    with capture(execute=True):
        return client.post(FORGOT_URL, {"email": email}, format="json")


def test_forgot_password_answers_the_same_for_known_and_unknown_emails(
    api_client, user, django_capture_on_commit_callbacks
):
    known = forgot(api_client, user.email, django_capture_on_commit_callbacks)
    unknown = forgot(api_client, "nobody-here@example.com", django_capture_on_commit_callbacks)

    assert known.status_code == unknown.status_code == 200
    assert known.json() == unknown.json()


def test_forgot_password_emails_a_token_to_a_known_address(api_client, user, django_capture_on_commit_callbacks):
    forgot(api_client, user.email, django_capture_on_commit_callbacks)

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [user.email]
    assert "reset-password?token=" in message.body


def test_forgot_password_matches_the_email_case_insensitively(api_client, user, django_capture_on_commit_callbacks):
    forgot(api_client, user.email.upper(), django_capture_on_commit_callbacks)

    assert [message.to for message in mail.outbox] == [[user.email]]


def test_forgot_password_sends_nothing_for_an_unknown_address(api_client, user, django_capture_on_commit_callbacks):
    forgot(api_client, "nobody-here@example.com", django_capture_on_commit_callbacks)

    assert mail.outbox == []


def test_forgot_password_sends_nothing_to_an_inactive_user(api_client, user, django_capture_on_commit_callbacks):
    user.is_active = False
    user.save()

    response = forgot(api_client, user.email, django_capture_on_commit_callbacks)

    assert response.status_code == 200
    assert mail.outbox == []


def test_forgot_password_with_an_invalid_email_is_400(api_client):
    error = assert_error(api_client.post(FORGOT_URL, {"email": "nope"}, format="json"), 400, "validation_error")

    assert "email" in error["details"]


def test_forgot_password_takes_about_as_long_for_known_and_unknown_emails(
    api_client, user, django_capture_on_commit_callbacks
):
    def median_ms(email: str) -> float:
        durations = []
        for _ in range(20):
            start = time.perf_counter()
            response = forgot(api_client, email, django_capture_on_commit_callbacks)
            durations.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200
        return statistics.median(durations)

    forgot(api_client, "warm-up@example.com", django_capture_on_commit_callbacks)
    known, unknown = median_ms(user.email), median_ms("nobody-here@example.com")

    assert len(mail.outbox) == 20
    assert abs(known - unknown) < 25, (known, unknown)


# --- reset password --------------------------------------------------------------------


def reset(client, token: str, new_password: str = NEW_PASSWORD):
    return client.post(RESET_URL, {"token": token, "new_password": new_password}, format="json")


def test_reset_password_with_the_emailed_token_changes_the_password(api_client, user, request_reset_token):
    token = request_reset_token(user.email)

    response = reset(api_client, token)

    assert response.status_code == 200, response.content
    assert login(api_client, user.email, NEW_PASSWORD).status_code == 200
    assert_error(login(api_client, user.email, PASSWORD), 401, "authentication_failed")


def test_reset_token_works_only_once(api_client, user, request_reset_token):
    token = request_reset_token(user.email)
    assert reset(api_client, token).status_code == 200

    error = assert_error(reset(api_client, token, "Another-new-pw-7"), 400, "validation_error")

    assert "token" in error["details"]
    assert login(api_client, user.email, NEW_PASSWORD).status_code == 200


def test_reset_token_still_works_within_the_hour(api_client, user, request_reset_token):
    token = request_reset_token(user.email)

    with time_machine.travel(timezone.now() + timedelta(minutes=59)):
        response = reset(api_client, token)

    assert response.status_code == 200, response.content


def test_reset_token_expires_after_an_hour(api_client, user, request_reset_token):
    token = request_reset_token(user.email)

    with time_machine.travel(timezone.now() + timedelta(hours=1, seconds=5)):
        response = reset(api_client, token)

    assert_error(response, 400, "validation_error")
    assert login(api_client, user.email, PASSWORD).status_code == 200


@pytest.mark.parametrize(
    "token",
    ["garbage", "", "Zm9v.bar", "bm90LWEtdXVpZA.abc-123", f"{'A' * 40}.{'b' * 20}", "....", "%%%.@@@"],
)
def test_reset_with_a_garbage_token_is_400(api_client, user, token):
    response = reset(api_client, token)

    assert_error(response, 400, "validation_error")


def test_reset_token_of_another_user_id_is_400(api_client, user, request_reset_token):
    other = UserFactory()
    token = request_reset_token(user.email)
    other_uid = request_reset_token(other.email).split(".")[0]

    response = reset(api_client, f"{other_uid}.{token.split('.', 1)[1]}")

    assert_error(response, 400, "validation_error")
    other.refresh_from_db()
    assert other.check_password(PASSWORD)


def test_reset_with_a_weak_new_password_is_400_and_keeps_the_password(api_client, user, request_reset_token):
    token = request_reset_token(user.email)

    error = assert_error(reset(api_client, token, "short1"), 400, "validation_error")

    assert "new_password" in error["details"]
    assert login(api_client, user.email, PASSWORD).status_code == 200


def test_reset_revokes_earlier_refresh_tokens(api_client, user, request_reset_token):
    pair = login_pair(api_client, user.email)
    token = request_reset_token(user.email)

    assert reset(api_client, token).status_code == 200

    assert refresh(api_client, pair["refresh_token"]).status_code == 401


def test_reset_revokes_earlier_access_tokens(api_client, user, request_reset_token):
    pair = login_pair(api_client, user.email)
    client = bearer(APIClient(), pair["token"])
    assert client.get(PROFILE_URL).status_code == 200
    token = request_reset_token(user.email)

    assert reset(api_client, token).status_code == 200

    assert_error(client.get(PROFILE_URL), 401, "authentication_failed")


def test_reset_leaves_no_unrevoked_refresh_token(api_client, user, request_reset_token):
    login_pair(api_client, user.email)
    login_pair(api_client, user.email)
    token = request_reset_token(user.email)

    reset(api_client, token)

    assert OutstandingToken.objects.filter(user=user).count() == 2
    assert not OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True).exists()
