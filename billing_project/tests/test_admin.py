import pytest

from accounts.tests.factories import UserFactory
from organizations.models import Organization

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/accounts/user/",
        "/admin/accounts/user/add/",
        "/admin/organizations/organization/",
        "/admin/organizations/invitation/",
    ],
)
def test_admin_pages_open_for_staff(staff_client, url):
    assert staff_client.get(url).status_code == 200


def test_user_search_finds_by_email(staff_client):
    target = UserFactory(name="Findable Person")
    response = staff_client.get("/admin/accounts/user/", {"q": target.email})
    assert target.email in response.content.decode()


def test_organization_page_shows_memberships_inline(staff_client):
    owner = UserFactory(name="Inline Owner")
    organization = Organization.objects.get(memberships__user=owner)
    response = staff_client.get(f"/admin/organizations/organization/{organization.pk}/change/")
    assert response.status_code == 200
    assert owner.email in response.content.decode()


def test_organization_search_by_member_email(staff_client):
    owner = UserFactory()
    organization = Organization.objects.get(memberships__user=owner)
    response = staff_client.get("/admin/organizations/organization/", {"q": owner.email})
    assert organization.slug in response.content.decode()


def test_admin_refuses_non_staff(client):
    client.force_login(UserFactory())
    response = client.get("/admin/accounts/user/")
    assert response.status_code == 302
