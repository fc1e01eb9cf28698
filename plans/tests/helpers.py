"""Assertions shared by the plans tests."""

from __future__ import annotations


def assert_ok(response, status: int = 200):
    """The success envelope with `status`; returns its `data`."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is True
    return body["data"]


def assert_error(response, status: int, code: str) -> dict:
    """The error envelope with `status` and `error.code`; returns `error`."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]
