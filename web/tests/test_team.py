"""/account/team: members (every member sees them), roles, removal and invitations (owners
and admins, with organizations.services' rules), leaving, and creating a team
organization from a personal one."""

from __future__ import annotations

import re
import uuid
from html import escape

import pytest
from django.core import mail

from accounts.tests.factories import UserFactory
from organizations.models import Invitation, Membership, Organization, Role
from organizations.tests.factories import InvitationFactory
from web.context import SESSION_ORG

from .conftest import form_key_of, site_client

pytestmark = pytest.mark.django_db

TEAM = "/account/team"
INVITE = f"{TEAM}/invite"
CREATE_ORG = f"{TEAM}/organizations"


def key_of_form(html: str, action: str) -> str:
    """The idempotency key of the form that posts to `action`."""
    match = re.search(
        rf'<form method="post" action="{re.escape(action)}"[^>]*>.*?name="idempotency_key" value="([0-9a-f]+)"',
        html,
        re.S,
    )
    assert match, f"no form to {action} on the page"
    return match.group(1)


def post_form(client, action: str, data: dict | None = None, *, page: str = TEAM):
    """Submit the form to `action` as `page` renders it now."""
    key = key_of_form(client.get(page).content.decode(), action)
    return client.post(action, {**(data or {}), "idempotency_key": key})


def role_of(team, role: str) -> str:
    return Membership.objects.get(organization=team.org, user=team.users[role]).role


def roles(team) -> dict:
    return dict(Membership.objects.filter(organization=team.org).values_list("user__email", "role"))


@pytest.mark.parametrize("role", ["owner", "admin", "billing", "member"])
def test_every_member_sees_the_members(site, team, role):
    response = site(role).get(TEAM)
    assert response.status_code == 200
    html = response.content.decode()
    for user in team.users.values():
        assert user.email in html
        assert f'<th scope="row">{escape(user.name)}' in html
    assert "Members of Acme Team" in html
    assert html.count("<time datetime=") >= 4  # the joined dates


@pytest.mark.parametrize("role", ["billing", "member"])
def test_a_member_sees_no_forms_and_their_posts_are_refused(site, team, role):
    invitation = InvitationFactory(organization=team.org, email="pending@example.com")
    client = site(role)
    html = client.get(TEAM).content.decode()
    assert "Invite someone" not in html
    assert INVITE not in html
    assert "/role" not in html and "/remove" not in html
    assert "pending@example.com" not in html  # invitations are the managers' (as the API)
    assert "Owners and admins change roles, remove members and invite people." in html
    before = roles(team)
    target = team.users["member" if role == "billing" else "billing"]
    posts = [
        (INVITE, {"email": "x@example.com", "role": "member"}),
        (f"{TEAM}/members/{target.pk}/role", {"role": "owner"}),
        (f"{TEAM}/members/{target.pk}/remove", {}),
        (f"{TEAM}/invitations/{invitation.pk}/revoke", {}),
    ]
    for path, data in posts:
        response = client.post(path, {**data, "idempotency_key": uuid.uuid4().hex})
        assert response.status_code == 403, path
        assert f"Your role ({role})" in response.content.decode()
    assert client.get(f"{TEAM}/members/{target.pk}/remove").status_code == 403
    assert roles(team) == before
    assert not Invitation.objects.filter(email="x@example.com").exists()
    assert Invitation.objects.get(pk=invitation.pk).status == "pending"
    assert mail.outbox == []


def test_signed_out_goes_to_login_and_posts_write_nothing(client, team):
    response = client.get(TEAM)
    assert response.status_code == 302
    assert response["Location"] == "/login?next=/account/team"
    response = client.post(INVITE, {"email": "x@example.com", "role": "member", "idempotency_key": "a1"})
    assert response.status_code == 302
    assert response["Location"].startswith("/login?next=")
    assert not Invitation.objects.exists()


def test_owner_invites_and_the_invitation_is_emailed_and_listed(site, team, django_capture_on_commit_callbacks):
    client = site("owner")
    with django_capture_on_commit_callbacks(execute=True):
        response = post_form(client, INVITE, {"email": "New.Person@Example.com", "role": "billing"})
    assert response.status_code == 302
    assert response["Location"] == TEAM
    invitation = Invitation.objects.get(organization=team.org)
    assert (invitation.email, invitation.role, invitation.invited_by) == (
        "new.person@example.com",
        "billing",
        team.users["owner"],
    )
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["new.person@example.com"]
    assert "/invitations/accept?token=" in mail.outbox[0].body
    html = client.get(TEAM).content.decode()
    assert "Invitation emailed to new.person@example.com as billing." in html
    assert '<th scope="row">new.person@example.com</th>' in html


def test_a_double_submitted_invitation_sends_one_email(site, team, django_capture_on_commit_callbacks):
    client = site("admin")
    key = key_of_form(client.get(TEAM).content.decode(), INVITE)
    data = {"email": "once@example.com", "role": "member", "idempotency_key": key}
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(INVITE, data).status_code == 302
        assert client.post(INVITE, data).status_code == 302
    assert Invitation.objects.filter(organization=team.org).count() == 1
    assert len(mail.outbox) == 1


@pytest.mark.parametrize(
    ("role", "data", "status", "message"),
    [
        ("owner", {"email": "not-an-email", "role": "member"}, 400, "Enter a valid email address."),
        ("owner", {"email": "x@example.com", "role": "boss"}, 400, "Select a valid choice."),
        ("admin", {"email": "x@example.com", "role": "owner"}, 403, "Only an owner can invite another owner."),
    ],
)
def test_an_invitation_refused_shows_why_and_writes_nothing(site, team, role, data, status, message):
    response = post_form(site(role), INVITE, data)
    assert response.status_code == status
    assert message in response.content.decode()
    assert not Invitation.objects.exists()
    assert mail.outbox == []


def test_inviting_a_member_is_a_conflict(site, team):
    response = post_form(site("owner"), INVITE, {"email": team.users["member"].email, "role": "admin"})
    assert response.status_code == 409
    assert "That person is already a member of this organization." in response.content.decode()
    assert not Invitation.objects.exists()


def test_an_admin_is_not_offered_the_owner_role(site, team):
    html = site("admin").get(TEAM).content.decode()
    invite = html[html.index(f'action="{INVITE}"') :]
    assert '<option value="owner"' not in invite.split("</form>")[0]
    owner = team.users["owner"]
    assert f"{TEAM}/members/{owner.pk}/role" not in html  # an admin cannot change an owner
    assert f"{TEAM}/members/{owner.pk}/remove" not in html


def test_revoke_an_invitation(site, team):
    invitation = InvitationFactory(organization=team.org, email="later@example.com")
    client = site("owner")
    action = f"{TEAM}/invitations/{invitation.pk}/revoke"
    response = post_form(client, action)
    assert response.status_code == 302
    assert Invitation.objects.get(pk=invitation.pk).status == "revoked"
    html = client.get(TEAM).content.decode()
    assert "The invitation to later@example.com is revoked" in html
    assert "No pending invitations." in html


def test_another_organizations_invitation_is_not_found(site, other_team):
    theirs = InvitationFactory(organization=other_team.org)
    client = site("owner")
    for invitation_id in (theirs.pk, uuid.uuid4()):
        data = {"idempotency_key": uuid.uuid4().hex}
        assert client.post(f"{TEAM}/invitations/{invitation_id}/revoke", data).status_code == 404
    assert Invitation.objects.get(pk=theirs.pk).status == "pending"


def test_owner_changes_a_role(site, team):
    member = team.users["member"]
    client = site("owner")
    response = post_form(client, f"{TEAM}/members/{member.pk}/role", {"role": "billing"})
    assert response.status_code == 302
    assert role_of(team, "member") == "billing"
    assert escape(f"{member.name} is now billing.") in client.get(TEAM).content.decode()


def test_an_admin_cannot_touch_the_owner_role(site, team):
    client = site("admin")
    before = roles(team)
    member = team.users["member"]
    owner = team.users["owner"]
    # The page offers neither; sent anyway, the service refuses with its message.
    data = {"role": "owner", "idempotency_key": uuid.uuid4().hex}
    response = client.post(f"{TEAM}/members/{member.pk}/role", data)
    assert response.status_code == 403
    assert "Only an owner can grant or remove the owner role." in response.content.decode()
    data = {"role": "member", "idempotency_key": uuid.uuid4().hex}
    assert client.post(f"{TEAM}/members/{owner.pk}/role", data).status_code == 403
    assert roles(team) == before


def test_the_last_owner_cannot_be_demoted(site, team):
    owner = team.users["owner"]
    response = post_form(site("owner"), f"{TEAM}/members/{owner.pk}/role", {"role": "admin"})
    assert response.status_code == 409
    assert "The last owner cannot be demoted." in response.content.decode()
    assert role_of(team, "owner") == "owner"


def test_an_unknown_role_is_refused(site, team):
    member = team.users["member"]
    data = {"role": "superuser", "idempotency_key": uuid.uuid4().hex}
    response = site("owner").post(f"{TEAM}/members/{member.pk}/role", data)
    assert response.status_code == 400
    assert role_of(team, "member") == "member"


def test_remove_asks_first_then_removes_once(site, team):
    member = team.users["member"]
    client = site("admin")
    action = f"{TEAM}/members/{member.pk}/remove"
    page = client.get(action)
    assert page.status_code == 200
    html = page.content.decode()
    assert escape(f"Remove {member.name} from Acme Team?") in html
    assert Membership.objects.filter(organization=team.org, user=member).exists()  # looking changes nothing
    data = {"idempotency_key": form_key_of(html)}
    assert client.post(action, data).status_code == 302
    assert client.post(action, data).status_code == 302  # the double click gets the first answer
    assert not Membership.objects.filter(organization=team.org, user=member).exists()
    assert escape(f"{member.name} is no longer a member.") in client.get(TEAM).content.decode()


def test_an_admin_cannot_remove_an_owner(site, team):
    owner = team.users["owner"]
    data = {"idempotency_key": uuid.uuid4().hex}
    response = site("admin").post(f"{TEAM}/members/{owner.pk}/remove", data)
    assert response.status_code == 403
    assert "Only an owner can remove an owner." in response.content.decode()
    assert role_of(team, "owner") == "owner"


def test_another_organizations_member_is_not_found(site, team, other_team):
    stranger = other_team.users["member"]
    client = site("owner")
    assert client.get(f"{TEAM}/members/{stranger.pk}/remove").status_code == 404
    for path, data in (
        (f"{TEAM}/members/{stranger.pk}/remove", {}),
        (f"{TEAM}/members/{stranger.pk}/role", {"role": "admin"}),
    ):
        assert client.post(path, {**data, "idempotency_key": uuid.uuid4().hex}).status_code == 404
    assert Membership.objects.get(organization=other_team.org, user=stranger).role == "member"


def test_a_member_leaves(site, team):
    member = team.users["member"]
    client = site("member")
    page = client.get(f"{TEAM}/leave")
    assert page.status_code == 200
    assert "Leave Acme Team?" in page.content.decode()
    response = client.post(f"{TEAM}/leave", {"idempotency_key": form_key_of(page.content.decode())})
    assert response.status_code == 302
    assert response["Location"] == "/account/"
    assert not Membership.objects.filter(organization=team.org, user=member).exists()
    assert SESSION_ORG not in client.session
    home = client.get("/account/").content.decode()
    assert "You left Acme Team." in home


def test_the_last_owner_cannot_leave(site, team):
    client = site("owner")
    page = client.get(f"{TEAM}/leave").content.decode()
    response = client.post(f"{TEAM}/leave", {"idempotency_key": form_key_of(page)})
    assert response.status_code == 409
    assert "The last owner cannot leave." in response.content.decode()
    assert role_of(team, "owner") == "owner"


def test_a_personal_organization_explains_and_offers_a_team_organization():
    user = UserFactory(name="Solo Person")
    client = site_client(user)
    html = client.get(TEAM).content.decode()
    assert "This is your personal organization" in html
    assert "Create a team organization" in html
    # As POST /orgs/{id}/invite: a personal organization may invite people too.
    invited = post_form(client, INVITE, {"email": "friend@example.com", "role": "member"})
    assert invited.status_code == 302
    assert Invitation.objects.filter(email="friend@example.com").count() == 1

    response = post_form(client, CREATE_ORG, {"name": "Solo Works"})
    assert response.status_code == 302
    assert response["Location"] == TEAM
    organization = Organization.objects.get(name="Solo Works")
    assert organization.is_personal is False
    assert Membership.objects.get(organization=organization, user=user).role == Role.OWNER
    assert client.session[SESSION_ORG] == str(organization.pk)
    html = client.get(TEAM).content.decode()
    assert "Members of Solo Works" in html
    assert "Solo Works is created and you are its owner." in html
    assert f'action="{INVITE}"' in html


def test_creating_an_organization_needs_a_name():
    user = UserFactory()
    client = site_client(user)
    before = Organization.objects.count()
    response = post_form(client, CREATE_ORG, {"name": ""})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert Organization.objects.count() == before


def test_invite_from_the_page_then_accept_from_the_emailed_link(site, team, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post_form(site("owner"), INVITE, {"email": "teammate@example.com", "role": "billing"})
    link = re.search(r"https?://\S+/invitations/accept\?token=\S+", mail.outbox[-1].body).group(0)
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    invitee = UserFactory(email="teammate@example.com")
    browser = site_client(invitee)
    page = browser.get(path)
    assert page.status_code == 200
    assert "Join Acme Team" in page.content.decode()
    token = path.split("token=", 1)[1]
    joined = browser.post("/invitations/accept", {"token": token})
    assert joined.status_code == 302
    assert joined["Location"] == "/account/"
    assert Membership.objects.get(organization=team.org, user=invitee).role == Role.BILLING
    html = browser.get(TEAM).content.decode()
    assert "Members of Acme Team" in html
    assert "teammate@example.com" in html
    assert "No pending invitations." in site("owner").get(TEAM).content.decode()
