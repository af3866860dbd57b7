"""A Zammad REST API emulator on loopback: only endpoints Zammad documents, token auth and Zammad's errors.

Every endpoint, and where it is documented (``Authorization: Token token=...``,
https://docs.zammad.org/en/latest/api/intro.html):
- GET /api/v1/tags?object=Ticket&o_id={id}, POST /api/v1/tags/add, DELETE /api/v1/tags/remove:
  https://docs.zammad.org/en/latest/api/ticket/tags.html.
- PUT /api/v1/tickets/{id} (attributes as top-level keys): https://docs.zammad.org/en/latest/api/ticket/index.html.
- POST /api/v1/ticket_articles (type note, internal): https://docs.zammad.org/en/latest/api/ticket/articles.html.
Anything else is 404 "No route matches". Errors are Zammad's ``{"error", "error_human"}``: an unknown token answers
401 "Can't find User for Token", no credentials at all 403 "Authentication required"
(zammad/zammad:app/controllers/application_controller/authenticates.rb).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tests.emulators.base import INVALID_JSON, Emulator, Request, Response

TICKET = re.compile(r"^/api/v1/tickets/(\d+)$")
ARTICLE_TYPES = {"email", "phone", "web", "note", "sms", "chat", "fax", "twitter status", "facebook feed post"}
CONTENT_TYPES = {"text/plain", "text/html"}


@dataclass
class Ticket:
    id: int
    state: str = "closed"
    title: str = "Coffee machine leaks"
    tags: list[str] = field(default_factory=list)
    attributes: dict[str, object] = field(default_factory=dict)
    articles: list[dict] = field(default_factory=list)

    def as_json(self) -> dict:
        return {"id": self.id, "title": self.title, "state": self.state, **self.attributes}


class ZammadEmulator(Emulator):
    """Keeps tickets, records every call, and can be told to answer the next call(s) with 429 or 5xx."""

    def __init__(self, token: str = "zammad-token") -> None:
        super().__init__()
        self.token = token
        self.tickets: dict[int, Ticket] = {}
        self.attribute_names: set[str] = set()  # custom object attributes defined on tickets

    # --- test controls -------------------------------------------------------------------------------------------
    def add_ticket(self, ticket_id: int, **attributes) -> Ticket:
        self.tickets[ticket_id] = Ticket(id=ticket_id, **attributes)
        return self.tickets[ticket_id]

    def error_body(self, status: int) -> dict:
        if status == 429:
            return {"error": "Too many requests"}
        return {"error": "Error ID emu: Please contact your administrator."}

    # --- the API ---------------------------------------------------------------------------------------------------
    def handle(self, request: Request, body) -> Response:
        header = request.headers.get("Authorization", "")
        if not header:
            return _error(403, "Authentication required")
        if header != f"Token token={self.token}":
            return _error(401, "Can't find User for Token")
        if body is INVALID_JSON:
            return _error(422, "Unable to parse the JSON body")
        return self._route(request.method, request.path, request.query, body)

    def _route(self, method: str, path: str, query: dict, body) -> Response:
        if path == "/api/v1/tags" and method == "GET":
            return self._list_tags(query)
        if path == "/api/v1/tags/add" and method == "POST":
            return self._change_tag(body, add=True)
        if path == "/api/v1/tags/remove" and method == "DELETE":
            return self._change_tag(body, add=False)
        if path == "/api/v1/ticket_articles" and method == "POST":
            return self._create_article(body)
        if (match := TICKET.match(path)) and method == "PUT":
            return self._update_ticket(int(match.group(1)), body)
        return _error(404, f"No route matches [{method}] {path!r}")

    def _ticket(self, value) -> Ticket | None:
        try:
            return self.tickets.get(int(value))
        except (TypeError, ValueError):
            return None

    def _list_tags(self, query: dict) -> Response:
        if query.get("object") != ["Ticket"]:
            return _error(422, "Need object and o_id")
        ticket = self._ticket((query.get("o_id") or [None])[0])
        if ticket is None:
            return _error(404, "Couldn't find Ticket")
        return 200, {"tags": list(ticket.tags)}, {}

    def _change_tag(self, body, *, add: bool) -> Response:
        if not isinstance(body, dict) or body.get("object") != "Ticket" or not str(body.get("item") or "").strip():
            return _error(422, "Need object, o_id and item")
        ticket = self._ticket(body.get("o_id"))
        if ticket is None:
            return _error(404, f"Couldn't find Ticket with 'id'={body.get('o_id')}")
        item = str(body["item"]).strip()
        if add and item not in ticket.tags:
            ticket.tags.append(item)
        if not add:
            ticket.tags = [t for t in ticket.tags if t != item]
        return 201, True, {}

    def _update_ticket(self, ticket_id: int, body) -> Response:
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            return _error(404, f"Couldn't find Ticket with 'id'={ticket_id}")
        if not isinstance(body, dict):
            return _error(422, "Need a JSON object")
        allowed = {"title", "state", "priority", "group", "owner_id", "article"}
        unknown = sorted(set(body) - self.attribute_names - allowed)
        if unknown:
            return _error(422, f"unknown attribute '{unknown[0]}' for Ticket.")
        if "article" in body:
            article = body["article"]
            created = self._create_article({**article, "ticket_id": ticket_id} if isinstance(article, dict) else None)
            if created[0] != 201:
                return created
        if isinstance(body.get("state"), str):
            ticket.state = body["state"]
        ticket.attributes.update({k: v for k, v in body.items() if k in self.attribute_names})
        return 200, ticket.as_json(), {}

    def _create_article(self, body) -> Response:
        if not isinstance(body, dict):
            return _error(422, "Need a JSON object")
        ticket = self._ticket(body.get("ticket_id"))
        if ticket is None:
            return _error(422, "Need ticket_id")
        if not str(body.get("body") or "").strip():
            return _error(422, 'Need at least article: { body: "some text" }')
        if body.get("type", "note") not in ARTICLE_TYPES or body.get("content_type", "text/plain") not in CONTENT_TYPES:
            return _error(422, "Invalid type or content_type")
        article = {
            "id": 200 + sum(len(t.articles) for t in self.tickets.values()),
            "ticket_id": ticket.id,
            "body": body["body"],
            "subject": body.get("subject"),
            "type": body.get("type", "note"),
            "internal": bool(body.get("internal", False)),
            "content_type": body.get("content_type", "text/plain"),
            "sender": "Agent",
        }
        ticket.articles.append(article)
        return 201, article, {}


def _error(status: int, message: str) -> Response:
    return status, {"error": message, "error_human": message}, {}
