"""The customer site in a real browser: the harness of web/tests/test_*_browser.py.

Debian's Chromium (headless, its network confined as in billing/tests/test_e2e_browser.py)
drives the live server through the real pages. Every page a journey reaches passes the
same checks, whatever the test asserts beside them:

- no request goes to a host other than the live server (each one is recorded; any other is
  aborted and fails the test): "no page loads anything from another host";
- no Content-Security-Policy violation, no console error, no uncaught script error;
- axe-core (the copy bundled in axe-playwright-python: nothing is downloaded) finds no
  violation of impact "serious" or "critical";
- at the phone width (375 px) the page does not scroll sideways;
- a screenshot per step, named `<journey>-<nn>-<step>.png`, in $SCREENSHOTS_DIR
  (`make screenshots` sets docs/screenshots) or else in the system's temp directory.

Playwright's sync API runs an event loop in the test's thread while a browser is open, and
Django refuses ORM calls there (SynchronousOnlyOperation): set up before `chromium(...)`
and check the database after it; in between, act through the pages (or `page.request`,
which shares the browser's cookies) and read emails from `django.core.mail.outbox`.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core import mail
from PIL import Image
from playwright.sync_api import Page, Response, sync_playwright

from accounts.tests.factories import PASSWORD  # every factory-made user's; tests sign up with it too
from billing.tests.test_e2e_browser import CHROMIUM, CHROMIUM_ARGS
from billing.tests.test_pages_browser import RECORD_VIOLATIONS

__all__ = [
    "BROWSER_MARKS",
    "DESKTOP",
    "PASSWORD",
    "PHONE",
    "Chromium",
    "SitePage",
    "chromium",
    "link_in_email",
    "serve_site",
]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}
# axe-core's impacts are minor, moderate, serious and critical: the last two fail a page.
FAILING_IMPACTS = frozenset({"serious", "critical"})
TIMEOUT_MS = 15_000

BROWSER_MARKS = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"needs Chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it as root)",
    ),
]

# Chromium logs this for every response of status >= 400, including a page a test expects
# to be refused (403) or missing (404).
FAILED_STATUS = re.compile(r"^Failed to load resource: the server responded with a status of (\d{3})")

_axe = Axe()

# The outermost elements that reach past `width`, with their nearest ancestors.
WIDEST = """(width) => {
  const name = (el) => {
    const classes = typeof el.className === "string" ? el.className.trim().split(/\\s+/).filter(Boolean) : [];
    return el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + classes.map((c) => "." + c).join("");
  };
  const past = (el) => el.getBoundingClientRect().right > width + 1;
  const outermost = (el) => past(el) && !(el.parentElement !== document.body && past(el.parentElement));
  return Array.from(document.querySelectorAll("body *")).filter(outermost).slice(0, 5).map((el) => {
    const path = [];
    for (let up = el.parentElement; up && up !== document.body && path.length < 4; up = up.parentElement) {
      path.unshift(name(up));
    }
    return path.concat(name(el)).join(" > ") + " (" + Math.round(el.getBoundingClientRect().width) + " px wide)";
  }).join("; ");
}"""


def serve_site(live_server, settings) -> str:
    """The live server is the site: emailed links, hosted checkout pages and their
    redirects point at it. Returns its origin (http://localhost:<port>)."""
    settings.SITE_URL = live_server.url
    settings.PASSWORD_RESET_URL = live_server.url + "/reset-password?token={token}"
    settings.INVITATION_URL = live_server.url + "/invitations/accept?token={token}"
    host = urlsplit(live_server.url).hostname
    if host not in settings.ALLOWED_REDIRECT_HOSTS:
        settings.ALLOWED_REDIRECT_HOSTS = [*settings.ALLOWED_REDIRECT_HOSTS, host]
    return live_server.url


def link_in_email(message, path: str) -> str:
    """The first link to `path` (e.g. "/reset-password") in an email's plain-text body."""
    match = re.search(rf"https?://[^\s\"'<>]+{re.escape(path)}[^\s\"'<>]*", message.body)
    assert match, f"no link to {path} in the email {message.subject!r}:\n{message.body}"
    return match.group(0)


def last_email_to(address: str):
    """The latest email sent to `address` (the locmem outbox the live server writes to)."""
    sent = [message for message in mail.outbox if address in message.to]
    assert sent, f"no email to {address}; sent: {[(m.subject, m.to) for m in mail.outbox]}"
    return sent[-1]


# docs/screenshots/ is committed: its PNGs are cut down to a 64-colour palette (a third of
# the size, the text as sharp).
DOCS_PALETTE_COLOURS = 64


def screenshots_dir(*, for_docs: bool = True) -> Path:
    chosen = os.environ.get("SCREENSHOTS_DIR") if for_docs else None
    directory = Path(chosen) if chosen else Path(tempfile.gettempdir()) / "billing-web-screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


class Screenshots:
    """Numbered screenshots of one journey: <journey>-01-<step>.png, <journey>-02-..."""

    def __init__(self, journey: str, *, for_docs: bool = True):
        self.journey = _slug(journey)
        self.directory = screenshots_dir(for_docs=for_docs)
        self.for_docs = for_docs and bool(os.environ.get("SCREENSHOTS_DIR"))
        self.count = 0
        self.saved: list[Path] = []
        for stale in self.directory.glob(f"{self.journey}-[0-9][0-9]-*.png"):  # the set is this run's
            stale.unlink()

    def take(self, page: Page, step: str, *, full_page: bool) -> Path:
        self.count += 1
        path = self.directory / f"{self.journey}-{self.count:02d}-{_slug(step)}.png"
        page.screenshot(path=str(path), full_page=full_page, animations="disabled")
        if self.for_docs:
            with Image.open(path) as shot:
                small = shot.convert("RGB").quantize(colors=DOCS_PALETTE_COLOURS, method=Image.Quantize.MEDIANCUT)
            small.save(path, optimize=True)
        self.saved.append(path)
        return path


class SitePage:
    """One browser context and its page on the live site, with every check recorded.

    Navigate with `goto(path, step)`, or act on the page and call `step(name)` once it has
    arrived: each step runs the page checks and saves a screenshot. `finish()` (called by
    `chromium()` at the end) fails on what was recorded: requests to another host, CSP
    violations, console and script errors, a page reached but never checked."""

    def __init__(self, context, *, origin: str, phone: bool, shots: Screenshots):
        self.context = context
        self.origin = origin
        self.phone = phone
        self.width = (PHONE if phone else DESKTOP)["width"]
        self.shots = shots
        # Every request that reached the network layer (one the page's policy blocked never
        # does: it is a CSP violation instead), and those to another host (aborted).
        self.requests: list[str] = []
        self.foreign: list[str] = []
        self.console_errors: list[str] = []
        self.script_errors: list[str] = []
        self.csp_violations: list[str] = []
        self.problems: list[str] = []
        self.expected_statuses: set[int] = set()
        self.expected_csp: set[str] = set()
        self._arrived: list[str] = []
        self._csp_seen = 0
        self.checked: list[str] = []
        context.route("**/*", self._this_site_only)
        context.add_init_script(RECORD_VIOLATIONS)
        self.page: Page = context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.script_errors.append(str(error)))
        self.page.on("framenavigated", self._navigated)

    # --- recording -------------------------------------------------------------------------

    def _same_site(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme in {"data", "blob", "about"}:
            return True
        return f"{parts.scheme}://{parts.netloc}" == self.origin

    def _this_site_only(self, route):
        self.requests.append(route.request.url)
        if self._same_site(route.request.url):
            route.continue_()
        else:
            self.foreign.append(route.request.url)
            route.abort()

    def _console(self, message) -> None:
        if message.type != "error":
            return
        failed = FAILED_STATUS.match(message.text)
        if failed and int(failed.group(1)) in self.expected_statuses:
            return
        self.console_errors.append(f"{message.text} ({message.location.get('url', '')})")

    def _navigated(self, frame) -> None:
        if frame.parent_frame is not None:
            return
        document = frame.url.split("#")[0]
        self._csp_seen = 0
        if not self._arrived or self._arrived[-1] != document:
            self._arrived.append(document)

    # --- navigating --------------------------------------------------------------------------

    def url_of(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.origin}{path}"

    @property
    def path(self) -> str:
        """The current page's path and query."""
        parts = urlsplit(self.page.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def goto(self, path: str, step: str, *, status: int = 200, axe: bool = True, full_page: bool = True) -> Response:
        """Open `path`, expect `status`, and check the page as step `step`."""
        if status >= 400:
            self.expected_statuses.add(status)
        response = self.page.goto(self.url_of(path))
        assert response is not None, path
        if response.status != status:
            self.problems.append(f"{path}: status {response.status}, expected {status}")
        self.step(step, axe=axe, full_page=full_page)
        return response

    def wait_for_path(self, path: str) -> None:
        """Wait until the page is at `path` (the path, with or without its query)."""
        target = self.url_of(path)
        self.page.wait_for_url(lambda url: url == target or url.split("?")[0] == target)

    # --- checking ------------------------------------------------------------------------------

    def step(self, name: str, *, axe: bool = True, full_page: bool = True) -> None:
        """The page has arrived: run the checks on it and save its screenshot (of the whole
        page, or of the viewport). `axe=False` only for pages that are not the site's own
        (Swagger UI, ReDoc)."""
        self.page.wait_for_load_state("load")
        here = self.page.url.split("#")[0]
        if len(self._arrived) > 1:  # pages passed through without a check
            self.problems.extend(f"reached but never checked: {url}" for url in self._arrived[:-1])
        self._arrived.clear()
        self.checked.append(here)
        self._collect_csp()
        if axe:
            self._check_axe(name, here)
        if self.phone:
            scroll_width = self.page.evaluate("document.documentElement.scrollWidth")
            if scroll_width > self.width + 1:
                self.problems.append(
                    f"{here} ({name}): scrolls sideways at {self.width} px: scrollWidth {scroll_width}"
                    f" ({self._widest()})"
                )
        self.shots.take(self.page, name, full_page=full_page)

    def _collect_csp(self) -> None:
        """The violations the current document reported since the last look."""
        here = self.page.url.split("#")[0]
        reported = self.page.evaluate("window.__cspViolations || []")
        self.csp_violations.extend(f"{here}: {v}" for v in reported[self._csp_seen :] if v not in self.expected_csp)
        self._csp_seen = len(reported)

    def _widest(self) -> str:
        """The outermost elements that reach past the viewport (for the failure message)."""
        return self.page.evaluate(WIDEST, self.width)

    def _check_axe(self, name: str, here: str) -> None:
        results = _axe.run(self.page)
        for violation in results.response["violations"]:
            if violation.get("impact") not in FAILING_IMPACTS:
                continue
            nodes = "; ".join(
                f"{', '.join(str(t) for t in node['target'])}: {node.get('html', '')[:160]}"
                for node in violation["nodes"][:5]
            )
            self.problems.append(
                f"axe {violation['id']} ({violation['impact']}) on {here} ({name}, {self.width} px): "
                f"{violation['help']} -- {nodes}"
            )

    def failures(self) -> list[str]:
        """Everything recorded against the site so far."""
        found = list(self.problems)
        if self.foreign:
            found.append(f"requests to another host: {self.foreign}")
        found.extend(f"CSP violation: {v}" for v in self.csp_violations)
        found.extend(
            f"console error: {e}"
            for e in self.console_errors
            if not any(expected.split()[1] in e for expected in self.expected_csp)
        )
        found.extend(f"script error: {e}" for e in self.script_errors)
        found.extend(f"reached but never checked: {url}" for url in self._arrived)
        return found

    def finish(self) -> None:
        if not self.page.is_closed():
            self._collect_csp()
        failures = self.failures()
        assert not failures, "\n".join(failures)

    # --- reading the page ------------------------------------------------------------------------

    def csrf_token(self) -> str:
        return self.page.locator("input[name=csrfmiddlewaretoken]").first.input_value()

    def text(self) -> str:
        return self.page.locator("main").inner_text()


class Chromium:
    """One headless Chromium for one journey: `page()` opens a fresh context (its own
    cookies: another person) at the desktop or the phone width."""

    def __init__(self, browser, *, origin: str, shots: Screenshots):
        self.browser = browser
        self.origin = origin
        self.shots = shots
        self.pages: list[SitePage] = []

    def page(self, *, phone: bool = False) -> SitePage:
        context = self.browser.new_context(
            viewport=PHONE if phone else DESKTOP,
            accept_downloads=True,
            locale="en-US",
            timezone_id="UTC",
        )
        opened = SitePage(context, origin=self.origin, phone=phone, shots=self.shots)
        self.pages.append(opened)
        return opened


@contextmanager
def chromium(site: str, journey: str, *, for_docs: bool = True) -> Iterator[Chromium]:
    """A headless Chromium on the live `site` for `journey` (names the screenshots; with
    `for_docs=False` they never go to $SCREENSHOTS_DIR). On a normal exit every page it
    opened must be clean (SitePage.finish)."""
    shots = Screenshots(journey, for_docs=for_docs)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        opened = Chromium(browser, origin=site.rstrip("/"), shots=shots)
        try:
            yield opened
            for page in opened.pages:
                page.finish()
        finally:
            browser.close()
