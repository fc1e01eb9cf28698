import pytest
from django.core import mail

from accounts.tests.helpers import FORGOT_URL, reset_token_from_last_email


@pytest.fixture
def request_reset_token(api_client, django_capture_on_commit_callbacks):
    """Ask for a reset email through the API and return the token it carries.

    The email task is queued on commit; inside a test transaction the callbacks are
    captured and run here, as they would run after the request's commit.
    """

    def request(email: str) -> str:
        sent_before = len(mail.outbox)
        with django_capture_on_commit_callbacks(execute=True):
            response = api_client.post(FORGOT_URL, {"email": email}, format="json")
        assert response.status_code == 200, response.content
        assert len(mail.outbox) == sent_before + 1
        return reset_token_from_last_email()

    return request
