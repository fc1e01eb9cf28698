"""The HTTP boundary of the gateways that speak plain JSON over HTTPS (Xendit, Midtrans).

One `requests` session per process (connection reuse), HTTP Basic auth with the secret
key as the user name, a bounded timeout. Network failures, timeouts and 5xx answers are
GatewayError (502 for the client), and so is a rejected key (401, logged as an error:
the server is misconfigured); other 4xx answers are returned for the gateway to read, as
their bodies say what went wrong.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import requests
from django.conf import settings

from .base import GatewayError

logger = logging.getLogger(__name__)

_session: requests.Session | None = None


def _http() -> requests.Session:
    global _session
    if _session is None:
        _session = requests.Session()
    return _session


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def call(
    label: str,
    method: str,
    url: str,
    *,
    secret_key: str,
    payload: dict | None = None,
    headers: dict | None = None,
) -> Answer:
    try:
        response = _http().request(
            method,
            url,
            json=payload,
            auth=(secret_key, ""),
            headers={"Accept": "application/json", **(headers or {})},
            timeout=settings.GATEWAY_TIMEOUT_SECONDS,
        )
    except requests.RequestException as exc:
        logger.warning("%s %s %s failed: %s", label, method, url, exc)
        raise GatewayError(f"{label} could not be reached: {exc.__class__.__name__}.") from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {"data": body}
    if response.status_code == 401:  # a configuration problem, not an outage (403 can be a refusal)
        logger.error("%s rejected this server's API key on %s %s: %s", label, method, url, body)
        raise GatewayError(f"{label} rejected this server's API key; the payment gateway is misconfigured.")
    if response.status_code >= 500:
        logger.warning("%s %s %s answered %s: %s", label, method, url, response.status_code, body)
        raise GatewayError(f"{label} answered {response.status_code}. Try again later.")
    return Answer(status=response.status_code, body=body)
