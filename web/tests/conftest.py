"""Browsers of the customer site: Django test clients signed in with a session."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from web.context import SESSION_ORG


def site_client(user, organization=None) -> Client:
    """A browser signed in as `user` (a session), acting on `organization` when given
    (as the switcher would set it)."""
    client = Client()
    client.force_login(user)
    if organization is not None:
        session = client.session
        session[SESSION_ORG] = str(organization.pk)
        session.save()
    return client


def form_key_of(html: str) -> str:
    """The idempotency key of the first form on a page."""
    match = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', html)
    assert match, "no idempotency_key on the page"
    return match.group(1)


@pytest.fixture
def site(team):
    """`site(role)`: a browser of `team`'s member of that role, acting on the team."""
    return lambda role="owner": site_client(team.users[role], team.org)
