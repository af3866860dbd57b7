"""Freshdesk: an automation rule's "Trigger webhook" action with the JSON body the admin pastes, and a secret header.

Admin guide: docs/platforms/freshdesk.md. Sources for every format fact used here:

- The rule action "Trigger Webhook" (request type, callback URL, custom headers, encoding JSON, content Simple or
  Advanced with placeholders {{ticket.id}}, {{ticket.url}}, {{ticket.subject}}, {{ticket.status}},
  {{ticket.requester.name}}, {{ticket.requester.email}}, {{triggered_event}}) and the rendered body
  ``{"freshdesk_webhook": {"triggered_event": "{status:{from:4,to:6}}", "ticket_id": "11", "ticket_status":
  "Waiting on Customer", ...}}``: zulip/zulip:zerver/webhooks/freshdesk/doc.md and
  zulip/zulip:zerver/webhooks/freshdesk/fixtures/status_changed.json; Freshdesk's own guide
  https://support.freshdesk.com/support/solutions/articles/132589-using-webhooks-in-automation-rules.
- The requester's phone: ``requester_mobile`` / ``requester_phone`` from ``{{ticket.requester.mobile}}`` and
  ``{{ticket.requester.phone}}`` (the contact's ``mobile`` and ``phone``, https://developers.freshdesk.com/api/#contacts;
  the placeholders are in Freshdesk's placeholder list, "Requester" section, and rendered as free text like the
  others: an ASSUMPTION from the same captures). Mobile first: it is the one that takes an SMS.
- Freshdesk signs nothing and sends no delivery id; the admin adds a secret header, which we compare in constant time.
- Dedupe. ``{{ticket.updated_at}}`` is in none of Freshdesk's placeholder lists (ASSUMPTION that it renders at all;
  the guide no longer asks for it). When the body carries a real time there, the key is ticket + status change +
  that time. Otherwise it is the SHA-256 of the body (authenticated by the secret header) plus the 5-minute window
  the delivery arrived in: a repeat inside the window is a duplicate, a re-solve in a later window is a new event.
  A re-solve whose identical body arrives inside the same 5 minutes as the first solve is taken as a repeat (the
  documented limit of this rule).
- ASSUMPTION: the keys of the rule's **Simple** content mode are not documented (every real capture we know of,
  zulip's included, uses Advanced content), so only the Advanced body of the guide is supported. Freshdesk does not
  JSON-escape placeholder values either (ASSUMPTION from the same captures): a subject with `"` breaks the body.
- Status codes 2 Open, 3 Pending, 4 Resolved, 5 Closed: https://developers.freshdesk.com/api/#tickets.
- Write-back: Basic auth ``api_key:X`` (https://support.freshdesk.com/support/solutions/articles/216548);
  ``GET``/``PUT /api/v2/tickets/{id}`` where ``tags`` in the PUT replaces the whole list and custom fields are
  ``custom_fields: {"cf_<name>": value}``; private note ``POST /api/v2/tickets/{id}/notes`` ``{body (HTML), private:
  true}`` (https://developers.freshdesk.com/api/#update_ticket, #add_note_to_a_ticket; PipedreamHQ/pipedream
  components/freshdesk/actions/add-note-to-ticket).
- 429 with ``Retry-After`` seconds (https://developers.freshdesk.com/api/#ratelimit).
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from requests.auth import HTTPBasicAuth

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
from plugin.channels import phones
from plugin.events import IGNORED, REOPENED, SOLVED, PayloadError, Person, TicketEvent
from plugin.jsonbody import parse_datetime, parse_object, require
from plugin.signing import verify_shared_secret

DEDUPE_WINDOW_SECONDS = 300
OPEN, RESOLVED, CLOSED = 2, 4, 5
DONE = {RESOLVED, CLOSED}
# {{ticket.status}} renders the status's label; used only when {{triggered_event}} names no status change.
DONE_LABELS = {"resolved", "closed"}
TRIGGERED_STATUS = re.compile(r"status\s*:\s*\{\s*from\s*:\s*(\d+)\s*,\s*to\s*:\s*(\d+)\s*\}")
LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")


class FreshdeskAdapter:
    name = "freshdesk"

    def verify(self, credentials: AccountCredentials, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        verify_shared_secret(credentials.webhook_secret, headers, "the rule's webhook as a custom header")

    def parse(
        self, headers: Mapping[str, str], body: bytes, options: Mapping | None = None, now: datetime | None = None
    ) -> TicketEvent:
        data = parse_object(body)
        require(data, "freshdesk_webhook.ticket_id")
        hook = data["freshdesk_webhook"]
        change = TRIGGERED_STATUS.search(str(hook.get("triggered_event") or ""))
        kind = _kind(change, _str(hook.get("ticket_status")))
        transition = f"{change.group(1)}-{change.group(2)}" if change else str(hook.get("ticket_status") or "")
        ticket_id = str(hook["ticket_id"]).strip()
        updated_at = _optional_time(_str(hook.get("ticket_updated_at")) or "")
        if updated_at is not None:
            dedupe_key = f"ticket:{ticket_id}:status:{transition}:updated:{updated_at.isoformat()}"
        else:
            window = int((now or datetime.now(UTC)).timestamp() // DEDUPE_WINDOW_SECONDS)
            dedupe_key = f"ticket:{ticket_id}:status:{transition}:body:{hashlib.sha256(body).hexdigest()[:32]}:{window}"
        return TicketEvent(
            kind=kind,
            dedupe_key=dedupe_key[:200],
            ticket_id=ticket_id,
            occurred_at=updated_at,
            subject=str(hook.get("ticket_subject") or ""),
            url=_str(hook.get("ticket_url")),
            requester=Person(
                email=_str(hook.get("requester_email")),
                name=_str(hook.get("requester_name")),
                locale=_locale(hook.get("requester_language")),
                phone=phones.pick((hook.get("requester_mobile"), hook.get("requester_phone")), options),
            ),
            assignee=Person(
                id=_str(hook.get("agent_id")),
                email=_str(hook.get("agent_email")),
                name=_str(hook.get("agent_name")),
            ),
            group=_str(hook.get("group_name")),
            tags=tuple(tag.strip() for tag in str(hook.get("ticket_tags") or "").split(",") if tag.strip()),
        )

    def write_back(self, credentials: AccountCredentials, report: RatingReport) -> None:
        base, auth = api_base(credentials, "https://<domain>.freshdesk.com"), _auth(credentials)
        ticket_url = f"{base}/api/v2/tickets/{report.ticket_id}"
        # The PUT replaces the whole tag list: read it, keep everything that is not ours, put ours in.
        current = send("GET", ticket_url, auth=auth, headers=_HEADERS).json().get("tags") or []
        tags = [tag for tag in current if not is_our_tag(tag)] + [report.tag]
        update: dict = {}
        if tags != current:
            update["tags"] = tags
        field = credentials.options.get("custom_field")
        if field:
            update["custom_fields"] = {str(field): report.score}
        if update:
            send("PUT", ticket_url, auth=auth, headers=_HEADERS, json=update)
        # The note last: a retry after a failed tag update never writes it twice.
        body = html.escape(note_text(report)).replace("\n", "<br>")
        send("POST", f"{ticket_url}/notes", auth=auth, headers=_HEADERS, json={"body": body, "private": True})

    def follow_up(self, credentials: AccountCredentials, report: RatingReport, action: str) -> None:
        """Status Open (2) when reopening, then a private note.

        https://developers.freshdesk.com/api/#update_ticket and https://developers.freshdesk.com/api/#add_note_to_a_ticket
        """
        base, auth = api_base(credentials, "https://<domain>.freshdesk.com"), _auth(credentials)
        ticket_url = f"{base}/api/v2/tickets/{report.ticket_id}"
        if action == REOPEN:
            send("PUT", ticket_url, auth=auth, headers=_HEADERS, json={"status": OPEN})
        body = html.escape(follow_up_text(report, action)).replace("\n", "<br>")
        send("POST", f"{ticket_url}/notes", auth=auth, headers=_HEADERS, json={"body": body, "private": True})


_HEADERS = {"Accept": "application/json", "User-Agent": "OpenCSAT"}


def _kind(change: re.Match | None, status_label: str | None) -> str:
    """Resolved or closed from an open state is a solve; leaving resolved/closed is a reopen; the rest is ignored."""
    if change:
        before, after = int(change.group(1)), int(change.group(2))
        if after in DONE and before not in DONE:
            return SOLVED
        if before in DONE and after not in DONE:
            return REOPENED
        return IGNORED
    label = (status_label or "").lower()
    if label in DONE_LABELS:
        return SOLVED
    if label == "open":
        return REOPENED
    return IGNORED


def _str(value: object) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def _locale(value: object) -> str | None:
    text = _str(value)
    return text if text and LOCALE.match(text) else None


def _optional_time(value: str) -> datetime | None:
    try:
        return parse_datetime(value or None, "ticket_updated_at")
    except PayloadError:
        return None


def _auth(credentials: AccountCredentials) -> HTTPBasicAuth:
    if not credentials.api_token:
        raise WriteBackError("this account has no Freshdesk API key; set --api-token", retryable=False)
    return HTTPBasicAuth(credentials.api_token, "X")


ADAPTER = FreshdeskAdapter()
