"""A Zendesk Support API emulator on loopback: only endpoints Zendesk documents, Zendesk's auth and error shapes.

Every endpoint, and where it is documented (a ".json" suffix is accepted as Zendesk does; Basic
`{email}/token:{token}` or OAuth Bearer, https://developer.zendesk.com/api-reference/introduction/security-and-auth/):
- GET /api/v2/tickets/{id}[?include=users], PUT /api/v2/tickets/{id} (comment with public false, custom_fields):
  https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/ (Show Ticket, Update Ticket; sideloading:
  https://developer.zendesk.com/documentation/ticketing/using-the-zendesk-api/side_loading/).
- PUT (add), POST (set) and DELETE (remove) /api/v2/tickets/{id}/tags:
  https://developer.zendesk.com/api-reference/ticketing/ticket-management/tags/.
- GET /api/v2/users/{id}: https://developer.zendesk.com/api-reference/ticketing/users/users/ (Show User; `locale`;
  `phone`, "the user's primary phone number", null when unset).
- GET /api/v2/users/{id}/group_memberships: https://developer.zendesk.com/api-reference/ticketing/groups/group_memberships/
  (the sidebar's check of who may see a ticket). Signed-URL JWTs for the sidebar are minted by tests/support/zaf.py.
Anything else is 404 InvalidEndpoint. The 401 body is Zendesk's ``{"error": "Couldn't authenticate you"}``; a closed
ticket answers 422 RecordInvalid "Status: closed prevents ticket update".
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field

from tests.emulators.base import INVALID_JSON, Call, Emulator, Request, Response

TICKET = re.compile(r"^/api/v2/tickets/(\d+)(?:\.json)?$")
TAGS = re.compile(r"^/api/v2/tickets/(\d+)/tags(?:\.json)?$")
USER = re.compile(r"^/api/v2/users/(\d+)(?:\.json)?$")
MEMBERSHIPS = re.compile(r"^/api/v2/users/(\d+)/group_memberships(?:\.json)?$")


@dataclass
class Ticket:
    id: int
    status: str = "solved"
    subject: str = "Printer jammed"
    requester_id: int | None = None
    assignee_id: int | None = None
    group_id: int | None = None
    organization_id: int | None = None
    tags: list[str] = field(default_factory=list)
    comments: list[dict] = field(default_factory=list)
    custom_fields: dict[int, object] = field(default_factory=dict)
    group_id: int | None = None

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "status": self.status,
            "subject": self.subject,
            "requester_id": self.requester_id,
            "assignee_id": self.assignee_id,
            "group_id": self.group_id,
            "organization_id": self.organization_id,
            "tags": list(self.tags),
            "custom_fields": [{"id": k, "value": v} for k, v in self.custom_fields.items()],
        }


class ZendeskEmulator(Emulator):
    """Keeps tickets and users, records every call, and can be told to fail the next call(s)."""

    def __init__(self, email: str = "admin@acme.test", api_token: str = "zd-token", oauth_token: str = "zd-oauth"):
        super().__init__()
        self.email, self.api_token, self.oauth_token = email, api_token, oauth_token
        self.tickets: dict[int, Ticket] = {}
        self.users: dict[int, dict] = {}
        self.field_ids: set[int] = set()
        self.groups: dict[int, list[int]] = {}  # user id -> group ids (GET /api/v2/users/{id}/group_memberships)

    # --- test controls -------------------------------------------------------------------------------------------
    def add_ticket(self, ticket_id: int, **attributes) -> Ticket:
        self.tickets[ticket_id] = Ticket(id=ticket_id, **attributes)
        return self.tickets[ticket_id]

    def add_user(
        self,
        user_id: int,
        email: str,
        name: str,
        locale: str = "en-US",
        role: str = "end-user",
        phone: str | None = None,
        **more,
    ) -> None:
        """`more`: other user fields as Zendesk names them (ticket_restriction, organization_id, suspended...)."""
        self.users[user_id] = {
            "id": user_id,
            "email": email,
            "name": name,
            "locale": locale,
            "role": role,
            "phone": phone,
            **more,
        }

    def error_body(self, status: int) -> dict:
        return {"error": "TooManyRequests"} if status == 429 else {"error": "InternalServerError"}

    def calls_to(self, method: str | None = None) -> list[Call]:
        return [c for c in self.calls if method is None or c.method == method]

    # --- the API ---------------------------------------------------------------------------------------------------
    def handle(self, request: Request, body) -> Response:
        if not self._authenticated(request.headers.get("Authorization", "")):
            return 401, {"error": "Couldn't authenticate you"}, {}
        if body is INVALID_JSON:
            return 400, {"error": "Unprocessable Entity", "description": "The request body is not valid JSON"}, {}
        return self._route(request.method, request.path, request.query, body)

    def _authenticated(self, header: str) -> bool:
        if header == f"Bearer {self.oauth_token}":
            return True
        expected = base64.b64encode(f"{self.email}/token:{self.api_token}".encode()).decode()
        return header == f"Basic {expected}"

    def _route(self, method: str, path: str, query: dict, body) -> Response:
        if (match := MEMBERSHIPS.match(path)) and method == "GET":
            user_id = int(match.group(1))
            if user_id not in self.users:
                return _not_found()
            memberships = [{"user_id": user_id, "group_id": g} for g in self.groups.get(user_id, [])]
            return 200, {"group_memberships": memberships, "next_page": None, "count": len(memberships)}, {}
        if match := USER.match(path):
            user = self.users.get(int(match.group(1)))
            return (200, {"user": user}, {}) if user and method == "GET" else _not_found()
        if match := TAGS.match(path):
            ticket = self.tickets.get(int(match.group(1)))
            return self._tags(ticket, method, body) if ticket else _not_found()
        if match := TICKET.match(path):
            ticket = self.tickets.get(int(match.group(1)))
            if ticket is None:
                return _not_found()
            if method == "GET":
                return 200, self._show(ticket, query), {}
            if method == "PUT":
                return self._update(ticket, body)
        return 404, {"error": "InvalidEndpoint", "description": "Not found"}, {}

    def _show(self, ticket: Ticket, query: dict) -> dict:
        answer = {"ticket": ticket.as_json()}
        if "users" in ",".join(query.get("include", [])).split(","):
            ids = [i for i in (ticket.requester_id, ticket.assignee_id) if i in self.users]
            answer["users"] = [self.users[i] for i in dict.fromkeys(ids)]
        return answer

    def _tags(self, ticket: Ticket, method: str, body) -> Response:
        tags = body.get("tags") if isinstance(body, dict) else None
        if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
            return _invalid("tags", "Tags: must be a list of strings")
        if ticket.status == "closed":
            return _closed()
        if method == "PUT":  # add
            ticket.tags += [t for t in tags if t not in ticket.tags]
        elif method == "POST":  # set
            ticket.tags = list(dict.fromkeys(tags))
        elif method == "DELETE":  # remove
            ticket.tags = [t for t in ticket.tags if t not in tags]
        else:
            return 405, {"error": "MethodNotAllowed"}, {}
        return 200, {"tags": list(ticket.tags)}, {}

    def _update(self, ticket: Ticket, body) -> Response:
        update = body.get("ticket") if isinstance(body, dict) else None
        if not isinstance(update, dict):
            return 400, {"error": "InvalidValue", "description": "ticket parameter is required"}, {}
        if ticket.status == "closed":
            return _closed()
        comment, fields = update.get("comment"), update.get("custom_fields", [])
        if comment is not None and (
            not isinstance(comment, dict) or not str(comment.get("body") or "").strip() or "public" not in comment
        ):
            return _invalid("comment", "Comment: body is required")
        if not isinstance(fields, list) or not all(
            isinstance(f, dict) and isinstance(f.get("id"), int) for f in fields
        ):
            return _invalid("custom_fields", "Custom fields: must be a list of {id, value}")
        unknown = [f["id"] for f in fields if f["id"] not in self.field_ids]
        if unknown:
            return _invalid("custom_fields", f"Custom field {unknown[0]} does not exist")
        status, group_id = update.get("status"), update.get("group_id")
        if status is not None and status not in ("new", "open", "pending", "hold", "solved", "closed"):
            return _invalid("status", f"Status: {status} is not valid")
        if group_id is not None and not isinstance(group_id, int):
            return _invalid("group_id", "Group: must be a number")
        if status is not None:
            ticket.status = status
        if group_id is not None:
            ticket.group_id = group_id
        for f in fields:
            ticket.custom_fields[f["id"]] = f.get("value")
        if comment is not None:
            ticket.comments.append({"body": comment["body"], "public": bool(comment["public"])})
        return 200, {"ticket": ticket.as_json(), "audit": {"ticket_id": ticket.id}}, {}


def _not_found() -> Response:
    return 404, {"error": "RecordNotFound", "description": "Not found"}, {}


def _invalid(name: str, description: str) -> Response:
    return (
        422,
        {
            "error": "RecordInvalid",
            "description": "Record validation errors",
            "details": {name: [{"description": description}]},
        },
        {},
    )


def _closed() -> Response:
    return _invalid("status", "Status: closed prevents ticket update")
