"""/account/keys: API keys of the current organization, on apikeys.services, owners and
admins only (as /api/v1/api-keys); a secret is shown once."""

from __future__ import annotations

import re
import uuid
import zoneinfo
from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from apikeys.models import APIKey
from apikeys.services import hash_secret
from apikeys.tests.factories import APIKeyFactory

from .conftest import form_key_of

pytestmark = pytest.mark.django_db

KEYS = "/account/keys"
SECRET = re.compile(r'<p class="secret" id="new-secret">(sk_(?:live|test)_[A-Za-z0-9_-]+)</p>')


def create(client, **fields):
    """Submit the create form as rendered now (its own form key)."""
    key = form_key_of(client.get(KEYS).content.decode())
    data = {"name": "Backend", "scopes": ["usage:write"], "mode": "live", "idempotency_key": key, **fields}
    return client.post(KEYS, data)


def shown_secret(client) -> str | None:
    match = SECRET.search(client.get(KEYS).content.decode())
    return match.group(1) if match else None


def test_lists_the_live_keys_of_the_organization_only(site, team, other_team):
    mine = APIKeyFactory(organization=team.org, name="Billing worker", scopes=["usage:write", "usage:read"])
    APIKeyFactory(organization=team.org, name="Old revoked key", revoked=True)
    APIKeyFactory(organization=other_team.org, name="Their key")
    response = site("owner").get(KEYS)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    assert "Billing worker" in html
    assert f"<code>{mine.prefix}…</code>" in html
    assert "<code>usage:write</code>" in html and "<code>usage:read</code>" in html
    assert "Old revoked key" not in html
    assert "Their key" not in html
    assert "Your plan allows 3 active keys; 1 in use." in html  # the Free plan's api_keys
    assert mine.secret not in html
    # The scopes the API accepts, with what each lets a key call.
    for scope in ("usage:write", "usage:read", "credits:write"):
        assert f'value="{scope}"' in html
    assert "POST /api/v1/credits/spend" in html


def test_an_expired_key_is_listed_as_expired(site, team, clock):
    clock.move_to(timezone.now(), tick=False)
    APIKeyFactory(organization=team.org, name="Short lived", expires_at=timezone.now() + timedelta(hours=1))
    clock.shift(timedelta(hours=2))
    html = site("admin").get(KEYS).content.decode()
    assert "Short lived" in html
    assert '<span class="badge bad">Expired</span>' in html
    assert "Your plan allows 3 active keys; 0 in use." in html


def test_create_shows_the_secret_once(site, team):
    client = site("admin")
    response = create(client, name="Backend", scopes=["usage:write", "credits:write"])
    assert response.status_code == 302
    assert response["Location"] == KEYS
    key = APIKey.objects.get(organization=team.org)
    assert key.name == "Backend"
    assert key.scopes == ["credits:write", "usage:write"]
    assert key.mode == "live"
    assert key.created_by == team.users["admin"]
    assert key.expires_at is None

    page = client.get(KEYS)
    html = page.content.decode()
    assert "Copy it now, it will not be shown again." in html
    secret = SECRET.search(html).group(1)
    assert secret.startswith("sk_live_")
    assert hash_secret(secret) == key.key_hash
    assert secret not in client.get(KEYS).content.decode()  # a reload no longer has it
    assert shown_secret(client) is None


def test_the_secret_works_on_the_api(site, team, api_client):
    client = site("owner")
    create(client, scopes=["usage:read"])
    secret = shown_secret(client)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = api_client.get("/api/v1/usage/quota-check", {"tokens_needed": 1})
    assert response.status_code == 200, response.content


def test_a_double_submitted_create_makes_one_key_and_shows_its_secret_once(site, team):
    client = site("owner")
    key = form_key_of(client.get(KEYS).content.decode())
    data = {"name": "Twice", "scopes": ["usage:write"], "mode": "live", "idempotency_key": key}
    first = client.post(KEYS, data)
    second = client.post(KEYS, data)
    assert first.status_code == second.status_code == 302
    assert second["Location"] == KEYS
    assert second["Idempotent-Replayed"] == "true"
    assert APIKey.objects.filter(organization=team.org).count() == 1
    secret = shown_secret(client)
    assert hash_secret(secret) == APIKey.objects.get(organization=team.org).key_hash
    assert shown_secret(client) is None


def test_a_test_key_that_expires_when_the_chosen_day_begins_in_the_viewers_zone(site, team):
    client = site("owner")
    client.cookies["tz"] = "Asia/Jakarta"
    zone = zoneinfo.ZoneInfo("Asia/Jakarta")
    day = timezone.localdate(timezone=zone) + timedelta(days=10)
    response = create(client, name="Staging", mode="test", expires_at=day.isoformat())
    assert response.status_code == 302
    key = APIKey.objects.get(organization=team.org)
    assert key.mode == "test"
    assert key.expires_at == datetime.combine(day, time.min, tzinfo=zone)
    assert shown_secret(client).startswith("sk_test_")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"scopes": []}, "Choose at least one scope."),
        ({"name": ""}, "This field is required."),
        (
            {"scopes": ["usage:write", "admin:all"]},
            "Select a valid choice. admin:all is not one of the available choices.",
        ),
        ({"mode": "prod"}, "Select a valid choice. prod is not one of the available choices."),
        ({"expires_at": "2001-01-01"}, "Must be in the future."),  # the service's rule
        ({"expires_at": "tomorrow"}, "Enter a valid date."),
    ],
)
def test_invalid_input_is_shown_and_nothing_is_written(site, team, fields, message):
    client = site("owner")
    response = create(client, **fields)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not APIKey.objects.filter(organization=team.org).exists()
    assert shown_secret(client) is None


def test_the_plans_key_allowance_is_the_services_and_its_message_is_shown(site, team):
    for number in range(3):
        APIKeyFactory(organization=team.org, name=f"key {number}")
    client = site("owner")
    key = form_key_of(client.get(KEYS).content.decode())
    data = {"name": "One too many", "scopes": ["usage:write"], "mode": "live", "idempotency_key": key}
    response = client.post(KEYS, data)
    assert response.status_code == 403
    assert "Your plan allows 3 active API keys. Revoke one or upgrade." in response.content.decode()
    assert APIKey.objects.filter(organization=team.org).count() == 3
    assert not APIKey.objects.filter(name="One too many").exists()
    # The refused form may be sent again once there is room (its key was released).
    first = APIKey.objects.filter(organization=team.org).first()
    client.post(
        f"{KEYS}/{first.pk}/revoke",
        {"idempotency_key": form_key_of(client.get(f"{KEYS}/{first.pk}/revoke").content.decode())},
    )
    assert client.post(KEYS, data).status_code == 302
    assert APIKey.objects.filter(name="One too many", revoked_at__isnull=True).exists()


@pytest.mark.parametrize("path", [KEYS, f"{KEYS}/{uuid.uuid4()}/rotate", f"{KEYS}/{uuid.uuid4()}/edit"])
def test_signed_out_goes_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login?next=")


def test_signed_out_post_writes_nothing(client, team):
    response = client.post(KEYS, {"name": "x", "scopes": ["usage:write"], "mode": "live", "idempotency_key": "a1"})
    assert response.status_code == 302
    assert response["Location"] == "/login?next=/account/keys"
    assert not APIKey.objects.exists()


@pytest.mark.parametrize("role", ["billing", "member"])
def test_other_roles_are_refused_and_nothing_is_written(site, team, role):
    key = APIKeyFactory(organization=team.org, name="Kept")
    client = site(role)
    for path in (KEYS, f"{KEYS}/{key.pk}/edit", f"{KEYS}/{key.pk}/rotate", f"{KEYS}/{key.pk}/revoke"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert f"Your role ({role}) cannot see this page." in response.content.decode()
    posts = {
        KEYS: {"name": "Mine", "scopes": ["usage:write"], "mode": "live"},
        f"{KEYS}/{key.pk}/edit": {"name": "Renamed", "scopes": ["usage:read"]},
        f"{KEYS}/{key.pk}/rotate": {},
        f"{KEYS}/{key.pk}/revoke": {},
    }
    for path, data in posts.items():
        assert client.post(path, {**data, "idempotency_key": uuid.uuid4().hex}).status_code == 403, path
    after = APIKey.objects.get(pk=key.pk)
    assert (after.name, after.scopes, after.key_hash, after.revoked_at) == (key.name, key.scopes, key.key_hash, None)
    assert APIKey.objects.filter(organization=team.org).count() == 1


@pytest.mark.parametrize("action", ["edit", "rotate", "revoke"])
def test_another_organizations_key_is_not_found(site, other_team, action):
    theirs = APIKeyFactory(organization=other_team.org, name="Theirs")
    client = site("owner")
    for key_id in (theirs.pk, uuid.uuid4()):
        assert client.get(f"{KEYS}/{key_id}/{action}").status_code == 404
        data = {"name": "Mine now", "scopes": ["usage:read"], "idempotency_key": uuid.uuid4().hex}
        assert client.post(f"{KEYS}/{key_id}/{action}", data).status_code == 404
    after = APIKey.objects.get(pk=theirs.pk)
    assert (after.name, after.key_hash, after.revoked_at) == ("Theirs", theirs.key_hash, None)


def test_a_revoked_key_has_no_pages(site, team):
    key = APIKeyFactory(organization=team.org, revoked=True)
    for action in ("edit", "rotate", "revoke"):
        assert site("owner").get(f"{KEYS}/{key.pk}/{action}").status_code == 404


def test_rotate_asks_first_then_shows_the_new_secret_once(site, team):
    key = APIKeyFactory(organization=team.org, name="Worker")
    client = site("owner")
    page = client.get(f"{KEYS}/{key.pk}/rotate")
    assert page.status_code == 200
    html = page.content.decode()
    assert "The current secret stops working at once" in html
    assert "Rotate “Worker”" in html
    assert APIKey.objects.get(pk=key.pk).key_hash == key.key_hash  # looking changes nothing

    data = {"idempotency_key": form_key_of(html)}
    assert client.post(f"{KEYS}/{key.pk}/rotate", data).status_code == 302
    assert client.post(f"{KEYS}/{key.pk}/rotate", data).status_code == 302  # a double click rotates once
    rotated = APIKey.objects.get(pk=key.pk)
    assert rotated.key_hash != key.key_hash
    assert rotated.rotated_at is not None
    html = client.get(KEYS).content.decode()
    assert "New secret for “Worker”" in html
    secret = SECRET.search(html).group(1)
    assert hash_secret(secret) == rotated.key_hash
    assert shown_secret(client) is None


def test_revoke_asks_first_then_the_key_is_gone(site, team):
    key = APIKeyFactory(organization=team.org, name="Leaky")
    client = site("admin")
    html = client.get(f"{KEYS}/{key.pk}/revoke").content.decode()
    assert "Revoke “Leaky”" in html
    assert "cannot be restored" in html
    data = {"idempotency_key": form_key_of(html)}
    assert client.post(f"{KEYS}/{key.pk}/revoke", data).status_code == 302
    assert client.post(f"{KEYS}/{key.pk}/revoke", data).status_code == 302  # a double click: the first answer
    assert APIKey.objects.get(pk=key.pk).revoked_at is not None
    page = client.get(KEYS).content.decode()
    assert f"API key “Leaky” ({key.prefix}…) is revoked" in page
    assert '<th scope="row">Leaky</th>' not in page


def test_a_key_revoked_since_the_confirmation_was_shown_is_not_found(site, team):
    key = APIKeyFactory(organization=team.org, name="Raced")
    client = site("owner")
    form = form_key_of(client.get(f"{KEYS}/{key.pk}/revoke").content.decode())
    APIKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
    response = client.post(f"{KEYS}/{key.pk}/revoke", {"idempotency_key": form})
    assert response.status_code == 404


def test_edit_renames_and_rescopes(site, team):
    key = APIKeyFactory(organization=team.org, name="Worker", scopes=["usage:write"])
    client = site("owner")
    page = client.get(f"{KEYS}/{key.pk}/edit")
    html = page.content.decode()
    assert 'value="Worker"' in html
    assert re.search(r'value="usage:write" id="scope-\d" aria-describedby="scope-\d-help" checked', html)
    data = {"name": "Reporter", "scopes": ["usage:write", "usage:read"], "idempotency_key": form_key_of(html)}
    response = client.post(f"{KEYS}/{key.pk}/edit", data)
    assert response.status_code == 302
    after = APIKey.objects.get(pk=key.pk)
    assert (after.name, after.scopes, after.key_hash) == ("Reporter", ["usage:read", "usage:write"], key.key_hash)
    assert "API key “Reporter” saved." in client.get(KEYS).content.decode()


def test_edit_without_scopes_is_refused_and_changes_nothing(site, team):
    key = APIKeyFactory(organization=team.org, name="Worker", scopes=["usage:write"])
    client = site("owner")
    form = form_key_of(client.get(f"{KEYS}/{key.pk}/edit").content.decode())
    response = client.post(f"{KEYS}/{key.pk}/edit", {"name": "Renamed", "idempotency_key": form})
    assert response.status_code == 400
    assert "Choose at least one scope." in response.content.decode()
    after = APIKey.objects.get(pk=key.pk)
    assert (after.name, after.scopes) == ("Worker", ["usage:write"])
