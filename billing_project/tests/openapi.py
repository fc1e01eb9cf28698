"""Check a test client's response against the served OpenAPI schema, the way schemathesis
checks the served app in CI (.ci/fuzz): the status is documented for the operation, and the
body matches the schema documented for that status."""

from __future__ import annotations

import functools
import json

import requests
import schemathesis
from django.test import Client


@functools.cache
def served_schema() -> dict:
    """The schema as /api/schema/ serves it (generated once per test run)."""
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200, response.content[:500]
    return json.loads(response.content)


@functools.cache
def _schemathesis_schema():
    return schemathesis.openapi.from_dict(served_schema())


def assert_response_matches_schema(response, *, method: str, path: str) -> None:
    """`path` is the schema's path template, e.g. `/api/v1/orgs/{org_id}`."""
    operation = served_schema()["paths"][path][method.lower()]
    documented = sorted(operation["responses"])
    assert str(response.status_code) in documented, (
        f"{method.upper()} {path} answered {response.status_code}, documented: {documented}"
    )
    request = requests.Request(method.upper(), f"http://testserver{response.wsgi_request.get_full_path()}").prepare()
    checked = schemathesis.Response(
        status_code=response.status_code,
        headers={name.lower(): [value] for name, value in response.headers.items()},
        content=response.content,
        request=request,
        elapsed=0.0,
        verify=False,
    )
    _schemathesis_schema()[path][method.upper()].validate_response(checked)
