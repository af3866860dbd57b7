"""Zammad (self-hosted): a trigger's webhook in, the REST API with an access token out.

Admin guide: docs/platforms/zammad.md. Sources for every format fact used here:

- Delivery: a Trigger whose action is a Webhook; Zammad POSTs JSON with the headers ``X-Zammad-Trigger`` (trigger
  name), ``X-Zammad-Delivery`` (the job id) and ``X-Hub-Signature`` when the webhook has a signature token:
  zammad/zammad:app/jobs/trigger_webhook_job.rb and
  zammad/zammad-admin-documentation:manage/webhook/payload.rst (header list and a full sample body).
- Signature: ``X-Hub-Signature: sha1=<hex HMAC-SHA1(token, raw body)>``: zammad/zammad:lib/user_agent.rb
  (``set_signature``: ``OpenSSL::HMAC.hexdigest('sha1', options[:signature_token], request.body)``). Zammad sends no
  timestamp, so there is no replay window; replays are caught by the delivery id.
- Default body ``{"ticket": {...}, "article": {...}}``: ticket attributes with association names (``state``: the
  state's name such as "closed", ``title``, ``number``, ``updated_at``) plus the resolved ``owner``, ``customer``,
  ``group``, ``organization``, ``priority`` objects; user objects carry ``id``, ``email``, ``firstname``,
  ``lastname`` (no ``preferences``, so no locale); ``article`` is ``{}`` when the update added none:
  zammad/zammad:app/jobs/trigger_webhook_job/record_payload.rb, record_payload/base.rb, record_payload/ticket.rb.
  An unassigned ticket has owner id 1 (Zammad's system user "-", without email).
- The requester's phone: the customer's ``mobile``, else ``phone`` (user attributes ``phone``, ``fax``, ``mobile``,
  "" when unset: https://docs.zammad.org/en/latest/api/user.html; payload.rst's sample customer has
  ``"phone": "0061 2 1234 7777"``). Free text as the agent typed it: plugin/channels/phones.py reads it.
- Auth: ``Authorization: Token token=<token>`` (https://docs.zammad.org/en/latest/api-intro.html). Errors are
  ``{"error", "error_human"}``; an unknown token answers 401 "Can't find User for Token":
  zammad/zammad:app/controllers/application_controller/handles_errors.rb and .../authenticates.rb.
- Note: ``POST /api/v1/ticket_articles {"ticket_id", "body", "type": "note", "internal": true, "content_type":
  "text/plain"}`` (https://docs.zammad.org/en/latest/api/ticket/articles.html).
- Tags: ``GET /api/v1/tags?object=Ticket&o_id={id}``, ``POST /api/v1/tags/add`` and ``DELETE /api/v1/tags/remove``
  with ``{"object": "Ticket", "o_id", "item"}``, one tag per call, others untouched
  (https://docs.zammad.org/en/latest/api/ticket/tags.html).
- Custom field: ``PUT /api/v1/tickets/{id} {"<attribute name>": value}``: custom object attributes are top-level
  keys of the ticket (as in the webhook body, payload.rst above; ticket update:
  https://docs.zammad.org/en/latest/api/ticket/index.html, not re-read for this: an assumption).
- Rate limits are not documented for the REST API; a 429 (with or without Retry-After) and 5xx are retried.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime

import requests

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
from plugin.signing import SignatureError

SIGNATURE_HEADER = "X-Hub-Signature"
SOLVED_STATES = {"closed"}
REOPEN_STATES = {"open"}
SYSTEM_USER_ID = 1  # Zammad's "-" user: the owner of an unassigned ticket


class ZammadAdapter:
    name = "zammad"

    # --- events in -------------------------------------------------------------------------------------------------
    def verify(self, credentials: AccountCredentials, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        if not credentials.webhook_secret:
            raise SignatureError("this account has no webhook secret; set the Zammad webhook's HMAC SHA1 token")
        given = headers.get(SIGNATURE_HEADER)
        if not given:
            raise SignatureError(f"missing {SIGNATURE_HEADER} header (set a signature token on the Zammad webhook)")
        expected = "sha1=" + hmac.new(credentials.webhook_secret.encode(), body, hashlib.sha1).hexdigest()
        if not hmac.compare_digest(expected, given.strip()):
            raise SignatureError("signature does not match the body and the account's secret")

    def parse(
        self, headers: Mapping[str, str], body: bytes, options: Mapping | None = None, now: datetime | None = None
    ) -> TicketEvent:
        """The event; the account's `options` may add states (solved_states, reopen_states)."""
        options = options or {}
        data = parse_object(body)
        require(data, "ticket.id", "ticket.state")
        ticket, article = _object(data, "ticket"), _object(data, "article")
        state = _name_of(ticket.get("state")).lower()
        kind = IGNORED
        if state in SOLVED_STATES | _states(options, "solved_states"):
            kind = SOLVED
        elif state in REOPEN_STATES | _states(options, "reopen_states"):
            kind = REOPENED
        if kind == SOLVED and _is_our_note(article):
            kind = IGNORED  # our own write-back's note set off a trigger on the closed ticket
        customer, owner = _object(ticket, "customer"), _object(ticket, "owner")
        if owner.get("id") == SYSTEM_USER_ID or not owner.get("email"):
            owner = {}
        return TicketEvent(
            kind=kind,
            dedupe_key=_dedupe_key(ticket, state, body),
            ticket_id=str(ticket["id"]),
            occurred_at=parse_datetime(ticket.get("updated_at"), "ticket.updated_at"),
            subject=str(ticket.get("title") or ""),
            requester=Person(
                email=customer.get("email") or None,
                name=_full_name(customer),
                id=_id(customer),
                phone=phones.pick((customer.get("mobile"), customer.get("phone")), options),
            ),
            assignee=Person(id=_id(owner), email=owner.get("email"), name=_full_name(owner)),
            group=_name_of(ticket.get("group")) or None,
        )

    # --- ratings out -----------------------------------------------------------------------------------------------
    def write_back(self, credentials: AccountCredentials, report: RatingReport) -> None:
        """Our tag in, our older tags out, the custom field, then the internal note (last: it is not idempotent)."""
        base = api_base(credentials, "https://<your Zammad host>") + "/api/v1"
        if not credentials.api_token:
            raise WriteBackError("this account has no --api-token (a Zammad access token)", retryable=False)
        if not report.ticket_id.isdigit():
            raise WriteBackError(f"Zammad ticket ids are numbers, not {report.ticket_id!r}", retryable=False)
        headers = {
            "Authorization": f"Token token={credentials.api_token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "OpenCSAT",
        }
        ticket_id = int(report.ticket_id)
        current = _json(send("GET", f"{base}/tags", params={"object": "Ticket", "o_id": ticket_id}, headers=headers))
        tags = current.get("tags") if isinstance(current, dict) else None
        tags = [t for t in tags or () if isinstance(t, str)]
        tag_item = {"object": "Ticket", "o_id": ticket_id}
        if report.tag not in tags:
            send("POST", f"{base}/tags/add", json={**tag_item, "item": report.tag}, headers=headers)
        for old in tags:
            if is_our_tag(old) and old != report.tag:
                send("DELETE", f"{base}/tags/remove", json={**tag_item, "item": old}, headers=headers)
        field = str(credentials.options.get("custom_field") or "").strip()
        if field:
            send("PUT", f"{base}/tickets/{ticket_id}", json={field: report.score}, headers=headers)
        article = {
            "ticket_id": ticket_id,
            "subject": "Customer rating",
            "body": note_text(report),
            "type": "note",
            "internal": True,
            "content_type": "text/plain",
        }
        send("POST", f"{base}/ticket_articles", json=article, headers=headers)

    def follow_up(self, credentials: AccountCredentials, report: RatingReport, action: str) -> None:
        """An internal note; reopening puts the ticket in state "open" with the note in the same update.

        https://docs.zammad.org/en/latest/api/ticket/index.html#update and .../ticket/articles.html#create
        """
        base = api_base(credentials, "https://<your Zammad host>") + "/api/v1"
        if not credentials.api_token or not report.ticket_id.isdigit():
            raise WriteBackError("a Zammad follow-up needs --api-token and a numeric ticket id", retryable=False)
        headers = {"Authorization": f"Token token={credentials.api_token}", "Content-Type": "application/json"}
        article = {"subject": "Follow up", "body": follow_up_text(report, action), "type": "note", "internal": True}
        if action == REOPEN:
            send(
                "PUT", f"{base}/tickets/{report.ticket_id}", json={"state": "open", "article": article}, headers=headers
            )
        else:
            send(
                "POST", f"{base}/ticket_articles", json={**article, "ticket_id": int(report.ticket_id)}, headers=headers
            )


def _dedupe_key(ticket: dict, state: str, body: bytes) -> str:
    """From what the signature covers: the ticket's update stamp, else the whole body."""
    stamp = str(ticket.get("updated_at") or "").strip()
    if stamp:
        return f"ticket:{ticket['id']}:{state}:{stamp}"[:200]
    return f"body:{hashlib.sha256(body).hexdigest()}"


def _states(options: Mapping, key: str) -> set[str]:
    """A comma-separated option such as solved_states="closed,pending close" as a set of lower-case names."""
    return {part.strip().lower() for part in str(options.get(key) or "").split(",") if part.strip()}


def _is_our_note(article: dict) -> bool:
    body = str(article.get("body") or "")
    return (
        bool(article.get("internal"))
        and _name_of(article.get("type")) == "note"
        and body.startswith("Customer rating:")
    )


def _json(response: requests.Response):
    try:
        return response.json()
    except ValueError:
        raise WriteBackError(
            f"Zammad answered {response.url} with something that is not JSON", retryable=True
        ) from None


def _object(data: dict, name: str) -> dict:
    value = data.get(name)
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"{name} must be a JSON object")
    return value


def _name_of(value) -> str:
    """A state/group/type as Zammad sends it: a name, or an object with a name."""
    if isinstance(value, dict):
        value = value.get("name")
    return str(value or "").strip()


def _id(person: dict) -> str | None:
    return None if person.get("id") in (None, "") else str(person["id"])


def _full_name(person: dict) -> str | None:
    return " ".join(str(person[k]).strip() for k in ("firstname", "lastname") if person.get(k)) or None


ADAPTER = ZammadAdapter()
