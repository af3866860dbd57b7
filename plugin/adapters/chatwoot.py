"""Chatwoot: the account webhook `conversation_status_changed` in, the Application API out.

Sources, and what each one settles:
- Events and body: chatwoot/chatwoot:app/listeners/webhook_listener.rb@03df4e06059283ba1dd8dccb4bbab6d30bd037d9
  (the body is `conversation.webhook_data` merged with `event` and `changed_attributes`), whose fields come from
  app/presenters/conversations/event_data_presenter.rb@01ff5794a6e6ecee3af20ad58e7cd6d26462229f: `id` is the
  conversation's display id, `status`, `meta.sender` (the contact: id, name, email), `meta.assignee`, `meta.team`,
  `messages[last]` (with `account_id`), `updated_at`/`timestamp` (epoch seconds). Sample payloads:
  chatwoot/docs:docs/product/others/webhook-events.md (also the older `conversation_resolved`/`conversation_opened`).
- `meta.assignee` is `assigned_entity&.push_event_data` with `meta.assignee_type` ("User" or "AgentBot"). A user's
  push_event_data is id, name, available_name, type "user", no email (app/models/user.rb); an AgentBot's is id,
  name, avatar_url, type "agent_bot" (app/models/agent_bot.rb@07e5420db4572796b4c9e09cacd754d58d606ef0). Bot and
  user ids are separate sequences, so a bot is never looked up among the agents: it is credited as an agent of its
  own kind (`agent_bot:<id>`, option bot_attribution=bot, the default) or, with bot_attribution=last_human, to the
  last human who replied publicly (sender type "user" in the conversation's messages), else to nobody.
- A solved event is completed by a job (`lookup`): GET .../conversations/{id}/messages (`{meta, payload}`, each
  message per app/views/api/v1/models/_message.json.jbuilder) and, for a human assignee, GET .../agents for the
  email. A conversation that already carries Chatwoot's own CSAT survey (a message with content_type
  "input_csat", created by app/services/message_templates/template/csat_survey.rb when the inbox has
  csat_survey_enabled) is skipped with reason `helpdesk_survey`: the customer is not asked twice.
- Signature: `X-Chatwoot-Signature: sha256=<hex HMAC-SHA256(secret, "<X-Chatwoot-Timestamp>." + raw body)>`,
  added by https://github.com/chatwoot/chatwoot/pull/13573. `X-Chatwoot-Delivery` is not covered by the HMAC, so
  the dedupe key comes from the signed body (display id, status, `updated_at` with its fraction of a second: a
  retry resends the same serialized payload, a new resolve has a new `updated_at`). Older versions sign nothing:
  `--option unsigned=true` accepts unsigned deliveries, the account key in the URL being the only secret, and only
  while the account has no webhook secret: once a secret is set every delivery must be signed.
- Write-back, header `api_access_token`: private note POST .../conversations/{id}/messages
  {content, message_type: "outgoing", private: true}
  (https://developers.chatwoot.com/api-reference/messages/create-new-message); labels POST .../labels {labels}
  sets the whole list (app/controllers/api/v1/accounts/conversations/labels_controller.rb with LabelConcern), so
  we GET .../labels ({"payload": [...]}) and post the merged list; custom attributes POST .../custom_attributes
  assigns the whole hash (`@conversation.custom_attributes = params.permit(custom_attributes: {})...` in
  conversations_controller.rb), so we GET the conversation and post the merged hash.
- 429 from Rack::Attack (config/initializers/rack_attack.rb@01945da9b169783584670bf302e9b27d45310252), usually
  without Retry-After: exponential backoff, Retry-After when present.

Options: account_id (else taken from the event), custom_attribute (a conversation custom attribute key that gets
the score), unsigned (true for Chatwoot versions that do not sign webhooks; refused while a secret is set),
bot_attribution (bot, the default, or last_human).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from plugin.adapters.base import (
    REOPEN,
    AccountCredentials,
    RatingReport,
    WriteBackError,
    api_base,
    follow_up_text,
    is_our_tag,
    note_text,
    send,
)
from plugin.events import IGNORED, REOPENED, SOLVED, Person, TicketEvent
from plugin.jsonbody import parse_datetime, parse_object, require
from plugin.signing import SignatureError

SIGNATURE_HEADER = "X-Chatwoot-Signature"
TIMESTAMP_HEADER = "X-Chatwoot-Timestamp"
BOT_PREFIX = "agent_bot:"
OUTGOING = 1  # Message.message_type as the API renders it
CSAT_SURVEY = "input_csat"
TOLERANCE_SECONDS = 300
STATUS_EVENTS = {"resolved": SOLVED, "open": REOPENED}
LEGACY_EVENTS = {"conversation_resolved": SOLVED, "conversation_opened": REOPENED}
CONVERSATION_PATH = re.compile(r"/app/accounts/(\d+)/conversations/")


class ChatwootAdapter:
    name = "chatwoot"

    def verify(self, credentials: AccountCredentials, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        signature, timestamp = headers.get(SIGNATURE_HEADER), headers.get(TIMESTAMP_HEADER)
        if not signature:
            if credentials.webhook_secret:
                raise SignatureError(f"missing {SIGNATURE_HEADER} header; this account has a webhook secret")
            if _truthy(credentials.options.get("unsigned")):
                return  # opted in, no secret: the unguessable account key in the URL is the only secret
            raise SignatureError(
                f"missing {SIGNATURE_HEADER} header (Chatwoot before webhook signing: --option unsigned=true)"
            )
        if not credentials.webhook_secret:
            raise SignatureError(
                "this account has no webhook secret; set the one Chatwoot shows with accounts update --webhook-secret"
            )
        if not timestamp or not timestamp.strip().isdigit():
            raise SignatureError(f"missing or malformed {TIMESTAMP_HEADER} header (unix seconds)")
        if abs(now.timestamp() - int(timestamp)) > TOLERANCE_SECONDS:
            raise SignatureError("signature timestamp is more than 5 minutes away from our clock")
        digest = hmac.new(credentials.webhook_secret.encode(), timestamp.strip().encode() + b"." + body, hashlib.sha256)
        if not hmac.compare_digest(f"sha256={digest.hexdigest()}".encode(), signature.strip().encode()):
            raise SignatureError("signature does not match the body and the account's secret")

    def parse(
        self, headers: Mapping[str, str], body: bytes, options: Mapping | None = None, now: datetime | None = None
    ) -> TicketEvent:
        data = parse_object(body)
        require(data, "event", "id")
        status = str(data.get("status") or "")
        if data["event"] == "conversation_status_changed":
            kind = STATUS_EVENTS.get(status, IGNORED)
        else:
            kind = LEGACY_EVENTS.get(data["event"], IGNORED)
        changed = data.get("updated_at") or data.get("timestamp")
        meta = _object(data.get("meta"))
        sender, assignee, team = _object(meta.get("sender")), _object(meta.get("assignee")), _object(meta.get("team"))
        account_id = _account_id(data)
        return TicketEvent(
            kind=kind,
            dedupe_key=f"conversation:{data['id']}:{status}:{changed}",
            ticket_id=str(data["id"]),
            occurred_at=_time(changed),
            # Relative until the job knows the installation's URL (lookup); it carries the account id there.
            url=f"/app/accounts/{account_id}/conversations/{data['id']}" if account_id else None,
            requester=Person(email=_text(sender.get("email")), name=_text(sender.get("name"))),
            assignee=_assignee(assignee, meta.get("assignee_type")),
            group=_text(team.get("name")),
            tags=tuple(str(label) for label in data.get("labels") or () if isinstance(label, str)),
            needs_lookup=kind == SOLVED,
            # The body's `messages` is the last chat message; it is Chatwoot's survey when that went out first.
            skip_reason="helpdesk_survey" if _has_csat_survey(data.get("messages")) else None,
        )

    def lookup(self, credentials: AccountCredentials, event: TicketEvent) -> TicketEvent:
        """Chatwoot's own survey, the agent's email (not in the webhook), the full URL; degrades, never blocks."""
        url = event.url
        if url and url.startswith("/") and credentials.api_url:
            url = credentials.api_url.rstrip("/") + url
        assignee, skip = event.assignee, None
        if credentials.api_token:
            api = _Api(credentials, event.url)
            messages = _payload(_tolerant(api, f"/conversations/{event.ticket_id}/messages"))
            if _has_csat_survey(messages):
                skip = "helpdesk_survey"
            if _is_bot(assignee) and credentials.options.get("bot_attribution") == "last_human":
                assignee = _last_human(messages)
            if assignee.id and not assignee.email and not _is_bot(assignee):
                agents = _tolerant(api, "/agents")
                found = next((a for a in agents if isinstance(a, dict) and str(a.get("id")) == assignee.id), None)
                if found:
                    assignee = replace(
                        assignee, email=_text(found.get("email")), name=assignee.name or found.get("name")
                    )
        return replace(event.completed(event.requester, assignee), url=url, skip_reason=skip or event.skip_reason)

    def write_back(self, credentials: AccountCredentials, report: RatingReport) -> None:
        api = _Api(credentials, report.ticket_url)
        conversation = f"/conversations/{report.ticket_id}"
        labels = [str(label) for label in api.call("GET", f"{conversation}/labels").get("payload") or []]
        wanted = [label for label in labels if not is_our_tag(label)] + [report.tag]
        if sorted(wanted) != sorted(labels):
            api.call("POST", f"{conversation}/labels", json={"labels": wanted})
        key = credentials.options.get("custom_attribute")
        if key:
            current = _object(api.call("GET", conversation).get("custom_attributes"))
            if current.get(key) != report.score:
                attributes = {**current, key: report.score}
                api.call("POST", f"{conversation}/custom_attributes", json={"custom_attributes": attributes})
        # Last, so that a retry after a failed label or attribute call never posts the note twice.
        note = {"content": note_text(report), "message_type": "outgoing", "private": True}
        api.call("POST", f"{conversation}/messages", json=note)

    def follow_up(self, credentials: AccountCredentials, report: RatingReport, action: str) -> None:
        """Reopen with toggle_status, then a private note.

        https://www.chatwoot.com/developers/api/#tag/Conversations/operation/toggle-status-of-a-conversation
        """
        api = _Api(credentials, report.ticket_url)
        conversation = f"/conversations/{report.ticket_id}"
        if action == REOPEN:
            api.call("POST", f"{conversation}/toggle_status", json={"status": "open"})
        note = {"content": follow_up_text(report, action), "message_type": "outgoing", "private": True}
        api.call("POST", f"{conversation}/messages", json=note)


class _Api:
    """Calls to one Chatwoot account's Application API with an agent's (or bot's) access token."""

    def __init__(self, credentials: AccountCredentials, ticket_url: str | None) -> None:
        if not credentials.api_token:
            raise WriteBackError("this account has no Chatwoot access token (--api-token)", retryable=False)
        root = api_base(credentials, "https://app.chatwoot.com (your Chatwoot installation)")
        found = CONVERSATION_PATH.search(ticket_url or "")
        account_id = str(credentials.options.get("account_id") or (found.group(1) if found else ""))
        if not account_id.isdigit():
            raise WriteBackError("no Chatwoot account id: set --option account_id=<id>", retryable=False)
        self.base = f"{root}/api/v1/accounts/{account_id}"
        self.headers = {"api_access_token": credentials.api_token, "Accept": "application/json"}

    def call(self, method: str, path: str, **kwargs):
        response = send(method, self.base + path, headers={**self.headers, "User-Agent": "OpenCSAT"}, **kwargs)
        try:
            return response.json() if response.content else {}
        except ValueError as exc:
            raise WriteBackError(f"{method} {path}: Chatwoot answered with non-JSON", retryable=True) from exc


def _assignee(assignee: dict, assignee_type: object) -> Person:
    """The human agent, or the AgentBot as an agent of its own kind (its id is not a user id)."""
    name = _text(assignee.get("name")) or _text(assignee.get("available_name"))
    if assignee.get("type") == "agent_bot" or assignee_type == "AgentBot":
        bot_id = _text(assignee.get("id"))
        return Person(id=f"{BOT_PREFIX}{bot_id}" if bot_id else None, name=name)
    return Person(id=_text(assignee.get("id")), email=_text(assignee.get("email")), name=name)


def _has_csat_survey(messages: object) -> bool:
    return isinstance(messages, list) and any(
        isinstance(m, dict) and m.get("content_type") == CSAT_SURVEY for m in messages
    )


def _is_bot(person: Person) -> bool:
    return bool(person.id and person.id.startswith(BOT_PREFIX))


def _last_human(messages: list) -> Person:
    """The human agent who last replied to the customer (a public outgoing message sent by a user), or nobody."""
    for message in reversed(messages):
        sender = _object(message.get("sender")) if isinstance(message, dict) else {}
        if sender.get("type") == "user" and message.get("message_type") == OUTGOING and not message.get("private"):
            return Person(id=_text(sender.get("id")), name=_text(sender.get("name")))
    return Person()


def _tolerant(api: _Api, path: str):
    """A lookup call whose permanent refusal (a 404, a bad token) leaves the event as it is; transient ones retry."""
    try:
        return api.call("GET", path)
    except WriteBackError as exc:
        if exc.retryable:
            raise
        return []


def _payload(answer: object) -> list:
    payload = answer.get("payload") if isinstance(answer, dict) else answer
    return payload if isinstance(payload, list) else []


def _account_id(data: dict) -> str | None:
    account = _object(data.get("account"))
    if account.get("id") is not None:
        return str(account["id"])
    for message in data.get("messages") or []:
        if isinstance(message, dict) and message.get("account_id") is not None:
            return str(message["account_id"])
    return None


def _object(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    return str(value).strip() or None


def _truthy(value: object) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _time(value: object) -> datetime | None:
    return parse_datetime(value, "updated_at") if isinstance(value, (int, float)) else None


ADAPTER = ChatwootAdapter()
