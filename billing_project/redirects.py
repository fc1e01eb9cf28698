"""Where this service may send a browser: return, success and cancel URLs.

A URL is judged the way a browser will read it (the WHATWG URL Standard, through ada-url,
the parser Node.js uses), not the way urllib reads it: urllib takes
`http://evil.example\\@127.0.0.1/` for a URL on 127.0.0.1, a browser goes to evil.example.
Anything a browser would quietly repair (control characters, spaces, backslashes) or that
hides the real host (user info, percent-encoded or numeric hosts) is refused rather than
normalised, and urllib must agree with the browser on scheme, host and port, so every other
reader of the stored URL (Django's redirects, a gateway) lands on the same host.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import urlsplit

from ada_url import URL
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

MAX_LENGTH = 2000
DEFAULT_PORTS = {"http": 80, "https": 443}
# C0 controls, space, DEL and backslash: browsers strip or rewrite these, other parsers don't.
_AMBIGUOUS = re.compile(r"[\x00-\x20\x7f\\]")


class UnsafeRedirect(ValueError):
    """The URL is not one this service may send a browser to; the message says why."""


@lru_cache(maxsize=8)
def _allowed(entries: tuple[str, ...]) -> frozenset[tuple[str, int | None]]:
    """ALLOWED_REDIRECT_HOSTS as (host, port) pairs; port None means any port."""
    allowed = set()
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        try:
            parsed = URL(f"http://{entry}/")
        except ValueError:
            raise ImproperlyConfigured(f"ALLOWED_REDIRECT_HOSTS has an invalid host: {entry!r}") from None
        if parsed.username or parsed.password or parsed.pathname != "/" or parsed.search or parsed.hash:
            raise ImproperlyConfigured(f"ALLOWED_REDIRECT_HOSTS takes host or host:port, not {entry!r}")
        has_port = entry.rsplit("]", 1)[-1].count(":") == 1
        port = int(parsed.port) if parsed.port else (80 if has_port else None)
        allowed.add((parsed.hostname, port))
    return frozenset(allowed)


def allowed_redirect_hosts() -> frozenset[tuple[str, int | None]]:
    return _allowed(tuple(settings.ALLOWED_REDIRECT_HOSTS))


def _browser_host(host: str) -> str:
    """urllib's reading of a host as a browser would write it: the same for a plain ASCII
    name or address, the IDNA (punycode) form for an internationalised name, '' when a
    browser would read it as something else."""
    if ":" in host:
        host = f"[{host}]"
    try:
        parsed = URL(f"http://{host}/").hostname
    except ValueError:
        return ""
    if host.isascii() and parsed != host:
        return ""
    return parsed


def redirect_url_validate(url: str) -> str:
    """`url` unchanged when a browser would go to an allowed redirect host over http(s);
    UnsafeRedirect otherwise."""
    if not isinstance(url, str) or not url:
        raise UnsafeRedirect("Must be an absolute http(s) URL.")
    if len(url) > MAX_LENGTH:
        raise UnsafeRedirect(f"Must be at most {MAX_LENGTH} characters.")
    if _AMBIGUOUS.search(url):
        raise UnsafeRedirect("Must not contain spaces, control characters or backslashes.")
    try:
        browser = URL(url)
        other = urlsplit(url)
        other_port = other.port
    except ValueError:
        raise UnsafeRedirect("Must be an absolute http(s) URL.") from None
    scheme = browser.protocol.rstrip(":")
    if scheme not in DEFAULT_PORTS or other.scheme.lower() != scheme or not url[len(scheme) :].startswith("://"):
        raise UnsafeRedirect("Must be an absolute http(s) URL.")
    if browser.username or browser.password or "@" in other.netloc:
        raise UnsafeRedirect("Must not contain a user name or password.")
    host = browser.hostname
    if not host or not other.hostname:
        raise UnsafeRedirect("Must name a host.")
    if "%" in other.netloc:
        raise UnsafeRedirect("Must not percent-encode the host.")
    if _browser_host(other.hostname.lower()) != host:
        # e.g. a numeric or shortened IPv4 address, which browsers rewrite.
        raise UnsafeRedirect("Host is ambiguous.")
    port = int(browser.port) if browser.port else DEFAULT_PORTS[scheme]
    if (other_port or DEFAULT_PORTS[scheme]) != port:
        raise UnsafeRedirect("Port is ambiguous.")
    allowed = allowed_redirect_hosts()
    if (host, None) not in allowed and (host, port) not in allowed:
        raise UnsafeRedirect(f"Host '{host}' is not an allowed redirect host.")
    return url


def safe_redirect_url(url: str | None) -> str:
    """`url` when it may be linked to or redirected to, else ''. For pages, which drop a
    bad link rather than render it."""
    try:
        return redirect_url_validate(url or "")
    except UnsafeRedirect:
        return ""


def redirect_host_sources() -> list[str]:
    """ALLOWED_REDIRECT_HOSTS as CSP source expressions (form-action: a form's redirect
    to a success or return URL must not be blocked)."""
    sources = []
    for host, port in sorted(allowed_redirect_hosts(), key=lambda pair: (pair[0], pair[1] or 0)):
        if host.startswith("["):
            continue  # CSP host-sources cannot name IPv6 literals
        for scheme in ("http", "https"):
            sources.append(f"{scheme}://{host}:{port if port is not None else '*'}")
    return sources
