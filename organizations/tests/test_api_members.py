"""GET /api/v1/orgs/{id}/members and PATCH/DELETE /api/v1/orgs/{id}/members/{user_id}."""

import uuid

import pytest

from accounts.tests.factories import UserFactory
from billing_project.errors import NotFound
from billing_project.testing import assert_error, assert_ok
from organizations import services
from organizations.models import Membership, Role
from organizations.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def role_of(team, user) -> str | None:
    return Membership.objects.filter(organization=team.org, user=user).values_list("role", flat=True).first()


def owners_of(team) -> set:
    return set(Membership.objects.filter(organization=team.org, role=Role.OWNER).values_list("user_id", flat=True))


def add_second_owner(team):
    second = UserFactory()
    MembershipFactory(organization=team.org, user=second, role=Role.OWNER)
    return second


def member_url(team, user) -> str:
    return team.url(f"/members/{user.id}")


# --- GET /members ------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "admin", "billing", "member"])
def test_any_member_can_list_the_members(team, role):
    response = team.clients[role].get(team.url("/members"))

    data = assert_ok(response)
    assert response.json()["meta"] == {"total": 4, "limit": 20, "offset": 0}
    assert {(m["user_id"], m["role"]) for m in data} == {(str(u.id), r) for r, u in team.users.items()}


def test_member_entry_has_user_id_email_name_and_role(team):
    data = assert_ok(team.clients["member"].get(team.url("/members")))

    owner = team.users["owner"]
    entry = next(m for m in data if m["user_id"] == str(owner.id))
    assert entry["email"] == owner.email
    assert entry["name"] == owner.name
    assert entry["role"] == "owner"


def test_members_list_is_paginated(team):
    response = team.clients["member"].get(team.url("/members"), {"limit": 3, "offset": 2})
    assert len(assert_ok(response)) == 2
    assert response.json()["meta"] == {"total": 4, "limit": 3, "offset": 2}


def test_members_of_another_org_is_404(team, outsider_client):
    assert_error(outsider_client.get(team.url("/members")), 404, "not_found")


def test_members_requires_authentication(api_client, team):
    assert_error(api_client.get(team.url("/members")), 401, "not_authenticated")


# --- PATCH /members/{user_id} ------------------------------------------------------


@pytest.mark.parametrize("actor", ["owner", "admin"])
def test_owner_and_admin_can_change_a_role(team, actor):
    target = team.users["member"]

    data = assert_ok(team.clients[actor].patch(member_url(team, target), {"role": "billing"}, format="json"))

    assert data["user_id"] == str(target.id)
    assert data["role"] == "billing"
    assert role_of(team, target) == "billing"


@pytest.mark.parametrize("actor", ["billing", "member"])
def test_billing_and_member_cannot_change_a_role(team, actor):
    target = team.users["member"] if actor == "billing" else team.users["billing"]
    before = role_of(team, target)

    response = team.clients[actor].patch(member_url(team, target), {"role": "admin"}, format="json")

    assert_error(response, 403, "permission_denied")
    assert role_of(team, target) == before


@pytest.mark.parametrize("actor", ["billing", "member"])
def test_billing_and_member_cannot_promote_themselves(team, actor):
    response = team.clients[actor].patch(member_url(team, team.users[actor]), {"role": "owner"}, format="json")
    assert_error(response, 403, "permission_denied")
    assert role_of(team, team.users[actor]) == actor


def test_admin_cannot_grant_the_owner_role(team):
    target = team.users["member"]

    response = team.clients["admin"].patch(member_url(team, target), {"role": "owner"}, format="json")

    assert_error(response, 403, "permission_denied")
    assert role_of(team, target) == "member"


def test_admin_cannot_make_themselves_owner(team):
    admin = team.users["admin"]
    response = team.clients["admin"].patch(member_url(team, admin), {"role": "owner"}, format="json")
    assert_error(response, 403, "permission_denied")
    assert role_of(team, admin) == "admin"


def test_admin_cannot_demote_an_owner(team):
    add_second_owner(team)
    owner = team.users["owner"]

    response = team.clients["admin"].patch(member_url(team, owner), {"role": "member"}, format="json")

    assert_error(response, 403, "permission_denied")
    assert role_of(team, owner) == "owner"


def test_owner_can_grant_the_owner_role(team):
    target = team.users["admin"]

    assert_ok(team.clients["owner"].patch(member_url(team, target), {"role": "owner"}, format="json"))

    assert owners_of(team) == {team.users["owner"].id, target.id}


def test_the_last_owner_cannot_be_demoted(team):
    owner = team.users["owner"]

    response = team.clients["owner"].patch(member_url(team, owner), {"role": "admin"}, format="json")

    assert_error(response, 409, "conflict")
    assert role_of(team, owner) == "owner"


def test_with_two_owners_one_can_be_demoted(team):
    second = add_second_owner(team)

    data = assert_ok(team.clients["owner"].patch(member_url(team, second), {"role": "member"}, format="json"))

    assert data["role"] == "member"
    assert owners_of(team) == {team.users["owner"].id}


def test_with_two_owners_an_owner_can_demote_themselves(team):
    second = add_second_owner(team)
    owner = team.users["owner"]

    assert_ok(team.clients["owner"].patch(member_url(team, owner), {"role": "admin"}, format="json"))

    assert owners_of(team) == {second.id}


def test_keeping_the_last_owner_an_owner_is_allowed(team):
    owner = team.users["owner"]
    assert_ok(team.clients["owner"].patch(member_url(team, owner), {"role": "owner"}, format="json"))
    assert role_of(team, owner) == "owner"


@pytest.mark.parametrize("role", ["superuser", "", None, "OWNER"])
def test_change_to_an_invalid_role_is_400_and_changes_nothing(team, role):
    target = team.users["member"]

    response = team.clients["owner"].patch(member_url(team, target), {"role": role}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert "role" in error["details"]
    assert role_of(team, target) == "member"


def test_change_without_a_role_is_400(team):
    error = assert_error(
        team.clients["owner"].patch(member_url(team, team.users["member"]), {}, format="json"), 400, "validation_error"
    )
    assert "role" in error["details"]


def test_change_of_an_unknown_user_id_is_404(team):
    response = team.clients["owner"].patch(team.url(f"/members/{uuid.uuid4()}"), {"role": "admin"}, format="json")
    assert_error(response, 404, "not_found")


def test_change_of_a_user_outside_the_org_is_404_and_changes_nothing(team, outsider):
    response = team.clients["owner"].patch(member_url(team, outsider), {"role": "admin"}, format="json")

    assert_error(response, 404, "not_found")
    assert Membership.objects.filter(user=outsider).values_list("role", flat=True).get() == "owner"  # personal org
    assert role_of(team, outsider) is None


def test_change_in_another_org_is_404_and_changes_nothing(team, outsider, outsider_client):
    target = team.users["member"]

    response = outsider_client.patch(member_url(team, target), {"role": "admin"}, format="json")

    assert_error(response, 404, "not_found")
    assert role_of(team, target) == "member"


def test_change_requires_authentication(api_client, team):
    target = team.users["member"]
    response = api_client.patch(member_url(team, target), {"role": "admin"}, format="json")
    assert_error(response, 401, "not_authenticated")
    assert role_of(team, target) == "member"


# --- DELETE /members/{user_id} -----------------------------------------------------


@pytest.mark.parametrize("actor", ["owner", "admin"])
@pytest.mark.parametrize("target", ["billing", "member"])
def test_owner_and_admin_can_remove_a_member(team, actor, target):
    removed = team.users[target]

    assert_ok(team.clients[actor].delete(member_url(team, removed)))

    assert role_of(team, removed) is None
    assert Membership.objects.filter(organization=team.org).count() == 3


def test_admin_can_remove_another_admin(team):
    other_admin = UserFactory()
    MembershipFactory(organization=team.org, user=other_admin, role=Role.ADMIN)
    assert_ok(team.clients["admin"].delete(member_url(team, other_admin)))
    assert role_of(team, other_admin) is None


def test_admin_cannot_remove_an_owner(team):
    add_second_owner(team)
    owner = team.users["owner"]

    assert_error(team.clients["admin"].delete(member_url(team, owner)), 403, "permission_denied")

    assert role_of(team, owner) == "owner"


def test_owner_can_remove_another_owner(team):
    second = add_second_owner(team)
    assert_ok(team.clients["owner"].delete(member_url(team, second)))
    assert owners_of(team) == {team.users["owner"].id}


@pytest.mark.parametrize("role", ["admin", "billing", "member"])
def test_a_member_can_leave(team, role):
    leaver = team.users[role]
    client = team.clients[role]

    assert_ok(client.delete(member_url(team, leaver)))

    assert role_of(team, leaver) is None
    org_ids = {org["id"] for org in assert_ok(client.get("/api/v1/orgs"))}
    assert str(team.org.id) not in org_ids


@pytest.mark.parametrize("actor", ["billing", "member"])
def test_billing_and_member_cannot_remove_someone_else(team, actor):
    target = team.users["member"] if actor == "billing" else team.users["billing"]

    assert_error(team.clients[actor].delete(member_url(team, target)), 403, "permission_denied")

    assert role_of(team, target) is not None


def test_the_last_owner_cannot_leave(team):
    owner = team.users["owner"]

    assert_error(team.clients["owner"].delete(member_url(team, owner)), 409, "conflict")

    assert role_of(team, owner) == "owner"


def test_with_two_owners_an_owner_can_leave(team):
    second = add_second_owner(team)
    assert_ok(team.clients["owner"].delete(member_url(team, team.users["owner"])))
    assert owners_of(team) == {second.id}


def test_the_owner_cannot_leave_their_personal_org(auth_client, user):
    org = user.memberships.get().organization
    assert_error(auth_client.delete(f"/api/v1/orgs/{org.id}/members/{user.id}"), 409, "conflict")
    assert user.memberships.filter(organization=org).exists()


def test_remove_of_an_unknown_user_id_is_404(team):
    assert_error(team.clients["owner"].delete(team.url(f"/members/{uuid.uuid4()}")), 404, "not_found")
    assert Membership.objects.filter(organization=team.org).count() == 4


def test_remove_in_another_org_is_404_and_changes_nothing(team, outsider_client):
    target = team.users["member"]
    assert_error(outsider_client.delete(member_url(team, target)), 404, "not_found")
    assert role_of(team, target) == "member"


def test_remove_requires_authentication(api_client, team):
    target = team.users["member"]
    assert_error(api_client.delete(member_url(team, target)), 401, "not_authenticated")
    assert role_of(team, target) == "member"


def test_removed_member_loses_access(team):
    client = team.clients["admin"]
    assert_ok(team.clients["owner"].delete(member_url(team, team.users["admin"])))
    assert_error(client.get(team.url("/members")), 404, "not_found")


# --- an actor whose membership vanished meanwhile (a concurrent removal) -----------


def test_role_change_by_an_actor_removed_meanwhile_is_404(team):
    actor = Membership.objects.get(organization=team.org, user=team.users["admin"])
    Membership.objects.filter(pk=actor.pk).delete()  # removed by someone else after the request began

    with pytest.raises(NotFound):
        services.membership_change_role(actor=actor, user_id=team.users["member"].id, role=Role.BILLING)
    assert role_of(team, team.users["member"]) == "member"


def test_removal_by_an_actor_removed_meanwhile_is_404(team):
    actor = Membership.objects.get(organization=team.org, user=team.users["admin"])
    Membership.objects.filter(pk=actor.pk).delete()

    with pytest.raises(NotFound):
        services.membership_remove(actor=actor, user_id=team.users["member"].id)
    assert role_of(team, team.users["member"]) == "member"
