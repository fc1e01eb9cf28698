"""Two owners racing each other: the organization always keeps an owner (PostgreSQL)."""

import pytest

from accounts.tests.factories import UserFactory
from billing_project.testing import run_concurrently
from billing_project.tests.world import people_client
from organizations.models import Membership, Role
from organizations.tests.factories import MembershipFactory, OrganizationFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROUNDS = 5


def race(*requests):
    """Run each `request()` in its own thread, released together; returns the responses."""
    return run_concurrently(list(requests))


def two_owners():
    org = OrganizationFactory()
    first, second = UserFactory(), UserFactory()
    for owner in (first, second):
        MembershipFactory(organization=org, user=owner, role=Role.OWNER)
    return org, first, second


def owners_of(org) -> list:
    return list(Membership.objects.filter(organization=org, role=Role.OWNER).values_list("user_id", flat=True))


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_owners_demoting_each_other_leaves_one_owner(round_):
    org, first, second = two_owners()
    first_client, second_client = people_client(first), people_client(second)

    responses = race(
        lambda: first_client.patch(f"/api/v1/orgs/{org.id}/members/{second.id}", {"role": "member"}, format="json"),
        lambda: second_client.patch(f"/api/v1/orgs/{org.id}/members/{first.id}", {"role": "member"}, format="json"),
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses[0] == 200
    assert statuses[1] in {403, 409}
    loser = next(r for r in responses if r.status_code != 200)
    assert loser.json()["success"] is False
    owners = owners_of(org)
    assert len(owners) == 1
    assert Membership.objects.filter(organization=org).count() == 2


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_owners_leaving_together_leaves_one_owner(round_):
    org, first, second = two_owners()
    first_client, second_client = people_client(first), people_client(second)

    responses = race(
        lambda: first_client.delete(f"/api/v1/orgs/{org.id}/members/{first.id}"),
        lambda: second_client.delete(f"/api/v1/orgs/{org.id}/members/{second.id}"),
    )

    assert sorted(r.status_code for r in responses) == [200, 409]
    loser = next(r for r in responses if r.status_code != 200)
    assert loser.json()["error"]["code"] == "conflict"
    assert len(owners_of(org)) == 1
    assert Membership.objects.filter(organization=org).count() == 1


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_owner_removed_while_demoting_the_other_leaves_one_owner(round_):
    org, first, second = two_owners()
    first_client, second_client = people_client(first), people_client(second)

    responses = race(
        lambda: first_client.delete(f"/api/v1/orgs/{org.id}/members/{second.id}"),
        lambda: second_client.patch(f"/api/v1/orgs/{org.id}/members/{first.id}", {"role": "member"}, format="json"),
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses[0] == 200
    assert statuses[1] in {403, 404}  # never a 500
    assert len(owners_of(org)) == 1
