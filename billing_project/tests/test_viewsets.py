"""billing_project.api.viewsets: OPTIONS on a viewset answers like a plain APIView."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/v1/invitations/accept", "/api/v1/subscriptions/upgrade", "/api/v1/api-keys"])
def test_options_names_the_view_and_lists_no_serializer_fields(team, path):
    response = team.owner.options(path)

    assert response.status_code == 200, response.content
    assert set(response.json()["data"]) == {"name", "description", "renders", "parses"}
