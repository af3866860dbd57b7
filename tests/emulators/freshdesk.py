"""A Freshdesk API v2 emulator on loopback: only endpoints Freshdesk documents, Freshdesk's auth and error shapes.

Every endpoint, and where it is documented (Basic auth, the API key as user name and any password such as "X":
https://support.freshdesk.com/support/solutions/articles/216548):
- GET /api/v2/tickets/{id}: https://developers.freshdesk.com/api/#view_a_ticket.
- PUT /api/v2/tickets/{id} (``tags`` replaces the whole list, ``custom_fields`` {cf_name: value}):
  https://developers.freshdesk.com/api/#update_ticket.
- POST /api/v2/tickets/{id}/notes (``body`` HTML, ``private``): https://developers.freshdesk.com/api/#add_note_to_a_ticket.
Anything else is 404. Errors use Freshdesk's shapes (https://developers.freshdesk.com/api/#error): 401
``{"code": "invalid_credentials", "message": ...}``, 400 ``{"description": "Validation failed", "errors": [...]}``.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field

from tests.emulators.base import INVALID_JSON, Emulator, Request, Response

TICKET = re.compile(r"^/api/v2/tickets/(\d+)$")
NOTES = re.compile(r"^/api/v2/tickets/(\d+)/notes$")


@dataclass
class Ticket:
    id: int
    status: int = 4
    subject: str = "Printer jammed"
    tags: list[str] = field(default_factory=list)
    notes: list[dict] = field(default_factory=list)
    custom_fields: dict[str, object] = field(default_factory=dict)

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "status": self.status,
            "subject": self.subject,
            "tags": list(self.tags),
            "custom_fields": dict(self.custom_fields),
        }


class FreshdeskEmulator(Emulator):
    """Keeps tickets (tags, notes, custom fields), records every call, and can be told to fail the next call(s)."""

    def __init__(self, api_key: str = "fd-api-key", custom_fields: tuple[str, ...] = ("cf_csat_score",)) -> None:
        super().__init__()
        self.api_key = api_key
        self.field_names = set(custom_fields)
        self.tickets: dict[int, Ticket] = {}

    # --- test controls -------------------------------------------------------------------------------------------
    def add_ticket(self, ticket_id: int, **attributes) -> Ticket:
        self.tickets[ticket_id] = Ticket(id=ticket_id, **attributes)
        return self.tickets[ticket_id]

    def error_body(self, status: int) -> dict:
        return {"code": "too_many_requests"} if status == 429 else {"code": "internal_error"}

    # --- the API ---------------------------------------------------------------------------------------------------
    def handle(self, request: Request, body) -> Response:
        if not self._authenticated(request.headers.get("Authorization", "")):
            return (
                401,
                {"code": "invalid_credentials", "message": "You have to be logged in to perform this action."},
                {},
            )
        if body is INVALID_JSON:
            return 400, {"code": "invalid_json", "message": "Request body has invalid json format"}, {}
        return self._route(request.method, request.target, body)

    def _authenticated(self, header: str) -> bool:
        if not header.startswith("Basic "):
            return False
        try:
            user, _, _ = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == self.api_key

    def _route(self, method: str, path: str, body) -> Response:
        if match := NOTES.match(path):
            ticket = self.tickets.get(int(match.group(1)))
            if ticket is None:
                return _not_found()
            return self._add_note(ticket, body) if method == "POST" else (405, {"code": "method_not_allowed"}, {})
        if match := TICKET.match(path):
            ticket = self.tickets.get(int(match.group(1)))
            if ticket is None:
                return _not_found()
            if method == "GET":
                return 200, ticket.as_json(), {}
            if method == "PUT":
                return self._update(ticket, body)
        return _not_found()

    def _update(self, ticket: Ticket, body) -> Response:
        if not isinstance(body, dict) or not body:
            return _invalid("body", "missing_field", "It should be a non-empty JSON object")
        tags, fields = body.get("tags"), body.get("custom_fields")
        if tags is not None and (not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags)):
            return _invalid("tags", "datatype_mismatch", "It should be an Array of Strings")
        if fields is not None:
            if not isinstance(fields, dict):
                return _invalid("custom_fields", "datatype_mismatch", "It should be a key/value pair")
            unknown = [name for name in fields if name not in self.field_names]
            if unknown:
                return _invalid(unknown[0], "invalid_field", "Unexpected/invalid field in request")
            ticket.custom_fields.update(fields)
        status = body.get("status")
        if status is not None and status not in (2, 3, 4, 5):
            return _invalid("status", "invalid_value", "It should be one of these values: '2,3,4,5'")
        if status is not None:
            ticket.status = status
        if tags is not None:
            ticket.tags = list(tags)  # replaces the whole list
        return 200, ticket.as_json(), {}

    def _add_note(self, ticket: Ticket, body) -> Response:
        if not isinstance(body, dict) or not str(body.get("body") or "").strip():
            return _invalid("body", "missing_field", "It should be a non-empty String")
        if not isinstance(body.get("private", True), bool):
            return _invalid("private", "datatype_mismatch", "It should be a Boolean")
        note = {"id": len(ticket.notes) + 1, "body": body["body"], "private": body.get("private", True)}
        ticket.notes.append(note)
        return 201, {**note, "ticket_id": ticket.id}, {}


def _not_found() -> Response:
    return (
        404,
        {
            "code": "access_denied",
            "message": "You are not authorized to perform this action or the record does not exist.",
        },
        {},
    )


def _invalid(name: str, code: str, message: str) -> Response:
    return 400, {"description": "Validation failed", "errors": [{"field": name, "message": message, "code": code}]}, {}
