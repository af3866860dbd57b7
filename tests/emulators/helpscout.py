"""A Help Scout Mailbox API 2.0 emulator on loopback: OAuth2 client credentials and the conversation endpoints.

Endpoints: POST /v2/oauth2/token (form or JSON, grant_type=client_credentials), GET /v2/conversations/{id},
PUT /v2/conversations/{id}/tags (replaces the list, 204), PUT /v2/conversations/{id}/fields (replaces the list, 204),
POST /v2/conversations/{id}/notes (201 with Resource-ID). Shapes follow https://developer.helpscout.com/mailbox-api/;
errors use Help Scout's ``{"logRef", "message", "_embedded": {"errors": [...]}}``; a 429 carries
``X-RateLimit-Retry-After`` (Help Scout's header, not Retry-After). Tokens expire after `token_lifetime` seconds.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

CONVERSATION = re.compile(r"^/v2/conversations/(\d+)$")
TAGS = re.compile(r"^/v2/conversations/(\d+)/tags$")
FIELDS = re.compile(r"^/v2/conversations/(\d+)/fields$")
NOTES = re.compile(r"^/v2/conversations/(\d+)/notes$")
STATUSES = {"active", "closed", "open", "pending", "spam", "inbox_predefined"}


@dataclass
class Call:
    method: str
    path: str
    headers: dict
    body: object  # parsed JSON or form (dict), or None

    @property
    def authorization(self) -> str | None:
        return self.headers.get("Authorization")


@dataclass
class Conversation:
    id: int
    number: int = 349
    status: str = "closed"
    subject: str = "VPN drops every hour"
    tags: list[str] = field(default_factory=list)
    fields: dict[int, str] = field(default_factory=dict)
    notes: list[dict] = field(default_factory=list)
    moved_to: int | None = None  # merged into another conversation: GET answers 301, writes 404

    def as_json(self, field_names: dict[int, str]) -> dict:
        return {
            "id": self.id,
            "number": self.number,
            "status": self.status,
            "state": "published",
            "subject": self.subject,
            "mailboxId": 85,
            "tags": [{"id": 9000 + i, "color": "#929499", "tag": t} for i, t in enumerate(self.tags)],
            "customFields": [
                {"id": k, "name": field_names.get(k, ""), "value": v, "text": v} for k, v in self.fields.items()
            ],
            "_links": {"self": {"href": f"/v2/conversations/{self.id}"}},
        }


class HelpScoutEmulator:
    """Keeps conversations, issues and checks tokens, records every call, and can fail the next call(s)."""

    def __init__(
        self, client_id: str = "hs-app-id", client_secret: str = "hs-app-secret", token_lifetime: int = 172800
    ):
        self.client_id, self.client_secret, self.token_lifetime = client_id, client_secret, token_lifetime
        self.conversations: dict[int, Conversation] = {}
        self.field_names: dict[int, str] = {}  # the mailbox's custom fields
        self.tokens: dict[str, float] = {}  # access token -> expiry (monotonic)
        self.calls: list[Call] = []
        self._failures: list[tuple[int, dict, dict] | None] = []
        self._lock = threading.Lock()
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                status, body, headers = emulator._serve(self)
                payload = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if body is not None:
                    self.send_header("Content-Type", "application/hal+json;charset=UTF-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_DELETE = _handle  # noqa: N815

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    # --- test controls -------------------------------------------------------------------------------------------
    def add_conversation(self, conversation_id: int, **attributes) -> Conversation:
        self.conversations[conversation_id] = Conversation(id=conversation_id, **attributes)
        return self.conversations[conversation_id]

    def fail_next(self, status: int, *, retry_after: int | None = None, times: int = 1, after: int = 0) -> None:
        """Answer the next `times` calls (after letting `after` through) with `status`: 429 or 5xx."""
        headers = {"X-RateLimit-Retry-After": str(retry_after)} if retry_after is not None else {}
        body = (
            {"message": "API rate limit exceeded"}
            if status == 429
            else {"logRef": "emu#1", "message": "Internal error"}
        )
        self._failures.extend([None] * after + [(status, body, headers)] * times)

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    def calls_to(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path]

    @property
    def token_requests(self) -> list[Call]:
        return self.calls_to("/v2/oauth2/token")

    def start(self) -> HelpScoutEmulator:
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- the API ---------------------------------------------------------------------------------------------------
    def _serve(self, request: BaseHTTPRequestHandler) -> tuple[int, dict | None, dict]:
        raw = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        path = urlsplit(request.path).path
        form = "application/x-www-form-urlencoded" in (request.headers.get("Content-Type") or "")
        try:
            body = {k: v[0] for k, v in parse_qs(raw.decode()).items()} if form else (json.loads(raw) if raw else None)
        except ValueError:
            body = ...
        with self._lock:
            self.calls.append(Call(request.command, path, dict(request.headers), body))
            failure = self._failures.pop(0) if self._failures else None
            if failure is not None:
                return failure
            if path == "/v2/oauth2/token" and request.command == "POST":
                return self._token(body)
            if not self._authenticated(request.headers.get("Authorization", "")):
                return 401, {"logRef": "emu#401", "message": "Unauthorized: the access token is invalid or expired"}, {}
            if body is ...:
                return _invalid("body", "could not parse the JSON body")
            return self._route(request.command, path, body)

    def _token(self, body) -> tuple[int, dict, dict]:
        if not isinstance(body, dict) or body.get("grant_type") != "client_credentials":
            return (
                400,
                {"error": "unsupported_grant_type", "error_description": "grant_type must be client_credentials"},
                {},
            )
        if body.get("client_id") != self.client_id or body.get("client_secret") != self.client_secret:
            return 401, {"error": "invalid_client", "error_description": "Invalid client credentials"}, {}
        token = secrets.token_hex(16)
        self.tokens[token] = time.monotonic() + self.token_lifetime
        return 200, {"token_type": "bearer", "access_token": token, "expires_in": self.token_lifetime}, {}

    def _authenticated(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        return scheme == "Bearer" and self.tokens.get(token, 0) > time.monotonic()

    def _route(self, method: str, path: str, body) -> tuple[int, dict | None, dict]:
        for pattern, handler, verb in (
            (CONVERSATION, self._show, "GET"),
            (TAGS, self._tags, "PUT"),
            (FIELDS, self._fields, "PUT"),
            (NOTES, self._note, "POST"),
        ):
            if match := pattern.match(path):
                if method != verb:
                    return 405, {"logRef": "emu#405", "message": "Method not allowed"}, {}
                conversation = self.conversations.get(int(match.group(1)))
                if conversation is None or (conversation.moved_to and verb != "GET"):
                    return 404, {"logRef": "emu#404", "message": "Conversation not found"}, {}
                return handler(conversation, body)
        return 404, {"logRef": "emu#404", "message": "Not found"}, {}

    def _show(self, conversation: Conversation, body) -> tuple[int, dict | None, dict]:
        if conversation.moved_to:
            return 301, None, {"Location": f"{self.url}/v2/conversations/{conversation.moved_to}"}
        return 200, conversation.as_json(self.field_names), {}

    def _tags(self, conversation: Conversation, body) -> tuple[int, dict | None, dict]:
        tags = body.get("tags") if isinstance(body, dict) else None
        if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
            return _invalid("tags", "must be a list of tag names")
        conversation.tags = list(dict.fromkeys(t.strip().lower() for t in tags))
        return 204, None, {}

    def _fields(self, conversation: Conversation, body) -> tuple[int, dict | None, dict]:
        fields = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(fields, list) or not all(
            isinstance(f, dict) and isinstance(f.get("id"), int) for f in fields
        ):
            return _invalid("fields", "must be a list of {id, value}")
        unknown = [f["id"] for f in fields if f["id"] not in self.field_names]
        if unknown:
            return _invalid("fields[0].id", f"Custom field {unknown[0]} does not belong to the conversation's mailbox")
        if not all(isinstance(f.get("value"), str) and len(f["value"]) <= 255 for f in fields):
            return _invalid("fields[0].value", "must be a string of at most 255 characters")
        conversation.fields = {f["id"]: f["value"] for f in fields}
        return 204, None, {}

    def _note(self, conversation: Conversation, body) -> tuple[int, dict | None, dict]:
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            return _invalid("text", "may not be empty")
        status = body.get("status")
        if status is not None and status not in STATUSES:
            return _invalid("status", f"{status!r} is not a valid status")
        if len(conversation.notes) >= 100:
            return _invalid("threads", "A conversation can have at most 100 threads")
        conversation.notes.append({"text": text, "status": status})
        if status:
            conversation.status = status
        thread_id = 5000 + len(conversation.notes)
        return 201, None, {"Resource-ID": str(thread_id), "Location": f"{self.url}/v2/conversations/{conversation.id}"}


def _invalid(path: str, message: str) -> tuple[int, dict, dict]:
    error = {"path": path, "message": message, "source": "JSON"}
    return 400, {"logRef": "emu#400", "message": "Validation error", "_embedded": {"errors": [error]}}, {}
