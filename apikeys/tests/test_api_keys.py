"""GET/POST /api/v1/api-keys, PUT/DELETE /api/v1/api-keys/{id}, POST .../{id}/rotate, and
what a key can then do on the service endpoints (POST /api/v1/usage/report is the probe)."""

import hashlib
import uuid
from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.tests.factories import PASSWORD
from apikeys.authentication import ServicePrincipal, _cache_key
from apikeys.models import APIKey
from plans.models import Plan

from .helpers import (
    KEYS_URL,
    QUOTA_CHECK_URL,
    REPORT_URL,
    assert_error,
    assert_ok,
    create_key,
    key_url,
    new_key,
    org_header,
    report,
    service_client,
)

pytestmark = pytest.mark.django_db

LIST_FIELDS = {
    "id",
    "name",
    "prefix",
    "mode",
    "scopes",
    "status",
    "created_at",
    "last_used_at",
    "expires_at",
    "rotated_at",
}


def sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def key_row(data) -> APIKey:
    return APIKey.objects.get(pk=data["id"])


def in_an_hour() -> str:
    return (timezone.now() + timedelta(hours=1)).isoformat()


# --- POST /api-keys --------------------------------------------------------------------


def test_create_returns_a_live_secret_once(auth_client):
    data = new_key(auth_client, name="Backend", scopes=["usage:write"])

    assert set(data) == LIST_FIELDS | {"key"}
    assert data["key"].startswith("sk_live_")
    assert len(data["key"]) - len("sk_live_") >= 40
    assert data["prefix"] == data["key"][:16]
    assert data["name"] == "Backend"
    assert data["mode"] == "live"
    assert data["scopes"] == ["usage:write"]
    assert data["status"] == "active"
    assert data["last_used_at"] is None


def test_create_in_test_mode_returns_an_sk_test_secret(auth_client):
    data = new_key(auth_client, mode="test")

    assert data["key"].startswith("sk_test_")
    assert len(data["key"]) - len("sk_test_") >= 40
    assert data["mode"] == "test"


def test_each_key_gets_a_different_secret(auth_client):
    first, second = new_key(auth_client), new_key(auth_client)
    assert first["key"] != second["key"]
    assert first["prefix"] != second["prefix"]


def test_the_database_keeps_only_the_sha256_of_the_secret(auth_client):
    data = new_key(auth_client)

    row = key_row(data)
    assert row.key_hash == sha256(data["key"])
    stored = [str(getattr(row, f.attname)) for f in APIKey._meta.concrete_fields]
    assert not any(data["key"] in value for value in stored)


def test_create_records_the_organization_and_creator(auth_client, personal_org):
    row = key_row(new_key(auth_client))
    assert row.organization_id == personal_org.id
    assert row.created_by_id == auth_client.user.id


def test_create_deduplicates_and_sorts_scopes(auth_client):
    data = new_key(auth_client, scopes=["usage:write", "credits:write", "usage:write"])
    assert data["scopes"] == ["credits:write", "usage:write"]


def test_create_with_a_future_expiry_keeps_it(auth_client):
    expires = timezone.now() + timedelta(days=30)
    data = new_key(auth_client, expires_at=expires.isoformat())
    assert parse_datetime(data["expires_at"]) == expires.replace(microsecond=0)  # API times are whole seconds
    assert key_row(data).expires_at == expires


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scopes": ["usage:delete"]}, "scopes"),
        ({"name": "x", "scopes": ["usage:write", "admin"]}, "scopes"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x", "scopes": "usage:write"}, "scopes"),
        ({"name": "x"}, "scopes"),
        ({"scopes": ["usage:write"]}, "name"),
        ({"name": "", "scopes": ["usage:write"]}, "name"),
        ({"name": "x" * 101, "scopes": ["usage:write"]}, "name"),
        ({"name": "x", "scopes": ["usage:write"], "mode": "prod"}, "mode"),
        ({"name": "x", "scopes": ["usage:write"], "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "x", "scopes": ["usage:write"], "expires_at": "next week"}, "expires_at"),
    ],
)
def test_create_with_invalid_input_is_400_and_stores_nothing(auth_client, body, field):
    response = auth_client.post(KEYS_URL, body, format="json")

    error = assert_error(response, 400, "validation_error")
    assert field in error["details"]
    assert not APIKey.objects.exists()


def test_create_with_an_expiry_a_moment_ago_is_400(auth_client):
    past = (timezone.now() - timedelta(seconds=1)).isoformat()
    assert_error(create_key(auth_client, expires_at=past), 400, "validation_error")
    assert not APIKey.objects.exists()


def test_create_needs_authentication(api_client):
    assert_error(create_key(api_client), 401, "not_authenticated")
    assert not APIKey.objects.exists()


# --- GET /api-keys ---------------------------------------------------------------------


def test_list_shows_the_prefix_but_never_the_secret_nor_its_hash(auth_client):
    created = new_key(auth_client)

    response = auth_client.get(KEYS_URL)

    [entry] = assert_ok(response)
    assert set(entry) == LIST_FIELDS
    assert entry["id"] == created["id"]
    assert entry["prefix"] == created["key"][:16]
    body = response.content.decode()
    assert created["key"] not in body
    assert sha256(created["key"]) not in body


def test_list_is_paginated(auth_client):
    for index in range(3):
        new_key(auth_client, name=f"key {index}")

    response = auth_client.get(KEYS_URL, {"limit": 2, "offset": 0})

    assert len(assert_ok(response)) == 2
    assert response.json()["meta"] == {"total": 3, "limit": 2, "offset": 0}


def test_list_shows_only_the_current_organizations_keys(auth_client, team):
    mine = new_key(auth_client)
    new_key(team.clients["owner"], org=team.org)

    data = assert_ok(auth_client.get(KEYS_URL))

    assert [entry["id"] for entry in data] == [mine["id"]]


def test_list_leaves_out_revoked_keys(auth_client):
    kept, revoked = new_key(auth_client, name="kept"), new_key(auth_client, name="revoked")
    assert_ok(auth_client.delete(key_url(revoked["id"])))

    data = assert_ok(auth_client.get(KEYS_URL))

    assert [entry["id"] for entry in data] == [kept["id"]]


def test_list_marks_an_expired_key_expired(auth_client):
    data = new_key(auth_client, expires_at=in_an_hour())
    APIKey.objects.filter(pk=data["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))

    [entry] = assert_ok(auth_client.get(KEYS_URL))

    assert entry["status"] == "expired"


def test_list_needs_authentication(api_client):
    assert_error(api_client.get(KEYS_URL), 401, "not_authenticated")


# --- roles -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owner_and_admin_can_create_and_list_team_keys(team, role):
    client = team.clients[role]

    created = new_key(client, org=team.org)

    assert key_row(created).organization_id == team.org.id
    listed = assert_ok(client.get(KEYS_URL, **org_header(team.org)))
    assert [entry["id"] for entry in listed] == [created["id"]]


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owner_and_admin_can_rename_rotate_and_revoke_team_keys(team, role):
    client, headers = team.clients[role], org_header(team.org)
    created = new_key(team.clients["owner"], org=team.org)

    assert_ok(client.put(key_url(created["id"]), {"name": "new", "scopes": ["usage:read"]}, format="json", **headers))
    assert_ok(client.post(key_url(created["id"], "/rotate"), **headers))
    assert_ok(client.delete(key_url(created["id"]), **headers))

    row = key_row(created)
    assert row.name == "new"
    assert row.rotated_at is not None
    assert row.revoked_at is not None


@pytest.mark.parametrize("role", ["billing", "member"])
def test_billing_and_member_cannot_create_keys(team, role):
    response = create_key(team.clients[role], org=team.org)

    assert_error(response, 403, "permission_denied")
    assert not APIKey.objects.exists()


@pytest.mark.parametrize("role", ["billing", "member"])
def test_billing_and_member_cannot_list_keys(team, role):
    new_key(team.clients["owner"], org=team.org)
    assert_error(team.clients[role].get(KEYS_URL, **org_header(team.org)), 403, "permission_denied")


@pytest.mark.parametrize("role", ["billing", "member"])
@pytest.mark.parametrize(
    "call",
    [
        lambda client, url, headers: client.put(url, {"name": "x", "scopes": ["usage:read"]}, format="json", **headers),
        lambda client, url, headers: client.delete(url, **headers),
        lambda client, url, headers: client.post(f"{url}/rotate", **headers),
    ],
    ids=["update", "revoke", "rotate"],
)
def test_billing_and_member_cannot_change_keys(team, role, call):
    created = new_key(team.clients["owner"], org=team.org, name="Backend")
    before = key_row(created)

    response = call(team.clients[role], key_url(created["id"]), org_header(team.org))

    assert_error(response, 403, "permission_denied")
    after = key_row(created)
    assert (after.name, after.scopes, after.key_hash, after.revoked_at) == (
        before.name,
        before.scopes,
        before.key_hash,
        None,
    )
    assert report(created["key"]).status_code == 201


def test_a_member_can_manage_keys_of_their_own_personal_org(team):
    data = new_key(team.clients["member"])
    assert key_row(data).organization.is_personal


# --- other organizations ---------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda client, url: client.put(url, {"name": "stolen", "scopes": ["credits:write"]}, format="json"),
        lambda client, url: client.delete(url),
        lambda client, url: client.post(f"{url}/rotate"),
    ],
    ids=["update", "revoke", "rotate"],
)
def test_another_organizations_key_is_404_and_unchanged(auth_client, team, call):
    theirs = new_key(team.clients["owner"], org=team.org, name="Theirs")
    before = key_row(theirs)

    assert_error(call(auth_client, key_url(theirs["id"])), 404, "not_found")

    after = key_row(theirs)
    assert (after.name, after.scopes, after.key_hash, after.revoked_at) == (
        "Theirs",
        before.scopes,
        before.key_hash,
        None,
    )
    assert report(theirs["key"]).status_code == 201


def test_a_key_of_another_org_the_caller_belongs_to_is_404_without_that_org_header(team):
    """The team owner's own personal org is the default: the team's key is not found there."""
    theirs = new_key(team.clients["owner"], org=team.org)
    response = team.clients["owner"].delete(key_url(theirs["id"]))
    assert_error(response, 404, "not_found")
    assert key_row(theirs).revoked_at is None


def test_an_unknown_key_id_is_404(auth_client):
    assert_error(auth_client.delete(key_url(uuid.uuid4())), 404, "not_found")


@pytest.mark.parametrize("method", ["get", "post"])
def test_x_current_org_of_an_org_you_are_not_in_is_404(auth_client, team, method):
    response = getattr(auth_client, method)(
        KEYS_URL, {"name": "x", "scopes": ["usage:write"]}, format="json", **org_header(team.org)
    )
    assert_error(response, 404, "not_found")
    assert not APIKey.objects.exists()


def test_x_current_org_of_an_org_you_are_not_in_is_404_on_a_key(auth_client, team):
    theirs = new_key(team.clients["owner"], org=team.org)

    response = auth_client.delete(key_url(theirs["id"]), **org_header(team.org))

    assert_error(response, 404, "not_found")
    assert key_row(theirs).revoked_at is None


@pytest.mark.parametrize(
    "call",
    [
        lambda client, url: client.put(url, {"name": "x", "scopes": ["usage:read"]}, format="json"),
        lambda client, url: client.delete(url),
        lambda client, url: client.post(f"{url}/rotate"),
    ],
    ids=["update", "revoke", "rotate"],
)
def test_changing_a_key_needs_authentication(api_client, auth_client, call):
    created = new_key(auth_client)
    assert_error(call(api_client, key_url(created["id"])), 401, "not_authenticated")
    assert key_row(created).rotated_at is None
    assert key_row(created).revoked_at is None


# --- the plan's api_keys limit -------------------------------------------------------------


def test_the_free_plan_allows_three_active_keys(auth_client):
    assert Plan.objects.get(is_default=True).features["api_keys"] == 3
    for index in range(3):
        new_key(auth_client, name=f"key {index}")

    error = assert_error(create_key(auth_client, name="fourth"), 403, "feature_not_in_plan")

    assert "3" in error["message"]
    assert APIKey.objects.count() == 3
    assert not APIKey.objects.filter(name="fourth").exists()


def test_revoking_a_key_frees_a_place_under_the_limit(auth_client):
    keys = [new_key(auth_client, name=f"key {index}") for index in range(3)]
    assert_ok(auth_client.delete(key_url(keys[0]["id"])))

    new_key(auth_client, name="replacement")

    assert APIKey.objects.filter(revoked_at__isnull=True).count() == 3


def test_the_key_limit_counts_each_organization_apart(auth_client, team):
    for index in range(3):
        new_key(team.clients["owner"], org=team.org, name=f"team {index}")

    new_key(auth_client, name="personal")  # another organization: its own three


def test_a_plan_without_a_key_number_does_not_limit_keys(auth_client):
    Plan.objects.filter(is_default=True).update(features={"api_keys": True})
    Plan.objects.get(is_default=True).save()  # the catalogue sees the change at once

    for index in range(5):
        new_key(auth_client, name=f"key {index}")

    assert APIKey.objects.count() == 5


# --- revoke ----------------------------------------------------------------------------------


def test_a_revoked_key_stops_working_at_once(auth_client):
    created = new_key(auth_client)
    assert_ok(report(created["key"]), 201)  # the key is now cached

    response = auth_client.delete(key_url(created["id"]))

    data = assert_ok(response)
    assert response.json()["message"] == "API key revoked successfully"
    assert data["status"] == "revoked"
    assert key_row(created).revoked_at is not None
    assert_error(report(created["key"]), 401, "authentication_failed")


def test_revoking_twice_is_409(auth_client):
    created = new_key(auth_client)
    assert_ok(auth_client.delete(key_url(created["id"])))
    revoked_at = key_row(created).revoked_at

    assert_error(auth_client.delete(key_url(created["id"])), 409, "conflict")

    assert key_row(created).revoked_at == revoked_at


def test_a_revoked_key_cannot_be_rotated_nor_updated(auth_client):
    created = new_key(auth_client)
    assert_ok(auth_client.delete(key_url(created["id"])))

    assert_error(auth_client.post(key_url(created["id"], "/rotate")), 409, "conflict")
    assert_error(
        auth_client.put(key_url(created["id"]), {"name": "again", "scopes": ["usage:write"]}, format="json"),
        409,
        "conflict",
    )
    row = key_row(created)
    assert row.key_hash == sha256(created["key"])
    assert row.name == "Backend"
    assert_error(report(created["key"]), 401, "authentication_failed")


# --- rotate ----------------------------------------------------------------------------------


def test_rotating_replaces_the_secret_at_once(auth_client):
    created = new_key(auth_client)
    assert_ok(report(created["key"]), 201)  # the old secret is now cached

    data = assert_ok(auth_client.post(key_url(created["id"], "/rotate")))

    assert set(data) == {"id", "key", "prefix", "rotated_at"}
    assert data["id"] == created["id"]
    assert data["key"].startswith("sk_live_")
    assert data["key"] != created["key"]
    assert data["prefix"] == data["key"][:16]
    assert data["rotated_at"] is not None
    assert_error(report(created["key"]), 401, "authentication_failed")
    assert_ok(report(data["key"]), 201)


def test_rotation_stores_the_new_hash_and_rotated_at(auth_client):
    created = new_key(auth_client)

    data = assert_ok(auth_client.post(key_url(created["id"], "/rotate")))

    row = key_row(created)
    assert row.key_hash == sha256(data["key"])
    assert row.prefix == data["key"][:16]
    assert row.rotated_at.replace(microsecond=0) == parse_datetime(data["rotated_at"])
    assert [entry["rotated_at"] for entry in assert_ok(auth_client.get(KEYS_URL))] == [data["rotated_at"]]


def test_rotating_a_test_key_keeps_it_a_test_key(auth_client):
    created = new_key(auth_client, mode="test")
    data = assert_ok(auth_client.post(key_url(created["id"], "/rotate")))
    assert data["key"].startswith("sk_test_")


# --- PUT /api-keys/{id} -------------------------------------------------------------------------


def test_update_changes_name_and_scopes(auth_client):
    created = new_key(auth_client, name="Old", scopes=["usage:write"])

    data = assert_ok(
        auth_client.put(
            key_url(created["id"]), {"name": "New", "scopes": ["usage:read", "credits:write"]}, format="json"
        )
    )

    assert (data["name"], data["scopes"]) == ("New", ["credits:write", "usage:read"])
    row = key_row(created)
    assert (row.name, row.scopes) == ("New", ["credits:write", "usage:read"])
    assert row.key_hash == sha256(created["key"])  # the secret is unchanged
    assert "key" not in data


def test_a_removed_scope_is_refused_at_once(auth_client):
    created = new_key(auth_client, scopes=["usage:write", "usage:read"])
    assert_ok(report(created["key"]), 201)  # cached with usage:write

    assert_ok(auth_client.put(key_url(created["id"]), {"name": "Backend", "scopes": ["usage:read"]}, format="json"))

    error = assert_error(report(created["key"]), 403, "permission_denied")
    assert "usage:write" in error["message"]


def test_an_added_scope_is_granted_at_once(auth_client):
    created = new_key(auth_client, scopes=["usage:read"])
    assert_error(report(created["key"]), 403, "permission_denied")

    assert_ok(auth_client.put(key_url(created["id"]), {"name": "Backend", "scopes": ["usage:write"]}, format="json"))

    assert_ok(report(created["key"]), 201)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "New", "scopes": []},
        {"name": "New", "scopes": ["root"]},
        {"name": "", "scopes": ["usage:read"]},
        {"scopes": ["usage:read"]},
        {"name": "New"},
    ],
)
def test_update_with_invalid_input_is_400_and_changes_nothing(auth_client, body):
    created = new_key(auth_client, name="Old", scopes=["usage:write"])

    assert_error(auth_client.put(key_url(created["id"]), body, format="json"), 400, "validation_error")

    row = key_row(created)
    assert (row.name, row.scopes) == ("Old", ["usage:write"])


# --- using a key -----------------------------------------------------------------------------------


def test_an_expired_key_is_refused(auth_client):
    created = new_key(auth_client, expires_at=in_an_hour())
    assert_ok(report(created["key"]), 201)

    with time_machine.travel(timezone.now() + timedelta(hours=2), tick=False):
        error = assert_error(report(created["key"]), 401, "authentication_failed")

    assert "expired" in error["message"]


def test_a_key_works_until_it_expires(auth_client):
    created = new_key(auth_client, expires_at=in_an_hour())

    with time_machine.travel(timezone.now() + timedelta(minutes=59), tick=False):
        assert_ok(report(created["key"]), 201)


def test_use_records_last_used_at(auth_client):
    created = new_key(auth_client)
    assert key_row(created).last_used_at is None
    before = timezone.now()

    assert_ok(report(created["key"]), 201)

    last_used = key_row(created).last_used_at
    assert last_used is not None
    assert before <= last_used <= timezone.now()


def test_a_key_with_usage_read_can_check_quota(auth_client):
    created = new_key(auth_client, scopes=["usage:read"])

    data = assert_ok(service_client(created["key"]).get(QUOTA_CHECK_URL, {"requests_needed": 1}))

    assert data["allowed"] is True


def test_quota_check_without_usage_read_is_403(auth_client):
    created = new_key(auth_client, scopes=["usage:write"])

    response = service_client(created["key"]).get(QUOTA_CHECK_URL, {"requests_needed": 1})

    error = assert_error(response, 403, "permission_denied")
    assert "usage:read" in error["message"]


def test_a_user_token_is_refused_on_a_service_endpoint(auth_client):
    response = auth_client.post(REPORT_URL, {"event_type": "api_call"}, format="json")

    error = assert_error(response, 401, "authentication_failed")
    assert "API key" in error["message"]


def test_an_api_key_is_refused_on_a_people_endpoint(auth_client):
    created = new_key(auth_client)

    response = service_client(created["key"]).get("/api/v1/profile")

    assert_error(response, 401, "authentication_failed")
    assert auth_client.user.email not in response.content.decode()


def test_an_api_key_cannot_manage_api_keys(auth_client):
    created = new_key(auth_client)
    response = service_client(created["key"]).post(KEYS_URL, {"name": "x", "scopes": ["usage:write"]}, format="json")
    assert response.status_code == 401
    assert APIKey.objects.count() == 1


def test_a_service_endpoint_without_credentials_is_401(api_client):
    assert_error(api_client.post(REPORT_URL, {"event_type": "api_call"}, format="json"), 401, "not_authenticated")


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "Token sk_live_abc", "Basic dXNlcjpwYXNz", "bearer sk_live_abc", "sk_live_abc"],
)
def test_a_malformed_authorization_header_is_401(api_client, header):
    api_client.credentials(HTTP_AUTHORIZATION=header)
    response = api_client.post(REPORT_URL, {"event_type": "api_call"}, format="json")
    assert_error(response, 401, "authentication_failed")


def test_an_unknown_key_is_401(auth_client):
    new_key(auth_client)
    error = assert_error(report("sk_live_" + "x" * 43), 401, "authentication_failed")
    assert "Invalid" in error["message"]


# --- account deletion ---------------------------------------------------------------------------------


def test_deleting_the_account_revokes_the_keys_of_orgs_only_that_user_belonged_to(auth_client):
    keys = [new_key(auth_client, name=f"key {index}") for index in range(2)]
    assert_ok(report(keys[0]["key"]), 201)

    assert_ok(auth_client.delete("/api/v1/profile", {"password": PASSWORD}, format="json"))

    assert not APIKey.objects.filter(revoked_at__isnull=True).exists()
    for key in keys:
        assert_error(report(key["key"]), 401, "authentication_failed")


def test_deleting_the_account_keeps_the_keys_of_shared_orgs(team):
    shared = new_key(team.clients["owner"], org=team.org)

    assert_ok(team.clients["admin"].delete("/api/v1/profile", {"password": PASSWORD}, format="json"))

    assert key_row(shared).revoked_at is None
    assert_ok(report(shared["key"]), 201)


def test_a_wrong_password_deletes_nothing_and_keeps_the_keys(auth_client):
    created = new_key(auth_client)
    assert_error(
        auth_client.delete("/api/v1/profile", {"password": "wrong-pass-1"}, format="json"), 400, "validation_error"
    )
    assert key_row(created).revoked_at is None


# --- quota-check: a change to a key takes effect there at once too ----------------------------------


def quota_check(secret: str):
    return service_client(secret).get(QUOTA_CHECK_URL, {"requests_needed": 1})


def test_a_revoked_key_stops_working_at_once_on_quota_check(auth_client):
    created = new_key(auth_client, scopes=["usage:read"])
    assert_ok(quota_check(created["key"]))
    assert_ok(quota_check(created["key"]))  # known to this process and cached

    assert_ok(auth_client.delete(key_url(created["id"])))

    assert_error(quota_check(created["key"]), 401, "authentication_failed")


def test_a_rotated_secret_stops_working_at_once_on_quota_check(auth_client):
    created = new_key(auth_client, scopes=["usage:read"])
    assert_ok(quota_check(created["key"]))
    assert_ok(quota_check(created["key"]))

    rotated = assert_ok(auth_client.post(key_url(created["id"], "/rotate")))

    assert_error(quota_check(created["key"]), 401, "authentication_failed")
    assert_ok(quota_check(rotated["key"]))


def test_a_removed_read_scope_is_refused_at_once_on_quota_check(auth_client):
    created = new_key(auth_client, scopes=["usage:read", "usage:write"])
    assert_ok(quota_check(created["key"]))
    assert_ok(quota_check(created["key"]))

    assert_ok(auth_client.put(key_url(created["id"]), {"name": "Backend", "scopes": ["usage:write"]}, format="json"))

    assert_error(quota_check(created["key"]), 403, "permission_denied")


def test_an_expired_key_is_refused_on_quota_check(auth_client):
    created = new_key(auth_client, scopes=["usage:read"], expires_at=in_an_hour())
    assert_ok(quota_check(created["key"]))
    assert_ok(quota_check(created["key"]))

    with time_machine.travel(timezone.now() + timedelta(hours=2), tick=False):
        assert_error(quota_check(created["key"]), 401, "authentication_failed")


# --- with Redis as the shared cache ------------------------------------------------------------------


def assert_principal_cached(secret: str) -> None:
    assert isinstance(cache.get(_cache_key(sha256(secret))), ServicePrincipal)


@pytest.fixture
def redis_cache():
    """The tests below mean the shared Redis cache, not a per-process one."""
    assert isinstance(caches["default"], RedisCache)


@pytest.mark.redis
def test_revocation_works_at_once_although_the_principal_is_cached_in_redis(auth_client, redis_cache):
    created = new_key(auth_client)
    assert_ok(report(created["key"]), 201)
    assert_principal_cached(created["key"])

    assert_ok(auth_client.delete(key_url(created["id"])))

    assert_error(report(created["key"]), 401, "authentication_failed")


@pytest.mark.redis
def test_rotation_works_at_once_although_the_principal_is_cached_in_redis(auth_client, redis_cache):
    created = new_key(auth_client)
    assert_ok(report(created["key"]), 201)
    assert_principal_cached(created["key"])

    rotated = assert_ok(auth_client.post(key_url(created["id"], "/rotate")))

    assert_error(report(created["key"]), 401, "authentication_failed")
    assert_ok(report(rotated["key"]), 201)


@pytest.mark.redis
def test_a_scope_removal_works_at_once_although_the_principal_is_cached_in_redis(auth_client, redis_cache):
    created = new_key(auth_client)
    assert_ok(report(created["key"]), 201)
    assert_principal_cached(created["key"])

    assert_ok(auth_client.put(key_url(created["id"]), {"name": "Backend", "scopes": ["usage:read"]}, format="json"))

    assert_error(report(created["key"]), 403, "permission_denied")


@pytest.mark.redis
def test_account_deletion_works_at_once_although_the_principal_is_cached_in_redis(auth_client, redis_cache):
    created = new_key(auth_client)
    assert_ok(report(created["key"]), 201)
    assert_principal_cached(created["key"])

    assert_ok(auth_client.delete("/api/v1/profile", {"password": PASSWORD}, format="json"))

    assert_error(report(created["key"]), 401, "authentication_failed")
