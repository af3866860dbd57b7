"""A Help Scout Mailbox API 2.0 emulator on loopback: only endpoints Help Scout documents, with its OAuth2 and errors.

Every endpoint, and where it is documented:
- POST /v2/oauth2/token (client credentials, form or JSON):
  https://developer.helpscout.com/mailbox-api/overview/authentication/. Tokens expire after `token_lifetime` seconds.
- GET /v2/conversations/{id}: https://developer.helpscout.com/mailbox-api/endpoints/conversations/get/ (a merged
  conversation answers 301 with Location; writes to it 404).
- PUT /v2/conversations/{id}/tags (replaces the list, 204):
  https://developer.helpscout.com/mailbox-api/endpoints/conversations/tags/update/.
- PUT /v2/conversations/{id}/fields (replaces the list, 204):
  https://developer.helpscout.com/mailbox-api/endpoints/conversations/custom_fields/update/.
- POST /v2/conversations/{id}/notes (201 with Resource-ID):
  https://developer.helpscout.com/mailbox-api/endpoints/conversations/threads/note/.
- GET /v2/customers/{id}/phones (``_embedded.phones[{id, value, type, _links}]``, 404 for an unknown customer):
  https://developer.helpscout.com/mailbox-api/endpoints/customers/phones/list/ and
  helpscout/helpscout-api-php:tests/Payloads/CustomerPayloads.php (getPhones).
Anything else is 404. Errors use Help Scout's ``{"logRef", "message", "_embedded": {"errors": [...]}}``; a 429
carries ``X-RateLimit-Retry-After`` (https://developer.helpscout.com/mailbox-api/overview/rate-limiting/).
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from tests.emulators.base import INVALID_JSON, Call, Emulator, Request, Response

CONVERSATION = re.compile(r"^/v2/conversations/(\d+)$")
TAGS = re.compile(r"^/v2/conversations/(\d+)/tags$")
FIELDS = re.compile(r"^/v2/conversations/(\d+)/fields$")
NOTES = re.compile(r"^/v2/conversations/(\d+)/notes$")
PHONES = re.compile(r"^/v2/customers/(\d+)/phones$")
STATUSES = {"active", "closed", "open", "pending", "spam", "inbox_predefined"}


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


class HelpScoutEmulator(Emulator):
    """Keeps conversations, issues and checks tokens, records every call, and can fail the next call(s)."""

    content_type = "application/hal+json;charset=UTF-8"
    retry_after_header = "X-RateLimit-Retry-After"

    def __init__(
        self, client_id: str = "hs-app-id", client_secret: str = "hs-app-secret", token_lifetime: int = 172800
    ):
        super().__init__()
        self.client_id, self.client_secret, self.token_lifetime = client_id, client_secret, token_lifetime
        self.conversations: dict[int, Conversation] = {}
        self.field_names: dict[int, str] = {}  # the mailbox's custom fields
        self.tokens: dict[str, float] = {}  # access token -> expiry (monotonic)
        self.customer_phones: dict[int, list[tuple[str, str]]] = {}  # customer id -> [(value, type)]

    # --- test controls -------------------------------------------------------------------------------------------
    def add_conversation(self, conversation_id: int, **attributes) -> Conversation:
        self.conversations[conversation_id] = Conversation(id=conversation_id, **attributes)
        return self.conversations[conversation_id]

    def error_body(self, status: int) -> dict:
        if status == 429:
            return {"message": "API rate limit exceeded"}
        return {"logRef": "emu#1", "message": "Internal error"}

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    def calls_to(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path]

    @property
    def token_requests(self) -> list[Call]:
        return self.calls_to("/v2/oauth2/token")

    # --- the API ---------------------------------------------------------------------------------------------------
    def parse(self, request: Request) -> object:
        """JSON, or the fields of a form (the token endpoint takes both)."""
        if "application/x-www-form-urlencoded" not in (request.headers.get("Content-Type") or ""):
            return request.json()
        try:
            return {k: v[0] for k, v in parse_qs(request.raw.decode()).items()}
        except ValueError:
            return INVALID_JSON

    def handle(self, request: Request, body) -> Response:
        if request.path == "/v2/oauth2/token" and request.method == "POST":
            return self._token(body)
        if not self._authenticated(request.headers.get("Authorization", "")):
            return 401, {"logRef": "emu#401", "message": "Unauthorized: the access token is invalid or expired"}, {}
        if body is INVALID_JSON:
            return _invalid("body", "could not parse the JSON body")
        return self._route(request.method, request.path, body)

    def _token(self, body) -> Response:
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

    def _route(self, method: str, path: str, body) -> Response:
        if (match := PHONES.match(path)) and method == "GET":
            return self._phones(int(match.group(1)))
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

    def _phones(self, customer_id: int) -> Response:
        if customer_id not in self.customer_phones:
            return 404, {"logRef": "emu#404", "message": "Customer not found"}, {}
        href = f"https://api.helpscout.net/v2/customers/{customer_id}/phones"
        listed = [
            {"id": n, "value": value, "type": kind, "_links": {"self": {"href": f"{href}/{n}"}}}
            for n, (value, kind) in enumerate(self.customer_phones[customer_id], 1)
        ]
        return 200, {"_embedded": {"phones": listed}, "_links": {"self": {"href": href}}}, {}

    def _show(self, conversation: Conversation, body) -> Response:
        if conversation.moved_to:
            return 301, None, {"Location": f"{self.url}/v2/conversations/{conversation.moved_to}"}
        return 200, conversation.as_json(self.field_names), {}

    def _tags(self, conversation: Conversation, body) -> Response:
        tags = body.get("tags") if isinstance(body, dict) else None
        if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
            return _invalid("tags", "must be a list of tag names")
        conversation.tags = list(dict.fromkeys(t.strip().lower() for t in tags))
        return 204, None, {}

    def _fields(self, conversation: Conversation, body) -> Response:
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

    def _note(self, conversation: Conversation, body) -> Response:
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


def _invalid(path: str, message: str) -> Response:
    error = {"path": path, "message": message, "source": "JSON"}
    return 400, {"logRef": "emu#400", "message": "Validation error", "_embedded": {"errors": [error]}}, {}
