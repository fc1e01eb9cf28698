"""GET/POST /api/v1/orgs and GET/PATCH /api/v1/orgs/{id}."""

import uuid

import pytest

from billing_project.testing import assert_error, assert_ok
from billing_project.tests.openapi import assert_response_matches_schema
from organizations.models import Membership, Organization, Role
from organizations.tests.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

ORGS = "/api/v1/orgs"


def personal_org_of(user) -> Organization:
    return Organization.objects.get(memberships__user=user, is_personal=True)


def join_many_orgs(user, count: int) -> None:
    orgs = Organization.objects.bulk_create(
        Organization(name=f"Bulk {i:03d}", slug=f"bulk-{uuid.uuid4().hex[:12]}") for i in range(count)
    )
    Membership.objects.bulk_create(Membership(organization=org, user=user, role=Role.MEMBER) for org in orgs)


# --- GET /orgs ---------------------------------------------------------------------


def test_list_requires_authentication(api_client):
    assert_error(api_client.get(ORGS), 401, "not_authenticated")


def test_list_shows_only_the_callers_orgs(auth_client, user, team):
    MembershipFactory(organization=team.org, user=user, role=Role.BILLING)
    OrganizationFactory(name="Somebody else's org")

    data = assert_ok(auth_client.get(ORGS))

    assert {org["id"] for org in data} == {str(personal_org_of(user).id), str(team.org.id)}


def test_list_gives_the_callers_role_in_each_org_once(auth_client, user, team):
    # team.org has four other members with four roles: the caller's must be the one shown.
    MembershipFactory(organization=team.org, user=user, role=Role.BILLING)

    data = assert_ok(auth_client.get(ORGS))

    roles = {org["id"]: org["role"] for org in data}
    assert len(data) == 2
    assert roles == {str(personal_org_of(user).id): "owner", str(team.org.id): "billing"}


def test_list_puts_the_personal_org_first_then_sorts_by_name(auth_client, user):
    for name in ["Zeta", "Alpha"]:
        MembershipFactory(organization=OrganizationFactory(name=name), user=user)

    data = assert_ok(auth_client.get(ORGS))

    assert [org["is_personal"] for org in data] == [True, False, False]
    assert [org["name"] for org in data[1:]] == ["Alpha", "Zeta"]


def test_list_item_has_the_documented_fields(auth_client, user):
    org = assert_ok(auth_client.get(ORGS))[0]
    assert set(org) >= {"id", "name", "slug", "billing_email", "country", "currency", "is_personal", "role"}


def test_list_is_paginated_with_limit_and_offset(auth_client, user):
    join_many_orgs(user, 4)

    response = auth_client.get(ORGS, {"limit": 2, "offset": 1})

    data = assert_ok(response)
    assert response.json()["meta"] == {"total": 5, "limit": 2, "offset": 1}
    assert [org["name"] for org in data] == ["Bulk 000", "Bulk 001"]


def test_list_default_limit_is_20(auth_client, user):
    join_many_orgs(user, 24)

    response = auth_client.get(ORGS)

    assert len(assert_ok(response)) == 20
    assert response.json()["meta"] == {"total": 25, "limit": 20, "offset": 0}


def test_list_limit_is_capped_at_100(auth_client, user):
    join_many_orgs(user, 101)

    response = auth_client.get(ORGS, {"limit": 500})

    assert len(assert_ok(response)) == 100
    assert response.json()["meta"] == {"total": 102, "limit": 100, "offset": 0}


# --- POST /orgs --------------------------------------------------------------------


def test_create_requires_authentication(api_client):
    count = Organization.objects.count()
    assert_error(api_client.post(ORGS, {"name": "Acme", "slug": "acme"}, format="json"), 401, "not_authenticated")
    assert Organization.objects.count() == count


def test_create_makes_the_caller_its_owner(auth_client, user):
    data = assert_ok(auth_client.post(ORGS, {"name": "Acme Inc", "slug": "acme-inc"}, format="json"), 201)

    assert data["name"] == "Acme Inc"
    assert data["slug"] == "acme-inc"
    assert data["role"] == "owner"
    assert data["is_personal"] is False
    org = Organization.objects.get(pk=data["id"])
    assert list(org.memberships.values_list("user_id", "role")) == [(user.id, "owner")]


def test_create_defaults_currency_and_billing_email(auth_client, user):
    data = assert_ok(auth_client.post(ORGS, {"name": "Acme Inc", "slug": "acme-inc"}, format="json"), 201)
    assert data["currency"] == "USD"
    assert data["billing_email"] == user.email


def test_created_org_appears_in_the_callers_list(auth_client):
    created = assert_ok(auth_client.post(ORGS, {"name": "Acme Inc", "slug": "acme-inc"}, format="json"), 201)

    listed = {org["id"]: org["role"] for org in assert_ok(auth_client.get(ORGS))}
    assert listed[created["id"]] == "owner"


def test_create_cannot_make_a_personal_org(auth_client):
    data = assert_ok(
        auth_client.post(ORGS, {"name": "Acme Inc", "slug": "acme-inc", "is_personal": True}, format="json"), 201
    )
    assert data["is_personal"] is False
    assert Organization.objects.get(pk=data["id"]).is_personal is False


def test_create_with_a_taken_slug_is_400_and_creates_nothing(auth_client, user):
    OrganizationFactory(slug="acme")
    count = Organization.objects.count()

    error = assert_error(
        auth_client.post(ORGS, {"name": "Acme", "slug": "acme"}, format="json"), 400, "validation_error"
    )

    assert "slug" in error["details"]
    assert Organization.objects.count() == count
    assert not Organization.objects.filter(name="Acme").exists()
    assert Membership.objects.filter(user=user).count() == 1  # only the personal org


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("slug", "not a slug!"),
        ("currency", "usd"),
        ("currency", "DOLLARS"),
        ("country", "USA"),
        ("country", "us"),
        ("billing_email", "not-an-email"),
    ],
)
def test_create_with_an_invalid_field_is_400_and_creates_nothing(auth_client, field, value):
    count = Organization.objects.count()
    payload = {"name": "Acme", "slug": "acme", field: value}

    error = assert_error(auth_client.post(ORGS, payload, format="json"), 400, "validation_error")

    assert field in error["details"]
    assert Organization.objects.count() == count


def test_create_without_a_name_is_400_and_creates_nothing(auth_client):
    count = Organization.objects.count()
    error = assert_error(auth_client.post(ORGS, {"slug": "acme"}, format="json"), 400, "validation_error")
    assert "name" in error["details"]
    assert Organization.objects.count() == count


def test_create_without_a_slug_makes_one_from_the_name(auth_client):
    data = assert_ok(auth_client.post(ORGS, {"name": "Acme Widgets Ltd"}, format="json"), 201)
    assert data["slug"] == "acme-widgets-ltd"
    assert Organization.objects.filter(slug="acme-widgets-ltd").count() == 1


def test_create_without_a_slug_avoids_a_taken_one(auth_client):
    OrganizationFactory(slug="acme-widgets")

    data = assert_ok(auth_client.post(ORGS, {"name": "Acme Widgets"}, format="json"), 201)

    assert data["slug"].startswith("acme-widgets-")
    assert Organization.objects.filter(slug=data["slug"]).count() == 1


# --- GET /orgs/{id} ----------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "admin", "billing", "member"])
def test_any_member_can_get_the_org_with_their_role(team, role):
    data = assert_ok(team.clients[role].get(team.url()))
    assert data["id"] == str(team.org.id)
    assert data["name"] == "Acme Team"
    assert data["role"] == role


def test_get_requires_authentication(api_client, team):
    assert_error(api_client.get(team.url()), 401, "not_authenticated")


def test_get_of_another_orgs_id_is_404(team, outsider_client):
    assert_error(outsider_client.get(team.url()), 404, "not_found")


def test_get_of_an_unknown_id_is_404(auth_client):
    assert_error(auth_client.get(f"{ORGS}/{uuid.uuid4()}"), 404, "not_found")


# --- PATCH /orgs/{id} --------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owner_and_admin_can_update_the_org(team, role):
    payload = {"name": "Renamed", "slug": "renamed", "currency": "EUR", "country": "DE"}

    data = assert_ok(team.clients[role].patch(team.url(), payload, format="json"))

    assert data["name"] == "Renamed"
    assert data["role"] == role
    team.org.refresh_from_db()
    assert (team.org.name, team.org.slug, team.org.currency, team.org.country) == ("Renamed", "renamed", "EUR", "DE")


def test_update_is_partial(team):
    slug = team.org.slug
    assert_ok(team.clients["owner"].patch(team.url(), {"name": "Renamed"}, format="json"))
    team.org.refresh_from_db()
    assert (team.org.name, team.org.slug) == ("Renamed", slug)


@pytest.mark.parametrize("role", ["billing", "member"])
def test_billing_and_member_cannot_update_the_org(team, role):
    response = team.clients[role].patch(team.url(), {"name": "Hijacked"}, format="json")

    assert_error(response, 403, "permission_denied")
    team.org.refresh_from_db()
    assert team.org.name == "Acme Team"


def test_update_to_a_taken_slug_is_400_and_changes_nothing(team):
    OrganizationFactory(slug="taken")
    slug = team.org.slug

    response = team.clients["owner"].patch(team.url(), {"name": "Renamed", "slug": "taken"}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert "slug" in error["details"]
    team.org.refresh_from_db()
    assert (team.org.name, team.org.slug) == ("Acme Team", slug)


@pytest.mark.parametrize(("field", "value"), [("currency", "eur"), ("country", "DEU"), ("slug", "a b"), ("name", "")])
def test_update_with_an_invalid_field_is_400_and_changes_nothing(team, field, value):
    before = Organization.objects.filter(pk=team.org.pk).values().get()

    error = assert_error(
        team.clients["owner"].patch(team.url(), {field: value}, format="json"), 400, "validation_error"
    )

    assert field in error["details"]
    assert Organization.objects.filter(pk=team.org.pk).values().get() == before


def test_update_cannot_change_is_personal(auth_client, user):
    org = personal_org_of(user)
    assert_ok(auth_client.patch(f"{ORGS}/{org.id}", {"is_personal": False}, format="json"))
    org.refresh_from_db()
    assert org.is_personal is True


def test_update_of_another_orgs_id_is_404_and_changes_nothing(team, outsider_client):
    assert_error(outsider_client.patch(team.url(), {"name": "Hijacked"}, format="json"), 404, "not_found")
    team.org.refresh_from_db()
    assert team.org.name == "Acme Team"


def test_update_of_an_unknown_id_is_404(auth_client):
    assert_error(auth_client.patch(f"{ORGS}/{uuid.uuid4()}", {"name": "X"}, format="json"), 404, "not_found")


def test_update_requires_authentication(api_client, team):
    assert_error(api_client.patch(team.url(), {"name": "Hijacked"}, format="json"), 401, "not_authenticated")
    team.org.refresh_from_db()
    assert team.org.name == "Acme Team"


def test_a_removed_member_can_no_longer_see_the_org(team):
    client = team.clients["member"]
    Membership.objects.filter(organization=team.org, user=team.users["member"]).delete()
    assert_error(client.get(team.url()), 404, "not_found")


# --- the answers match the published OpenAPI schema ----------------------------------


def test_an_org_without_a_billing_email_matches_the_schema_in_the_list_and_in_detail(auth_client, team):
    # "" means "no billing email: invoices go to the owners"; the schema must allow it.
    MembershipFactory(organization=team.org, user=auth_client.user, role=Role.OWNER)
    Organization.objects.filter(pk=team.org.pk).update(billing_email="")

    listed = auth_client.get(ORGS)
    detail = auth_client.get(team.url())

    assert "" in [org["billing_email"] for org in assert_ok(listed)]
    assert_response_matches_schema(listed, method="GET", path="/api/v1/orgs")
    assert_response_matches_schema(detail, method="GET", path="/api/v1/orgs/{org_id}")


def test_clearing_the_billing_email_answers_within_the_schema(auth_client, team):
    MembershipFactory(organization=team.org, user=auth_client.user, role=Role.OWNER)

    response = auth_client.patch(team.url(), {"billing_email": ""}, format="json")

    assert assert_ok(response)["billing_email"] == ""
    assert_response_matches_schema(response, method="PATCH", path="/api/v1/orgs/{org_id}")
