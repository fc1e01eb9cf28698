"""POST /orgs/{id}/invite, GET /orgs/{id}/invitations, DELETE /orgs/{id}/invitations/{id},
POST /invitations/accept."""

import uuid
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.utils import timezone

from accounts.tests.factories import UserFactory
from billing_project.testing import assert_error, assert_ok
from organizations.models import Invitation, Membership, Role
from organizations.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

ACCEPT = "/api/v1/invitations/accept"


def pending(org):
    return Invitation.objects.filter(organization=org, accepted_at__isnull=True, revoked_at__isnull=True)


def membership_count() -> int:
    return Membership.objects.count()


@pytest.fixture
def invitee(db):
    return UserFactory(email="invitee@example.com")


@pytest.fixture
def invitee_client(invitee, make_auth_client):
    return make_auth_client(invitee)


# --- POST /orgs/{id}/invite --------------------------------------------------------


@pytest.mark.parametrize("actor", ["owner", "admin"])
def test_owner_and_admin_can_invite(team, invite, actor):
    response, _token = invite(team.clients[actor], team.org, "new@example.com", "billing")

    data = assert_ok(response, 201)
    assert data["email"] == "new@example.com"
    assert data["role"] == "billing"
    assert data["status"] == "pending"
    assert data["organization_id"] == str(team.org.id)
    invitation = pending(team.org).get()
    assert str(invitation.id) == data["id"]
    assert invitation.invited_by == team.users[actor]


@pytest.mark.parametrize("actor", ["billing", "member"])
def test_billing_and_member_cannot_invite(team, invite, actor):
    response, token = invite(team.clients[actor], team.org, "new@example.com")

    assert_error(response, 403, "permission_denied")
    assert not Invitation.objects.exists()
    assert token is None
    assert mail.outbox == []


def test_role_defaults_to_member(team, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = team.clients["owner"].post(team.url("/invite"), {"email": "new@example.com"}, format="json")
    assert assert_ok(response, 201)["role"] == "member"


def test_admin_cannot_invite_an_owner(team, invite):
    response, _token = invite(team.clients["admin"], team.org, "new@example.com", "owner")

    assert_error(response, 403, "permission_denied")
    assert not Invitation.objects.exists()
    assert mail.outbox == []


def test_owner_can_invite_an_owner(team, invite):
    response, _token = invite(team.clients["owner"], team.org, "new@example.com", "owner")
    assert assert_ok(response, 201)["role"] == "owner"
    assert pending(team.org).get().role == "owner"


@pytest.mark.parametrize("spelling", ["exact", "upper"])
def test_inviting_an_existing_member_is_409(team, invite, spelling):
    email = team.users["member"].email
    if spelling == "upper":
        email = email.upper()

    response, _token = invite(team.clients["owner"], team.org, email)

    assert_error(response, 409, "conflict")
    assert not Invitation.objects.exists()
    assert mail.outbox == []


@pytest.mark.parametrize("email", ["not-an-email", "", None, "a@b@example.com"])
def test_inviting_an_invalid_email_is_400_and_stores_nothing(team, invite, email):
    response, _token = invite(team.clients["owner"], team.org, email)

    error = assert_error(response, 400, "validation_error")
    assert "email" in error["details"]
    assert not Invitation.objects.exists()
    assert mail.outbox == []


@pytest.mark.parametrize("role", ["superuser", "", "Owner"])
def test_inviting_with_an_invalid_role_is_400_and_stores_nothing(team, invite, role):
    response, _token = invite(team.clients["owner"], team.org, "new@example.com", role)

    error = assert_error(response, 400, "validation_error")
    assert "role" in error["details"]
    assert not Invitation.objects.exists()
    assert mail.outbox == []


def test_invite_sends_one_email_with_the_token(team, invite):
    response, token = invite(team.clients["owner"], team.org, "new@example.com")

    assert_ok(response, 201)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["new@example.com"]
    assert "Acme Team" in message.subject
    assert token
    assert token in message.body


def test_the_plain_text_email_is_not_html_escaped(team, invite, settings):
    settings.INVITATION_URL = "https://app.example.com/join?source=email&token={token}"
    team.org.name = "Smith & Sons <Ltd>"
    team.org.save(update_fields=["name"])

    _response, token = invite(team.clients["owner"], team.org, "new@example.com")

    body = mail.outbox[0].body
    assert "Smith & Sons <Ltd>" in body
    assert f"https://app.example.com/join?source=email&token={token}" in body
    assert "&amp;" not in body


def test_invitation_token_is_neither_returned_nor_stored_in_clear(team, invite):
    response, token = invite(team.clients["owner"], team.org, "new@example.com")

    assert token not in response.content.decode()
    invitation = pending(team.org).get()
    assert invitation.token_hash != token
    assert not Invitation.objects.filter(token_hash=token).exists()


def test_invite_stores_the_email_lowercased(team, invite):
    response, _token = invite(team.clients["owner"], team.org, "New.Person@Example.COM")
    assert assert_ok(response, 201)["email"] == "new.person@example.com"
    assert pending(team.org).get().email == "new.person@example.com"


def test_invitation_expires_after_the_configured_days(team, invite):
    before = timezone.now()
    invite(team.clients["owner"], team.org, "new@example.com")
    expires_at = pending(team.org).get().expires_at
    ttl = timedelta(days=settings.INVITATION_TTL_DAYS)
    assert before + ttl <= expires_at <= timezone.now() + ttl


def test_reinviting_replaces_the_pending_invitation(team, invite, invitee, invitee_client):
    _response, old_token = invite(team.clients["owner"], team.org, invitee.email, "member")
    response, new_token = invite(team.clients["owner"], team.org, invitee.email, "billing")

    assert_ok(response, 201)
    assert old_token != new_token
    assert pending(team.org).count() == 1
    assert pending(team.org).get().role == "billing"
    assert_error(invitee_client.post(ACCEPT, {"token": old_token}, format="json"), 400, "validation_error")
    assert not Membership.objects.filter(organization=team.org, user=invitee).exists()
    assert assert_ok(invitee_client.post(ACCEPT, {"token": new_token}, format="json"))["role"] == "billing"


def test_invite_to_another_org_is_404_and_stores_nothing(team, invite, outsider_client):
    response, _token = invite(outsider_client, team.org, "new@example.com")

    assert_error(response, 404, "not_found")
    assert not Invitation.objects.exists()
    assert mail.outbox == []


def test_invite_to_an_unknown_org_is_404(auth_client):
    response = auth_client.post(f"/api/v1/orgs/{uuid.uuid4()}/invite", {"email": "new@example.com"}, format="json")
    assert_error(response, 404, "not_found")


def test_invite_requires_authentication(api_client, team):
    response = api_client.post(team.url("/invite"), {"email": "new@example.com"}, format="json")
    assert_error(response, 401, "not_authenticated")
    assert not Invitation.objects.exists()


def test_same_address_may_be_invited_to_two_orgs(team, invite, user, auth_client):
    other_org = user.memberships.get().organization
    invite(team.clients["owner"], team.org, "new@example.com")
    response, _token = invite(auth_client, other_org, "new@example.com")
    assert_ok(response, 201)
    assert Invitation.objects.filter(email="new@example.com").count() == 2


# --- GET /orgs/{id}/invitations ----------------------------------------------------


@pytest.mark.parametrize("actor", ["owner", "admin"])
def test_owner_and_admin_list_pending_invitations(team, invite, invitee_client, invitee, actor):
    invite(team.clients["owner"], team.org, "a@example.com")
    invite(team.clients["owner"], team.org, "b@example.com")
    _response, accepted_token = invite(team.clients["owner"], team.org, invitee.email)
    pending(team.org).filter(email="b@example.com").update(revoked_at=timezone.now())
    assert_ok(invitee_client.post(ACCEPT, {"token": accepted_token}, format="json"))

    response = team.clients[actor].get(team.url("/invitations"))

    data = assert_ok(response)
    assert [(i["email"], i["status"]) for i in data] == [("a@example.com", "pending")]
    assert response.json()["meta"] == {"total": 1, "limit": 20, "offset": 0}


@pytest.mark.parametrize("actor", ["billing", "member"])
def test_billing_and_member_cannot_list_invitations(team, invite, actor):
    invite(team.clients["owner"], team.org, "a@example.com")
    assert_error(team.clients[actor].get(team.url("/invitations")), 403, "permission_denied")


def test_invitations_of_another_org_is_404(team, invite, outsider_client):
    invite(team.clients["owner"], team.org, "a@example.com")
    assert_error(outsider_client.get(team.url("/invitations")), 404, "not_found")


# --- DELETE /orgs/{id}/invitations/{invitation_id} ---------------------------------


@pytest.mark.parametrize("actor", ["owner", "admin"])
def test_revoked_invitation_token_no_longer_works(team, invite, invitee, invitee_client, actor):
    _response, token = invite(team.clients["owner"], team.org, invitee.email)
    invitation = pending(team.org).get()

    data = assert_ok(team.clients[actor].delete(team.url(f"/invitations/{invitation.id}")))

    assert data["status"] == "revoked"
    assert not pending(team.org).exists()
    assert_error(invitee_client.post(ACCEPT, {"token": token}, format="json"), 400, "validation_error")
    assert not Membership.objects.filter(organization=team.org, user=invitee).exists()


@pytest.mark.parametrize("actor", ["billing", "member"])
def test_billing_and_member_cannot_revoke(team, invite, actor):
    invite(team.clients["owner"], team.org, "a@example.com")
    invitation = pending(team.org).get()

    assert_error(team.clients[actor].delete(team.url(f"/invitations/{invitation.id}")), 403, "permission_denied")

    assert pending(team.org).filter(pk=invitation.pk).exists()


def test_revoking_another_orgs_invitation_is_404_and_changes_nothing(team, invite, user, auth_client):
    invite(team.clients["owner"], team.org, "a@example.com")
    invitation = pending(team.org).get()
    own_org = user.memberships.get().organization

    response = auth_client.delete(f"/api/v1/orgs/{own_org.id}/invitations/{invitation.id}")

    assert_error(response, 404, "not_found")
    assert pending(team.org).filter(pk=invitation.pk).exists()


def test_revoking_through_another_org_url_is_404(team, invite, outsider_client):
    invite(team.clients["owner"], team.org, "a@example.com")
    invitation = pending(team.org).get()
    assert_error(outsider_client.delete(team.url(f"/invitations/{invitation.id}")), 404, "not_found")
    assert pending(team.org).filter(pk=invitation.pk).exists()


def test_revoking_an_unknown_invitation_is_404(team):
    assert_error(team.clients["owner"].delete(team.url(f"/invitations/{uuid.uuid4()}")), 404, "not_found")


def test_revoking_an_accepted_invitation_is_409(team, invite, invitee, invitee_client):
    _response, token = invite(team.clients["owner"], team.org, invitee.email)
    invitation = pending(team.org).get()
    assert_ok(invitee_client.post(ACCEPT, {"token": token}, format="json"))

    assert_error(team.clients["owner"].delete(team.url(f"/invitations/{invitation.id}")), 409, "conflict")

    invitation.refresh_from_db()
    assert invitation.revoked_at is None
    assert invitation.accepted_at is not None


# --- POST /invitations/accept ------------------------------------------------------


def test_invited_user_joins_with_the_invited_role(team, invite, invitee, invitee_client):
    _response, token = invite(team.clients["owner"], team.org, invitee.email, "admin")

    data = assert_ok(invitee_client.post(ACCEPT, {"token": token}, format="json"))

    assert data["role"] == "admin"
    assert data["organization"] == {"id": str(team.org.id), "name": team.org.name, "slug": team.org.slug}
    assert Membership.objects.get(organization=team.org, user=invitee).role == "admin"
    invitation = Invitation.objects.get(organization=team.org)
    assert invitation.accepted_by == invitee
    assert invitation.status == "accepted"


def test_accepted_member_appears_in_members(team, invite, invitee, invitee_client):
    _response, token = invite(team.clients["owner"], team.org, invitee.email, "billing")
    assert_ok(invitee_client.post(ACCEPT, {"token": token}, format="json"))

    members = assert_ok(team.clients["owner"].get(team.url("/members")))

    assert {"user_id": str(invitee.id), "email": invitee.email, "role": "billing"}.items() <= next(
        m for m in members if m["user_id"] == str(invitee.id)
    ).items()


def test_accepted_org_appears_in_the_invitees_orgs(team, invite, invitee, invitee_client):
    _response, token = invite(team.clients["owner"], team.org, invitee.email, "billing")
    assert_ok(invitee_client.post(ACCEPT, {"token": token}, format="json"))

    orgs = {org["id"]: org["role"] for org in assert_ok(invitee_client.get("/api/v1/orgs"))}

    assert orgs[str(team.org.id)] == "billing"
    assert assert_ok(invitee_client.get(team.url()))["role"] == "billing"


def test_invitation_to_a_differently_cased_address_can_be_accepted(team, invite, invitee, invitee_client):
    _response, token = invite(team.clients["owner"], team.org, "InVitee@EXAMPLE.com")
    assert_ok(invitee_client.post(ACCEPT, {"token": token}, format="json"))
    assert Membership.objects.filter(organization=team.org, user=invitee).exists()


def test_user_with_another_email_cannot_accept(team, invite, invitee, invitee_client, outsider, outsider_client):
    _response, token = invite(team.clients["owner"], team.org, invitee.email)
    count = membership_count()

    assert_error(outsider_client.post(ACCEPT, {"token": token}, format="json"), 403, "permission_denied")

    assert membership_count() == count
    assert not Membership.objects.filter(organization=team.org, user=outsider).exists()
    assert pending(team.org).get().status == "pending"
    # the invitation is intact for the person it was sent to
    assert_ok(invitee_client.post(ACCEPT, {"token": token}, format="json"))


def test_expired_invitation_is_400(team, invite, invitee, make_auth_client):
    _response, token = invite(team.clients["owner"], team.org, invitee.email)
    count = membership_count()

    later = timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS, minutes=1)
    with time_machine.travel(later, tick=False):
        response = make_auth_client(invitee).post(ACCEPT, {"token": token}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert "token" in error["details"]
    assert membership_count() == count
    assert Invitation.objects.get().accepted_at is None


def test_invitation_can_be_accepted_until_it_expires(team, invite, invitee, make_auth_client):
    _response, token = invite(team.clients["owner"], team.org, invitee.email)

    later = timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS, minutes=-1)
    with time_machine.travel(later, tick=False):
        response = make_auth_client(invitee).post(ACCEPT, {"token": token}, format="json")

    assert_ok(response)
    assert Membership.objects.filter(organization=team.org, user=invitee).exists()


def test_used_token_is_400(team, invite, invitee, invitee_client):
    _response, token = invite(team.clients["owner"], team.org, invitee.email, "admin")
    assert_ok(invitee_client.post(ACCEPT, {"token": token}, format="json"))
    Membership.objects.filter(organization=team.org, user=invitee).delete()  # left the org since

    assert_error(invitee_client.post(ACCEPT, {"token": token}, format="json"), 400, "validation_error")

    assert not Membership.objects.filter(organization=team.org, user=invitee).exists()


@pytest.mark.parametrize("token", ["garbage", "x" * 256])
def test_unknown_token_is_400(invitee_client, token):
    count = membership_count()
    error = assert_error(invitee_client.post(ACCEPT, {"token": token}, format="json"), 400, "validation_error")
    assert "token" in error["details"]
    assert membership_count() == count


@pytest.mark.parametrize("payload", [{}, {"token": ""}, {"token": None}, {"token": "x" * 257}])
def test_missing_or_malformed_token_is_400(invitee_client, payload):
    error = assert_error(invitee_client.post(ACCEPT, payload, format="json"), 400, "validation_error")
    assert "token" in error["details"]


def test_accept_requires_authentication(api_client, team, invite, invitee):
    _response, token = invite(team.clients["owner"], team.org, invitee.email)

    assert_error(api_client.post(ACCEPT, {"token": token}, format="json"), 401, "not_authenticated")

    assert pending(team.org).get().status == "pending"
    assert not Membership.objects.filter(organization=team.org, user=invitee).exists()


def test_accepting_when_already_a_member_is_409(team, invite, invitee, invitee_client):
    _response, token = invite(team.clients["owner"], team.org, invitee.email, "admin")
    MembershipFactory(organization=team.org, user=invitee, role=Role.MEMBER)  # joined another way meanwhile

    assert_error(invitee_client.post(ACCEPT, {"token": token}, format="json"), 409, "conflict")

    assert Membership.objects.get(organization=team.org, user=invitee).role == "member"
    assert pending(team.org).get().accepted_at is None
