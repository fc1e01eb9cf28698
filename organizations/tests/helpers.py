"""Assertions shared by the organizations tests."""

from __future__ import annotations

from billing_project.testing import assert_ok  # noqa: F401 - re-exported


def assert_error(response, status: int, code: str) -> dict:
    """The error envelope with `status` and `error.code`; returns `error`."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]
