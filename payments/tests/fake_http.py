"""The HTTP plumbing shared by the fake payment gateway APIs (fake_stripe, fake_xendit,
fake_midtrans): a threaded stdlib HTTP server bound to 127.0.0.1 on a free port, its
request handler, the server's lifecycle and the failure-injection rules.

A fake subclasses `FakeHTTPServer`, sets `name` (the server thread's name, also used in
its messages) and `handler_class` (a `FakeHandler` subclass with the fake's
`server_version` and its `do_GET = do_POST = ... = FakeHandler._serve` methods), and
implements

    _respond(method, raw_path, headers, body) -> (status, json, headers, hold_seconds)

or None to drop the connection. In `_respond`, `_take_rule(record)` records the request
and uses up the first rule it matches; `_hold(rule, record)` says how long to hold the
answer back (None: the request is dropped). In its dispatch, `_route(routes, method,
path)` finds the handler and `_record_crash(method, path)` keeps a crash's traceback in
`errors`. What the rules answer with (each gateway's error body), `fail_next`, request
parsing, auth and error formats stay with each fake; `basic_auth_user` reads the
username of HTTP Basic auth for those that use it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import socket
import threading
import traceback
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self

__all__ = ["FakeHTTPServer", "FakeHandler", "Rule", "basic_auth_user"]


@dataclass
class Rule:
    """A failure-injection rule: the next `times` requests under `prefix` (of `method`,
    or any) are answered with `status` and `error` (what the fake's fail_next set: its
    error body or message), or held back `seconds` by delay_next (with `drop`: not
    answered at all)."""

    method: str | None
    prefix: str
    times: int
    status: int = 500
    error: Any = None
    seconds: float = 0.0
    drop: bool = False

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and path.startswith(self.prefix)


def basic_auth_user(authorization: str) -> str | None:
    """The username of an HTTP Basic `Authorization` header, None if it is not one."""
    if not authorization.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return decoded.split(":", 1)[0]


# --- the server ---------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fake: FakeHTTPServer):
        self.fake = fake
        super().__init__(("127.0.0.1", 0), fake.handler_class)


class FakeHandler(BaseHTTPRequestHandler):
    """Hands each request to `server.fake._respond` and writes its JSON answer. Subclasses
    set `server_version` and bind the HTTP methods they serve to `_serve`."""

    protocol_version = "HTTP/1.1"
    timeout = 120
    content_type = "application/json"
    json_indent: int | None = None

    server: _Server

    def setup(self):
        super().setup()
        self.server.fake._track_connection(self.connection, open_=True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.fake._track_connection(self.connection, open_=False)

    def log_message(self, format, *args):  # quiet: tests read fake.requests instead
        pass

    def _serve(self):
        fake = self.server.fake
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            answer = fake._respond(self.command, self.path, dict(self.headers.items()), body)
            if answer is None:  # dropped: the connection just closes
                self.close_connection = True
                return
            status, payload, headers, hold = answer
            if hold:
                fake._stopping.wait(hold)
            data = json.dumps(payload, indent=self.json_indent).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", self.content_type)
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError):
            self.close_connection = True


class FakeHTTPServer:
    """The lifecycle and test-facing basics of a fake API served on 127.0.0.1:
    start()/stop(); `url` is the server's base URL once started."""

    name: ClassVar[str] = "FakeHTTPServer"
    handler_class: ClassVar[type[FakeHandler]]

    def __init__(self):
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set = set()
        self._rules: list[Rule] = []
        self.requests: list = []
        self.unhandled: list[tuple[str, str]] = []
        self.errors: list[str] = []  # the fake's own crashes (tracebacks), never injected failures
        self.url = ""

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> Self:
        self._stopping.clear()
        self._server = _Server(self)
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=self.name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:  # idle keep-alive connections: end their threads
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def _track_connection(self, connection, *, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    # --- test-facing API ----------------------------------------------------------------

    def calls(self, method: str | None = None, path_prefix: str = "") -> list:
        """The requests received, optionally only one method and/or under a path prefix."""
        with self._lock:
            return [
                request
                for request in self.requests
                if (method is None or request.method == method) and request.path.startswith(path_prefix)
            ]

    def assert_all_handled(self) -> None:
        assert not self.unhandled, f"{self.name} got requests it does not implement: {self.unhandled}"
        assert not self.errors, f"{self.name} crashed:\n" + "\n".join(self.errors)

    def delay_next(
        self, path_prefix: str, seconds: float, *, method: str | None = None, times: int = 1, drop: bool = False
    ) -> None:
        """Hold back the answer to the next `times` requests under `path_prefix` by
        `seconds`. The request is processed at once (the gateway acted, the answer is
        late), so a client timeout leaves its effects in place. With drop=True the request
        is not processed: after the wait the connection closes without an answer."""
        with self._lock:
            self._rules.append(Rule(method, path_prefix, times, seconds=seconds, drop=drop))

    # --- for _respond and its dispatch ---------------------------------------------------

    def _take_rule(self, record) -> Rule | None:
        """Record the request; the first rule it matches, used up once (None if none)."""
        with self._lock:
            self.requests.append(record)
            rule = next((rule for rule in self._rules if rule.matches(record.method, record.path)), None)
            if rule is not None:
                rule.times -= 1
                if rule.times <= 0:
                    self._rules.remove(rule)
        return rule

    def _hold(self, rule: Rule | None, record) -> float | None:
        """How long to hold the answer back; None when the request is dropped (after
        waiting the rule's seconds; the record's status becomes -1)."""
        if rule is None or not rule.seconds:
            return 0.0
        if rule.drop:
            self._stopping.wait(rule.seconds)
            record.status = -1
            return None
        return rule.seconds

    @staticmethod
    def _route(routes, method: str, path: str):
        """(handler, the pattern's groups) of the first (method, pattern, handler) route
        whose method is the request's and whose pattern matches all of `path`, or None."""
        for route_method, pattern, handler in routes:
            if route_method == method:
                match = pattern.fullmatch(path)
                if match is not None:
                    return handler, match.groups()
        return None

    def _record_crash(self, method: str, path: str) -> str:
        """In an `except` block: keep the traceback of the fake's own crash in `errors`;
        returns it."""
        trace = traceback.format_exc()
        with self._lock:
            self.errors.append(f"{method} {path}\n{trace}")
        return trace
