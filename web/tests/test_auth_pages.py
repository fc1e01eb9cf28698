"""Sign-up, sign-in, sign-out, password reset and invitations on the customer site."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from accounts.models import User
from accounts.tests.factories import UserFactory
from organizations.models import Membership, Role
from organizations.services import invitation_create

PASSWORD = "Sup3r-secret-pw"

pytestmark = pytest.mark.django_db


@pytest.fixture
def person():
    user = UserFactory(email="ada@example.com")
    user.set_password(PASSWORD)
    user.save()
    return user


def test_signup_makes_the_account_signs_in_and_goes_to_next():
    client = Client()
    response = client.post(
        "/signup",
        {"name": "Ann Lee", "email": "Ann@Example.com", "password": PASSWORD, "next": "/account/plans?plan=pro"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/account/plans?plan=pro"
    user = User.objects.get(email="ann@example.com")
    assert Membership.objects.filter(user=user, role=Role.OWNER, organization__is_personal=True).exists()
    assert client.get("/account/").status_code == 200


def test_signup_shows_the_services_errors_and_writes_nothing(person):
    client = Client()
    taken = client.post("/signup", {"name": "Ada", "email": "ada@example.com", "password": PASSWORD})
    assert taken.status_code == 400
    assert "An account with this email already exists." in taken.content.decode()
    weak = client.post("/signup", {"name": "Bob", "email": "bob@example.com", "password": "password"})
    assert weak.status_code == 400
    assert not User.objects.filter(email="bob@example.com").exists()


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"]
)
def test_next_goes_only_to_a_path_of_this_site(person, target):
    response = Client().post("/login", {"username": "ada@example.com", "password": PASSWORD, "next": target})
    assert response.status_code == 302
    assert response["Location"] == "/account/"


def test_login_goes_to_a_same_site_next(person):
    response = Client().post("/login", {"username": "ada@example.com", "password": PASSWORD, "next": "/account/usage"})
    assert response["Location"] == "/account/usage"


def test_wrong_password_is_a_400_with_the_message(person):
    response = Client().post("/login", {"username": "ada@example.com", "password": "wrong-one-1"})
    assert response.status_code == 400
    assert "Invalid email or password." in response.content.decode()


def test_the_page_and_the_api_share_the_failure_limit(person, settings, api_client):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(2):
        api_client.post("/api/v1/auth/login", {"email": "ada@example.com", "password": "bad-pass-1"}, format="json")
    Client().post("/login", {"username": "ada@example.com", "password": "bad-pass-1"})
    refused = Client().post("/login", {"username": "ada@example.com", "password": PASSWORD})
    assert refused.status_code == 429
    assert "Too many failed sign-in attempts" in refused.content.decode()
    api = api_client.post("/api/v1/auth/login", {"email": "ada@example.com", "password": PASSWORD}, format="json")
    assert api.status_code == 429


def test_logout_is_post_only(person):
    client = Client()
    client.force_login(person)
    assert client.get("/logout").status_code == 405
    assert client.get("/account/").status_code == 200
    assert client.post("/logout").status_code == 302
    assert client.get("/account/").status_code == 302


def test_account_pages_send_a_stranger_to_login():
    response = Client().get("/account/")
    assert response.status_code == 302
    assert response["Location"] == "/login?next=/account/"


def test_forgot_password_then_reset_from_the_emailed_link(person, django_capture_on_commit_callbacks):
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post("/reset-password", {"email": "ada@example.com"})
    assert sent.status_code == 200
    assert "Check your email" in sent.content.decode()
    link = re.search(r"https?://\S+/reset-password\?token=\S+", mail.outbox[-1].body).group(0)
    path = link.split("://", 1)[1].split("/", 1)[1]
    page = client.get("/" + path)
    assert page.status_code == 200
    token = re.search(r'name="token" value="([^"]+)"', page.content.decode()).group(1)
    mismatch = client.post(
        "/reset-password", {"token": token, "new_password": "N3w-password-x", "confirm_password": "x"}
    )
    assert mismatch.status_code == 400
    done = client.post(
        "/reset-password", {"token": token, "new_password": "N3w-password-x", "confirm_password": "N3w-password-x"}
    )
    assert done.status_code == 302 and done["Location"] == "/login"
    person.refresh_from_db()
    assert person.check_password("N3w-password-x")
    reused = client.post(
        "/reset-password", {"token": token, "new_password": "Other-pass-9", "confirm_password": "Other-pass-9"}
    )
    assert reused.status_code == 400
    assert (
        'This reset link is invalid or has expired. <a href="/reset-password">Ask for a new link</a>'
        in reused.content.decode()
    )


def test_unknown_email_gets_the_same_answer_and_no_mail():
    response = Client().post("/reset-password", {"email": "nobody@example.com"})
    assert response.status_code == 200
    assert "Check your email" in response.content.decode()
    assert mail.outbox == []


def test_invitation_sign_in_then_join(team):
    _invitation, token = invitation_create(
        actor=Membership.objects.get(organization=team.org, role=Role.OWNER), email="new@example.com", role=Role.BILLING
    )
    client = Client()
    page = client.get(f"/invitations/accept?token={token}")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Join Acme Team" in body and "Sign in to join" in body
    invitee = UserFactory(email="new@example.com")
    client.force_login(invitee)
    joined = client.post("/invitations/accept", {"token": token})
    assert joined.status_code == 302 and joined["Location"] == "/account/"
    assert Membership.objects.get(organization=team.org, user=invitee).role == Role.BILLING
    assert "Acme Team" in client.get("/account/").content.decode()
    again = client.get(f"/invitations/accept?token={token}")
    assert again.status_code == 410


def test_invitation_for_another_address_is_refused(team):
    _invitation, token = invitation_create(
        actor=Membership.objects.get(organization=team.org, role=Role.OWNER), email="new@example.com", role=Role.MEMBER
    )
    client = Client()
    client.force_login(UserFactory(email="someone-else@example.com"))
    refused = client.post("/invitations/accept", {"token": token})
    assert refused.status_code == 403
    assert "different email address" in refused.content.decode()


def test_unknown_invitation_token_is_404():
    assert Client().get("/invitations/accept?token=nope").status_code == 404
