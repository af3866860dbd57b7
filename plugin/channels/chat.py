"""In-chat surveys on Chatwoot: the question posted into a resolved live-chat or messaging conversation with
selectable options, the choice read from the message webhook, the follow-up asked the same way.

Sources:
- POST /api/v1/accounts/{account_id}/conversations/{id}/messages with content_type "input_select" and
  content_attributes {"items": [{"title", "value"}]} (only those two keys): chatwoot/chatwoot
  swagger/definitions/request/conversation/create_message_payload.yml, app/models/concerns/
  content_attribute_validator.rb (ALLOWED_SELECT_ITEM_KEYS).
- The widget's choice comes back as `message_updated` with content_attributes.submitted_values [{title, value}]
  (app/listeners/webhook_listener.rb; the widget's messages controller); on WhatsApp and other messaging inboxes
  Chatwoot turns input_select into buttons or a list and the tap comes back as an incoming `message_created` whose
  content is the *title* (app/services/whatsapp/incoming_message_service_helpers.rb), so every title starts with
  its digit.
- Chatwoot's own CSAT is a message of content_type "input_csat", one per conversation
  (app/services/csat_survey_service.rb): a conversation holding one is not surveyed again.
- Webhook signature as for the account's other Chatwoot webhooks (plugin/adapters/chatwoot.py).
Assumption: GET .../conversations/{id}/messages answers {"payload": [messages]} (the messages controller's index
view); docs/channels.md lists it.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import requests

from plugin import egress, i18n
from plugin.adapters.base import AccountCredentials
from plugin.channels.base import (
    Choice,
    InboundRequest,
    Outgoing,
    PayloadError,
    ProviderConfig,
    Reply,
    SendError,
    Sent,
    SignatureError,
    Status,
    http_error,
)
from plugin.models import Survey
from plugin.surveys.scales import Scale

ACCOUNT_IN_URL = re.compile(r"/app/accounts/(\d+)/conversations/")
MAX_ITEMS = 10  # a WhatsApp list's cap, which Chatwoot's rendering inherits


def compose(survey: Survey, scale: Scale, locale: str, question: str | None) -> Outgoing:
    text = question or i18n.gettext(locale, scale.question)
    choices = tuple(
        Choice(str(point.score), f"{point.score} - {i18n.gettext(locale, point.label)}"[:24]) for point in scale.points
    )
    return Outgoing(
        to=survey.ticket_id,
        text=text,
        choices=choices if len(choices) <= MAX_ITEMS else (),
        conversation=survey.ticket_id,
        reference=f"survey-{survey.id}",
    )


def account_id_of(ticket_url: str | None, options) -> str | None:
    match = ACCOUNT_IN_URL.search(ticket_url or "")
    return str((options or {}).get("account_id") or (match.group(1) if match else "")) or None


class ChatProvider:
    name = "chatwoot"
    channel = "chat"

    def _base(self, config: ProviderConfig) -> str:
        if not config.api_url or not config.settings.get("account_id"):
            raise SendError("the Chatwoot account needs --api-url and its account id", permanent=True)
        return f"{config.api_url.rstrip('/')}/api/v1/accounts/{config.settings['account_id']}"

    def _call(self, config: ProviderConfig, method: str, path: str, body: dict | None = None) -> dict:
        headers = {"api_access_token": config.secrets.get("api_token") or "", "Content-Type": "application/json"}
        try:
            response = egress.request(
                method, self._base(config) + path, headers=headers, data=json.dumps(body) if body is not None else None
            )
        except (requests.RequestException, egress.EgressRefused) as exc:
            raise SendError(f"chatwoot: {exc}", permanent=isinstance(exc, egress.EgressRefused)) from exc
        if response.status_code >= 400:
            raise http_error("chatwoot", response, code=None, text=response.text[:300], permanent_codes={"": False})
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        return answer if isinstance(answer, dict) else {"payload": answer}

    def has_own_survey(self, config: ProviderConfig, conversation: str | None) -> bool:
        """Whether Chatwoot already put its own CSAT question into this conversation."""
        messages = self._call(config, "GET", f"/conversations/{conversation}/messages").get("payload") or []
        return any(isinstance(m, dict) and m.get("content_type") == "input_csat" for m in messages)

    def send(self, config: ProviderConfig, message: Outgoing) -> Sent:
        body: dict = {"content": message.text, "message_type": "outgoing", "private": False}
        if message.choices:
            items = [{"title": choice.title, "value": choice.payload} for choice in message.choices]
            body |= {"content_type": "input_select", "content_attributes": {"items": items}}
        answer = self._call(config, "POST", f"/conversations/{message.conversation or message.to}/messages", body)
        if answer.get("id") is None:
            raise SendError("chatwoot answered without a message id", permanent=False)
        return Sent(str(answer["id"]), "sent")

    def verify(self, config: ProviderConfig, request: InboundRequest) -> None:
        from plugin.adapters.chatwoot import ADAPTER

        secret = config.secrets.get("webhook_secret")
        credentials = AccountCredentials(config.account_key, secret, None, None, None, {})
        if not secret:
            raise SignatureError("this Chatwoot account has no webhook secret")
        ADAPTER.verify(credentials, request.headers, request.body, datetime.now(UTC))

    def parse(self, config: ProviderConfig, request: InboundRequest) -> list[Reply | Status]:
        try:
            data = json.loads(request.body)
        except ValueError:
            raise PayloadError("the body is not JSON") from None
        if not isinstance(data, dict) or "event" not in data:
            raise PayloadError("event is missing")
        if data["event"] not in ("message_created", "message_updated"):
            return []
        conversation = data.get("conversation") if isinstance(data.get("conversation"), dict) else {}
        if not isinstance(data.get("id"), int | str) or not isinstance(conversation.get("id"), int | str):
            raise PayloadError("id and conversation.id are required")
        their, message_id = str(conversation.get("display_id") or conversation["id"]), str(data["id"])
        attributes = data.get("content_attributes") if isinstance(data.get("content_attributes"), dict) else {}
        submitted = attributes.get("submitted_values")
        if data["event"] == "message_updated" and isinstance(submitted, list) and submitted:
            first = submitted[0] if isinstance(submitted[0], dict) else {}
            value = str(first.get("value") or "")
            return [Reply(f"{message_id}:submitted:{value}", their, "", value, None, message_id)]
        if data["event"] == "message_created" and data.get("message_type") in ("incoming", 0):
            return [Reply(message_id, their, "", str(data.get("content") or ""))]
        return []


PROVIDER = ChatProvider()
