"""What every helpdesk emulator shares: a loopback HTTP server that records each call and answers with JSON.

A subclass keeps its platform's state and behaviour (auth, routes, error shapes) in `handle`, which turns one
`Request` and its parsed body into a reply ``(status, body, headers)``; a body of None sends no content at all.
Tests can make the next call(s) fail with `fail_next` before the emulator's own checks run.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qs, urlsplit

Response = tuple[int, object, dict]  # status, JSON body (None: no body), extra headers
INVALID_JSON = object()  # the parsed body of a request whose body is not JSON


@dataclass
class Request:
    method: str
    target: str  # as on the request line, query string included
    headers: Message  # looked up case-insensitively
    raw: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query)

    def json(self) -> object:
        """The body parsed as JSON: None when empty, INVALID_JSON when it does not parse."""
        try:
            return json.loads(self.raw) if self.raw else None
        except ValueError:
            return INVALID_JSON


@dataclass
class Call:
    """One request as an emulator received it."""

    method: str
    path: str
    query: dict
    headers: dict
    body: object  # parsed; None when empty, INVALID_JSON when it did not parse

    @property
    def authorization(self) -> str | None:
        return self.headers.get("Authorization")


class Emulator:
    """Serves on 127.0.0.1, records every call in `calls` and can be told to fail the next call(s)."""

    content_type = "application/json; charset=utf-8"
    methods = frozenset({"GET", "POST", "PUT", "DELETE"})  # others are answered 501, unrecorded
    retry_after_header = "Retry-After"  # what `fail_next(retry_after=...)` sets

    def __init__(self) -> None:
        self.calls: list = []
        self._failures: list[Response | None] = []  # None lets a call through
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.emulator = self
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    # --- test controls -------------------------------------------------------------------------------------------
    def fail_next(
        self,
        status: int,
        body: object = None,
        headers: dict | None = None,
        *,
        retry_after: int | None = None,
        times: int = 1,
        after: int = 0,
    ) -> None:
        """Answer the next `times` calls, after letting `after` through, with `status` (429, 5xx...)."""
        headers = dict(headers or {})
        if retry_after is not None:
            headers[self.retry_after_header] = str(retry_after)
        reply = (status, self.error_body(status) if body is None else body, headers)
        self._failures += [None] * after + [reply] * times

    def start(self) -> Self:
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- what a platform defines ---------------------------------------------------------------------------------
    def error_body(self, status: int) -> object:
        """The body of a failure set up by `fail_next` without one."""
        return {"error": f"HTTP {status}"}

    def parse(self, request: Request) -> object:
        return request.json()

    def record(self, request: Request, body: object) -> object:
        return Call(request.method, request.path, request.query, dict(request.headers), body)

    def handle(self, request: Request, body: object) -> Response:
        raise NotImplementedError

    # --- serving -------------------------------------------------------------------------------------------------
    def serve(self, request: Request) -> Response:
        body = self.parse(request)
        with self._lock:
            self.calls.append(self.record(request, body))
            failure = self._failures.pop(0) if self._failures else None
            return failure if failure is not None else self.handle(request, body)


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def _handle(self) -> None:
        emulator: Emulator = self.server.emulator
        if self.command not in emulator.methods:
            self.send_error(501, f"Unsupported method ({self.command!r})")
            return
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, body, headers = emulator.serve(Request(self.command, self.path, self.headers, raw))
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", emulator.content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815

    def log_message(self, *args) -> None:
        pass
