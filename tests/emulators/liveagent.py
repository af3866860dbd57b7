"""A LiveAgent API v3 emulator on loopback: only what LiveAgent's API v3 documents, LiveAgent's auth and errors.

The reference is LiveAgent's own swagger, as QualityUnit publishes it in the generated client
QualityUnit/LiveAgent-api-python (docs/*.md, @4196a87a7b29cc538b97b321a932446346710e07); base /api/v3, header
`apikey`. Every endpoint, and where it is documented:
- GET /tickets/{ticketId}, PUT /tickets/{ticketId} (body TicketUpdatable: status, tags as tag ids, custom_fields
  [{code, value}], ...): docs/TicketsApi.md (get_ticket, update_ticket), docs/Ticket.md, docs/TicketUpdatable.md,
  docs/CustomFields.md. Whether the PUT replaces the tag list or merges it is not documented; the emulator takes
  the stricter reading (replace), as Pipedream's add-tag-to-ticket action (GET, append, PUT) assumes.
- GET /tickets/{ticketId}/messages (message groups): docs/TicketsApi.md get_ticket_message_groups. There is no
  POST on that path in v3, so a POST is 404 here, as it is in LiveAgent.
- GET /contacts/{contactId} (Contact: firstname, lastname, emails and phones as lists of strings...):
  docs/ContactsApi.md get_specific_contact, docs/Contact.md; a ticket names its requester's contact in
  owner_contactid (docs/Ticket.md).
- GET /agents/{agentId}: docs/AgentsApi.md, docs/Agent.md. GET|POST /tags: docs/TagsApi.md, docs/Tag.md.
- Errors: {"message": ...} (liveagent_api/models/error_response.py); unknown endpoints 404.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tests.emulators.base import INVALID_JSON, Emulator, Request, Response

TICKET = re.compile(r"^/api/v3/tickets/([^/]+)$")
MESSAGES = re.compile(r"^/api/v3/tickets/([^/]+)/messages$")
AGENT = re.compile(r"^/api/v3/agents/([^/]+)$")
CONTACT = re.compile(r"^/api/v3/contacts/([^/]+)$")
TAGS = "/api/v3/tags"
STATUSES = set("INTPRXBACWL")


@dataclass
class Ticket:
    id: str
    owner_email: str = "casey@customer.test"
    owner_name: str = "Casey Customer"
    owner_contactid: str | None = "c1"
    agentid: str | None = "ag7"
    status: str = "R"
    subject: str = "Printer jammed"
    date_changed: str = "2026-11-23 10:00:00"
    tags: list[str] = field(default_factory=list)  # tag ids
    custom_fields: list[dict] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "code": f"ABC-{self.id}",
            "owner_email": self.owner_email,
            "owner_name": self.owner_name,
            "owner_contactid": self.owner_contactid,
            "agentid": self.agentid,
            "status": self.status,
            "subject": self.subject,
            "date_changed": self.date_changed,
            "tags": list(self.tags),
            "custom_fields": [dict(f) for f in self.custom_fields],
        }


class LiveAgentEmulator(Emulator):
    """Keeps tickets, agents and tags, records every call, and can be told to fail the next call(s)."""

    content_type = "application/json"

    def __init__(self, api_key: str = "la-key") -> None:
        super().__init__()
        self.api_key = api_key
        self.tickets: dict[str, Ticket] = {}
        self.agents: dict[str, dict] = {}
        self.contacts: dict[str, dict] = {}
        self.tags: dict[str, str] = {}  # id -> name
        self.field_codes: set[str] = set()

    # -- setting the scene -------------------------------------------------------------------------------------
    def add_ticket(self, ticket_id: str, **fields) -> Ticket:
        self.tickets[ticket_id] = Ticket(id=ticket_id, **fields)
        return self.tickets[ticket_id]

    def add_contact(self, contact_id: str, email: str, phones: list[str], **fields) -> dict:
        """A contact as docs/Contact.md shows it: emails and phones are lists of plain strings."""
        self.contacts[contact_id] = {"id": contact_id, "emails": [email], "phones": list(phones), "type": "R", **fields}
        return self.contacts[contact_id]

    def add_tag(self, name: str) -> str:
        tag_id = f"t{len(self.tags) + 1}"
        self.tags[tag_id] = name
        return tag_id

    def tag_names(self, ticket_id: str) -> list[str]:
        return [self.tags[t] for t in self.tickets[ticket_id].tags]

    def error_body(self, status: int) -> dict:
        return {"message": f"HTTP {status}"}

    # -- serving -----------------------------------------------------------------------------------------------
    def handle(self, request: Request, body) -> Response:
        if request.headers.get("apikey") != self.api_key:
            return 401, {"message": "Invalid API key"}, {}
        if body is INVALID_JSON:
            return 400, {"message": "Malformed JSON body"}, {}
        return self._route(request.method, request.target, body)

    def _route(self, method: str, path: str, body) -> Response:
        if path == TAGS and method == "GET":
            return 200, [{"id": i, "name": n, "is_public": "Y"} for i, n in self.tags.items()], {}
        if path == TAGS and method == "POST":
            name = (body or {}).get("name") if isinstance(body, dict) else None
            if not isinstance(name, str) or not name.strip():
                return 400, {"message": "Tag name is required"}, {}
            if name in self.tags.values():
                return 400, {"message": f"Tag '{name}' already exists"}, {}
            tag_id = self.add_tag(name)
            return 200, {"id": tag_id, "name": name}, {}
        if match := CONTACT.match(path):
            contact = self.contacts.get(match.group(1))
            return (200, contact, {}) if contact and method == "GET" else (404, {"message": "Contact not found"}, {})
        if match := AGENT.match(path):
            agent = self.agents.get(match.group(1))
            return (200, agent, {}) if agent and method == "GET" else (404, {"message": "Agent not found"}, {})
        if (match := MESSAGES.match(path)) and method == "GET" and match.group(1) in self.tickets:
            return 200, [], {}
        if match := TICKET.match(path):
            ticket = self.tickets.get(match.group(1))
            if ticket is None:
                return 404, {"message": "Ticket not found"}, {}
            if method == "GET":
                return 200, ticket.as_json(), {}
            if method == "PUT":
                return self._update(ticket, body)
        return 404, {"message": f"Unknown endpoint {method} {path}"}, {}

    def _update(self, ticket: Ticket, body) -> Response:
        if not isinstance(body, dict):
            return 400, {"message": "Body must be a TicketUpdatable object"}, {}
        if "status" in body and body["status"] not in STATUSES:
            return 400, {"message": f"Invalid status {body['status']!r}"}, {}
        if "tags" in body:
            tags = body["tags"]
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                return 400, {"message": "tags must be a list of tag ids"}, {}
            unknown = [t for t in tags if t not in self.tags]
            if unknown:
                return 400, {"message": f"Unknown tag id(s): {', '.join(unknown)}"}, {}
        if "custom_fields" in body:
            fields = body["custom_fields"]
            if not isinstance(fields, list) or not all(isinstance(f, dict) and "code" in f for f in fields):
                return 400, {"message": "custom_fields must be a list of {code, value}"}, {}
            unknown = [f["code"] for f in fields if f["code"] not in self.field_codes]
            if unknown:
                return 400, {"message": f"Unknown custom field code(s): {', '.join(unknown)}"}, {}
        ticket.tags = list(body.get("tags", ticket.tags))
        ticket.custom_fields = [dict(f) for f in body.get("custom_fields", ticket.custom_fields)]
        return 200, {"message": "OK"}, {}
