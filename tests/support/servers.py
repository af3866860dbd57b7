"""Real servers on loopback for tests: an SMTP server (aiosmtpd), a scriptable HTTP recorder, a served Flask app."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from werkzeug.serving import make_server

from tests.emulators.base import Emulator, Request, Response


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(app, port: int | None = None) -> Iterator[str]:
    """Serve a WSGI app over real HTTP on 127.0.0.1 in a thread; yields its base URL "http://127.0.0.1:<port>".

    Port None or 0 picks a free one; a caller that needs the port before it creates the app passes free_port().
    The server is shut down on the way out.
    """
    server = make_server("127.0.0.1", port or 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _Inbox:
    """aiosmtpd handler that keeps every message; `refuse` makes it answer RCPT with an SMTP error."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse: tuple[int, str] | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd API)
        if self.refuse:
            code, text = self.refuse
            return f"{code} {text}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


class SMTPServer:
    """A real SMTP server on 127.0.0.1 collecting what it receives."""

    def __init__(self, *, smtputf8: bool = False) -> None:
        self.inbox = _Inbox()
        self.port = free_port()
        # smtputf8: offer SMTPUTF8 (RFC 6531) in EHLO, as a server that takes internationalised addresses does.
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=smtputf8)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[EmailMessage]:
        return self.inbox.messages

    def start(self) -> SMTPServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: object = field(default_factory=dict)
    headers: dict = field(default_factory=dict)


class HTTPRecorder(Emulator):
    """An HTTP server on loopback that records every request and answers from a script of replies."""

    content_type = "application/json"
    methods = Emulator.methods | {"PATCH"}

    def __init__(self) -> None:
        super().__init__()
        self.replies: list[Reply] = []  # consumed first to last; empty means 200 {}

    @property
    def requests(self) -> list[Recorded]:
        return self.calls

    def parse(self, request: Request) -> bytes:
        return request.raw

    def record(self, request: Request, body: bytes) -> Recorded:
        return Recorded(request.method, request.target, dict(request.headers), body)

    def handle(self, request: Request, body: bytes) -> Response:
        reply = self.replies.pop(0) if self.replies else Reply()
        return reply.status, reply.body, reply.headers
