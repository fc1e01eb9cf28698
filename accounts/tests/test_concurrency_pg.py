"""Races on PostgreSQL: one refresh token or one reset token used at the same moment."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.models import User
from accounts.tests.factories import UserFactory
from accounts.tests.helpers import FORGOT_URL, REFRESH_URL, RESET_URL, login_pair, reset_token_from_last_email
from billing_project.testing import run_concurrently

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(count: int, post: Callable[[APIClient, int], object]) -> list:
    """Run `post(client, index)` in `count` threads released together; return the responses."""
    return run_concurrently([lambda index=index: post(APIClient(), index) for index in range(count)])


@pytest.mark.parametrize("threads", [2, 8])
def test_concurrent_refreshes_of_one_token_let_exactly_one_win(threads):
    user = UserFactory()
    refresh_token = login_pair(APIClient(), user.email)["refresh_token"]
    outstanding = OutstandingToken.objects.count()

    responses = race(
        threads, lambda client, _: client.post(REFRESH_URL, {"refresh_token": refresh_token}, format="json")
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [401] * (threads - 1), [r.content for r in responses]
    assert OutstandingToken.objects.count() == outstanding + 1
    winner = next(r for r in responses if r.status_code == 200).json()["data"]
    assert APIClient().post(REFRESH_URL, {"refresh_token": winner["refresh_token"]}, format="json").status_code == 200


@pytest.mark.real_hashing  # a real hash (~20 ms, outside the GIL) keeps both requests in flight together
def test_concurrent_resets_with_one_token_let_at_most_one_win():
    user = UserFactory()
    assert APIClient().post(FORGOT_URL, {"email": user.email}, format="json").status_code == 200
    token = reset_token_from_last_email()
    passwords = ["Racer-one-pw-1", "Racer-two-pw-2"]

    responses = race(
        2,
        lambda client, index: client.post(RESET_URL, {"token": token, "new_password": passwords[index]}, format="json"),
    )

    statuses = [response.status_code for response in responses]
    assert sorted(statuses) == [200, 400], [r.content for r in responses]
    user = User.objects.get(pk=user.pk)
    assert user.check_password(passwords[statuses.index(200)])


@pytest.mark.real_hashing  # each attempt hashes for real, so the attempts overlap as they would in production
def test_concurrent_failed_logins_cannot_exceed_the_failure_limit(settings):
    user = UserFactory()
    threads = settings.LOGIN_FAILURE_LIMIT + 7

    responses = race(
        threads,
        lambda client, _: client.post(
            "/api/v1/auth/login", {"email": user.email, "password": "Wrong-password-1"}, format="json"
        ),
    )

    statuses = [response.status_code for response in responses]
    assert statuses.count(401) <= settings.LOGIN_FAILURE_LIMIT, statuses
    assert statuses.count(429) == threads - statuses.count(401), statuses
