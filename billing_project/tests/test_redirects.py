"""Redirect and return URLs are judged as a browser parses them (WHATWG URL rules): only
http(s) to an ALLOWED_REDIRECT_HOSTS host passes; anything ambiguous is refused."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from billing_project.redirects import UnsafeRedirect, redirect_host_sources, redirect_url_validate, safe_redirect_url

HOSTILE = [
    "http://evil.example\\@127.0.0.1/",  # urllib: 127.0.0.1; browsers: evil.example
    "http://127.0.0.1@evil.example/",
    "http://user:pw@127.0.0.1/",
    "http://user@localhost/",
    "http:\\\\evil.example",
    "http:\\\\evil.example\\@127.0.0.1/",
    "https:/\\evil.example/",
    "ht\ttp://evil.example",
    "http://127.0.0.1\t.evil.example/",
    "http://local\nhost.evil.example/",
    "http://evil.example%2f@127.0.0.1",
    "http://evil.example%40127.0.0.1/",
    "http://%6cocalhost/",  # browsers decode it to localhost; other parsers don't
    "http://2130706433/",  # browsers: 127.0.0.1
    "http://0x7f.0.0.1/",
    "http://127.1/",
    "javascript:",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)//http://127.0.0.1/",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "ftp://127.0.0.1/",
    "//evil.example",
    "//127.0.0.1/",
    "/relative/path",
    "http:evil.example",
    "http:/127.0.0.1/",
    "http://127.0.0.1.evil.example/",
    "http://evil.example/127.0.0.1",
    "http://localhost.evil.example/",
    "http://evillocalhost/",
    "http://localhost./",
    " http://127.0.0.1/",
    "\x00http://127.0.0.1/",
    "\x1fhttp://127.0.0.1/",
    "http://127.0.0.1/ ",
    "http://127.0.0.1/\x7f",
    "http://127.0.0.1:99999/",
    "http:///",
    "http://",
    "",
    "http://[::1]/",  # not in the default allow-list
    "http://" + "a" * 1990 + ".localhost/",
]

GOOD = [
    "http://127.0.0.1:8000/ok?x=1",
    "https://localhost/",
    "https://localhost",
    "http://LOCALHOST:3000/billing/success",
    "HTTPS://LocalHost/settings/billing#plan",
    "http://127.0.0.1/@not-a-host",
    "http://localhost:3000/return?next=http://evil.example",
]


@pytest.mark.parametrize("url", HOSTILE)
def test_hostile_redirect_urls_are_refused(url):
    with pytest.raises(UnsafeRedirect):
        redirect_url_validate(url)
    assert safe_redirect_url(url) == ""


@pytest.mark.parametrize("url", GOOD)
def test_urls_on_an_allowed_host_pass_unchanged(url):
    assert redirect_url_validate(url) == url
    assert safe_redirect_url(url) == url


def test_non_strings_are_refused():
    assert safe_redirect_url(None) == ""
    with pytest.raises(UnsafeRedirect):
        redirect_url_validate(["http://localhost/"])


def test_an_allowed_host_with_a_port_allows_only_that_port(settings):
    settings.ALLOWED_REDIRECT_HOSTS = ["app.example.com:8443", "shop.example.com"]

    assert redirect_url_validate("https://app.example.com:8443/done")
    assert redirect_url_validate("https://shop.example.com:9000/done")
    with pytest.raises(UnsafeRedirect):
        redirect_url_validate("https://app.example.com/done")
    with pytest.raises(UnsafeRedirect):
        redirect_url_validate("https://app.example.com:8444/done")


def test_an_allowed_default_port_matches_the_url_without_one(settings):
    settings.ALLOWED_REDIRECT_HOSTS = ["app.example.com:443"]

    assert redirect_url_validate("https://app.example.com/done")
    with pytest.raises(UnsafeRedirect):
        redirect_url_validate("http://app.example.com/done")  # port 80


def test_internationalised_hosts_compare_in_their_idna_form(settings):
    settings.ALLOWED_REDIRECT_HOSTS = ["bücher.example"]

    assert redirect_url_validate("https://xn--bcher-kva.example/")
    assert redirect_url_validate("https://BÜCHER.example/")
    with pytest.raises(UnsafeRedirect):
        redirect_url_validate("https://bucher.example/")


def test_an_ipv6_literal_can_be_allowed(settings):
    settings.ALLOWED_REDIRECT_HOSTS = ["[::1]"]

    assert redirect_url_validate("http://[::1]:8000/ok")
    with pytest.raises(UnsafeRedirect):
        redirect_url_validate("http://[::2]/")


@pytest.mark.parametrize("entry", ["user@host", "host/path", "http://host", "ho st"])
def test_a_malformed_allowed_host_is_a_configuration_error(settings, entry):
    settings.ALLOWED_REDIRECT_HOSTS = [entry]

    with pytest.raises(ImproperlyConfigured):
        redirect_url_validate("http://host/")


def test_allowed_hosts_become_csp_sources_for_both_schemes_and_their_ports(settings):
    settings.ALLOWED_REDIRECT_HOSTS = ["localhost", "app.example.com:8443", "[::1]"]

    assert redirect_host_sources() == [
        "http://app.example.com:8443",
        "https://app.example.com:8443",
        "http://localhost:*",
        "https://localhost:*",
    ]
