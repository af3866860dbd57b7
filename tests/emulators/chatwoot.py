"""A Chatwoot Application API emulator on loopback: only the endpoints Chatwoot documents that OpenCSAT uses.

Every endpoint, and where it is documented (base /api/v1/accounts/{account_id}, header `api_access_token`):
- GET /agents: https://developers.chatwoot.com/api-reference/agents/list-agents-in-account (a JSON array).
- GET /conversations/{display_id}: https://developers.chatwoot.com/api-reference/conversations/conversation-details.
- GET /conversations/{id}/messages: https://developers.chatwoot.com/api-reference/messages/get-messages
  (`{meta, payload: [...]}`, each message as chatwoot/chatwoot:app/views/api/v1/models/_message.json.jbuilder).
- POST /conversations/{id}/messages: https://developers.chatwoot.com/api-reference/messages/create-new-message.
- GET|POST /conversations/{id}/labels: https://developers.chatwoot.com/api-reference/conversations/list-labels and
  add-labels; POST replaces the whole list (app/controllers/api/v1/accounts/conversations/labels_controller.rb).
- POST /conversations/{id}/custom_attributes: https://developers.chatwoot.com/api-reference/conversations/
  update-custom-attributes; assigns the whole hash (ConversationsController#custom_attributes).
Anything else is 404 {"error": "Resource could not be found"}, as Chatwoot answers an unknown route or record; a bad
token answers 401 {"error": "Invalid Access Token"}.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tests.emulators.base import INVALID_JSON, Emulator, Request, Response

ROUTE = re.compile(r"^/api/v1/accounts/(\d+)(/.*)$")
CONVERSATION = re.compile(r"^/conversations/(\d+)(/labels|/custom_attributes|/messages|/toggle_status)?$")
MESSAGE_TYPES = {"incoming": 0, "outgoing": 1, "template": 3}  # as Message.message_type enumerates them


@dataclass
class Conversation:
    id: int
    status: str = "resolved"
    labels: list[str] = field(default_factory=list)
    custom_attributes: dict = field(default_factory=dict)
    messages: list[dict] = field(default_factory=list)

    def as_json(self, account_id: int) -> dict:
        return {
            "id": self.id,
            "account_id": account_id,
            "status": self.status,
            "labels": list(self.labels),
            "custom_attributes": dict(self.custom_attributes),
        }


class ChatwootEmulator(Emulator):
    """Keeps one account's conversations and agents, records every call, can be told to fail the next call(s)."""

    methods = Emulator.methods | {"PATCH"}

    def __init__(self, account_id: int = 3, token: str = "cw-token") -> None:
        super().__init__()
        self.account_id, self.token = account_id, token
        self.conversations: dict[int, Conversation] = {}
        self.agents: list[dict] = []

    def add_conversation(self, display_id: int, **fields) -> Conversation:
        self.conversations[display_id] = Conversation(id=display_id, **fields)
        return self.conversations[display_id]

    def handle(self, request: Request, body) -> Response:
        if request.headers.get("api_access_token") != self.token:
            return 401, {"error": "Invalid Access Token"}, {}
        if body is INVALID_JSON:
            return 400, {"error": "Malformed JSON body"}, {}
        match = ROUTE.match(request.target)
        if match is None or int(match.group(1)) != self.account_id:
            return 404, {"error": "Resource could not be found"}, {}
        return self._route(request.method, match.group(2), body)

    def _route(self, method: str, path: str, body) -> Response:
        if path == "/agents" and method == "GET":
            return 200, list(self.agents), {}
        match = CONVERSATION.match(path)
        conversation = self.conversations.get(int(match.group(1))) if match else None
        if conversation is None:
            return 404, {"error": "Resource could not be found"}, {}
        action = (match.group(2) or "", method)
        if action == ("", "GET"):
            return 200, conversation.as_json(self.account_id), {}
        if action == ("/labels", "GET"):
            return 200, {"payload": list(conversation.labels)}, {}
        if action == ("/labels", "POST"):
            labels = body.get("labels") if isinstance(body, dict) else None
            if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
                return 422, {"error": "labels must be a list of strings"}, {}
            conversation.labels = list(labels)
            return 200, {"payload": list(conversation.labels)}, {}
        if action == ("/custom_attributes", "POST"):
            attributes = body.get("custom_attributes") if isinstance(body, dict) else None
            if not isinstance(attributes, dict):
                return 422, {"error": "custom_attributes must be an object"}, {}
            conversation.custom_attributes = dict(attributes)
            return 200, {"custom_attributes": conversation.custom_attributes}, {}
        if action == ("/messages", "GET"):
            meta = {"labels": list(conversation.labels), "additional_attributes": {}, "contact_id": 12}
            return 200, {"meta": meta, "payload": [dict(m) for m in conversation.messages]}, {}
        if action == ("/messages", "POST"):
            return self._add_message(conversation, body)
        if action == ("/toggle_status", "POST"):
            status = body.get("status") if isinstance(body, dict) else None
            if status not in ("open", "resolved", "pending", "snoozed"):
                return 422, {"error": "status must be one of open, resolved, pending, snoozed"}, {}
            conversation.status = status
            return 200, {"meta": {}, "payload": {"success": True, "current_status": status}}, {}
        return 404, {"error": "Resource could not be found"}, {}

    def _add_message(self, conversation: Conversation, body) -> Response:
        if not isinstance(body, dict) or not str(body.get("content") or "").strip():
            return 422, {"error": "Content can't be blank"}, {}
        if body.get("message_type", "outgoing") not in MESSAGE_TYPES:
            return 422, {"error": f"message_type {body.get('message_type')!r} is not valid"}, {}
        message = {
            "id": 1000 + len(conversation.messages),
            "content": body["content"],
            "conversation_id": conversation.id,
            "message_type": MESSAGE_TYPES[body.get("message_type", "outgoing")],
            "content_type": body.get("content_type", "text"),
            "private": bool(body.get("private", False)),
            "content_attributes": dict(body.get("content_attributes") or {}),  # input_select items, as posted
            "sender": {"id": 99, "name": "OpenCSAT token owner", "type": "user"},
        }
        conversation.messages.append(message)
        return 200, message, {}
