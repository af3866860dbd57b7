"""Zendesk: trigger webhooks with our JSON body, or event-subscribed `ticket.status_changed` webhooks (ids only).

Admin guide: docs/platforms/zendesk.md. Sources for every format fact used here:

- Signature: ``X-Zendesk-Webhook-Signature`` = base64(HMAC-SHA256(signing secret, timestamp header + raw body)), the
  timestamp in ``X-Zendesk-Webhook-Signature-Timestamp`` (ISO-8601, e.g. ``2024-04-17T17:18:10Z``), no separator:
  https://developer.zendesk.com/documentation/webhooks/verifying/ (the same computation in
  mozilla/kitsune:kitsune/customercare/tests/test_views.py and
  PipedreamHQ/pipedream:components/zendesk/sources/common/webhook.mjs).
  Delivery headers ``X-Zendesk-Webhook-Invocation-Id`` / ``X-Zendesk-Webhook-Id``:
  https://developer.zendesk.com/api-reference/webhooks/introduction and
  https://prismatic.io/docs/example-payloads/zendesk/triggers/webhook.json. Retries are attempts of one invocation
  (the Webhooks API lists "invocation attempts" per invocation), so a retry very likely keeps the invocation id;
  but the header is outside the HMAC, so the dedupe key comes from the signed body instead: the envelope's event
  ``id``, or the trigger body's ticket id + event + ``{{ticket.updated_at_with_timestamp}}`` (else the body's hash).
- Placeholder values are pasted as unformatted text, not JSON-escaped (placeholders reference below: "when a
  placeholder is sent to a URL target or webhook, unformatted text is used"; no JSON-escaping filter is documented),
  and an empty one renders blank (https://support.zendesk.com/hc/en-us/articles/203662116). So the guide's body
  carries only JSON-safe values (ticket id, update time, assignee email) and the lookup job reads the subject, the
  requester and the requester's locale code (``locale``, e.g. ``pt-BR``) from the API. ``{{ticket.requester.id}}``
  and ``{{ticket.assignee.id}}`` are not in the reference's user table: not used (ASSUMPTION that they exist, were
  they needed). ``{{ticket.requester.language}}`` renders the language's display name; older bodies that send it
  are mapped by name (LANGUAGE_NAMES).
- Trigger-connected webhooks POST the admin's own JSON with placeholders ({{ticket.id}}, {{ticket.status}},
  {{ticket.title}}, {{ticket.link}}, {{ticket.requester.email}}, {{ticket.requester.language}},
  {{ticket.assignee.email}}...): https://support.zendesk.com/hc/en-us/articles/4408886858138 (placeholders reference);
  rendered values as in zulip/zulip:zerver/webhooks/zendesk/fixtures/ticket_create_update.json ("ticket_status": "Open",
  "link": "https://<subdomain>.zendesk.com/agent/tickets/7").
- Event-subscribed webhooks send Zendesk's envelope ``{type: "zen:event-type:ticket.status_changed", id, time,
  subject: "zen:ticket:<id>", detail: {id, requester_id, assignee_id, status, subject, tags...},
  event: {current, previous}}`` with statuses NEW|OPEN|PENDING|HOLD|SOLVED|CLOSED|DELETED|ARCHIVED|SCRUBBED:
  https://developer.zendesk.com/api-reference/webhooks/event-types/ticket-events and the sample in
  dust-tt/dust:front/lib/triggers/built-in-webhooks/zendesk/schemas/ticket_status_changed.ts.
  People are read with GET /api/v2/tickets/{id}?include=users (sideloaded users) and GET /api/v2/users/{id}:
  https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/ (kitsune re-reads tickets the same way).
- The requester's phone: the user's ``phone`` ("The user's primary phone number", a string or null;
  https://developer.zendesk.com/api-reference/ticketing/users/users/), read by the same lookup; older trigger
  bodies may carry ``requester.phone`` from ``{{ticket.requester.phone}}``. Zendesk accepts numbers there in
  E.164 when the account validates phone numbers, free text otherwise (plugin/channels/phones.py reads both).
- Write-back: Basic ``{email}/token:{api_token}`` or OAuth ``Bearer``:
  https://support.zendesk.com/hc/en-us/articles/4408831452954; ``PUT /api/v2/tickets/{id}`` with
  ``{"ticket": {"comment": {"body", "public": false}, "custom_fields": [{id, value}]}}``;
  ``PUT /api/v2/tickets/{id}/tags`` adds tags, ``DELETE`` on the same path removes only the listed ones (``POST`` would
  replace the whole list): https://developer.zendesk.com/api-reference/ticketing/ticket-management/tags/.
- Closed tickets refuse updates with 422 ``{"error": "RecordInvalid", "details": {"status": [{"description":
  "Status: closed prevents ticket update"}]}}`` (captured in real client tests, e.g. a Revere spec stubbing that body).
- 429 carries ``Retry-After`` in seconds: https://developer.zendesk.com/documentation/api-basics/best-practices/best-practices-for-avoiding-rate-limiting.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

import requests

from plugin import egress
from plugin.adapters.base import (
    HTTP_TIMEOUT_SECONDS,
    REOPEN,
    AccountCredentials,
    RatingReport,
    WriteBackError,
    api_base,
    check_response,
    follow_up_text,
    is_our_tag,
    note_text,
    refused,
)
from plugin.events import IGNORED, REOPENED, SOLVED, PayloadError, Person, TicketEvent
from plugin.jsonbody import dig, parse_datetime, parse_object, require
from plugin.signing import SignatureError

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"
TOLERANCE_SECONDS = 300
STATUS_CHANGED = "zen:event-type:ticket.status_changed"
DONE = {"SOLVED", "CLOSED"}
ACTIVE = {"NEW", "OPEN", "PENDING", "HOLD"}
TRIGGER_EVENTS = {"ticket.solved": SOLVED, "ticket.closed": SOLVED, "ticket.reopened": REOPENED}
CLOSED_TICKET = "closed prevents ticket update"
LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
# {{ticket.requester.language}} renders the language's display name ("The user's language preference",
# https://support.zendesk.com/hc/en-us/articles/4408886858138), e.g. "Norwegian Bokmål", "Portuguese (Brazil)".
# The guide's body no longer uses it: the lookup reads the user's locale code. For bodies that still send a name,
# the name (English or native, accents and the region in brackets ignored) maps to a language code.
LANGUAGE_NAMES = {
    "english": "en",
    "polish": "pl",
    "polski": "pl",
    "greek": "el",
    "ελληνικα": "el",
    "italian": "it",
    "italiano": "it",
    "chinese (traditional)": "zh-Hant",
    "chinese (taiwan)": "zh-Hant",
    "chinese (hong kong)": "zh-Hant",
    "繁體中文": "zh-Hant",
    "chinese": "zh-Hans",
    "chinese (simplified)": "zh-Hans",
    "简体中文": "zh-Hans",
    "norwegian": "nb",
    "norwegian bokmal": "nb",
    "norsk": "nb",
    "norsk bokmal": "nb",
    "german": "de",
    "deutsch": "de",
    "french": "fr",
    "francais": "fr",
    "spanish": "es",
    "espanol": "es",
    "portuguese": "pt",
    "portugues": "pt",
    "arabic": "ar",
    "العربية": "ar",
}


class ZendeskAdapter:
    name = "zendesk"

    def verify(self, credentials: AccountCredentials, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        if not credentials.webhook_secret:
            raise SignatureError(
                "this account has no webhook secret; set the webhook's signing secret with --webhook-secret"
            )
        signature, timestamp = headers.get(SIGNATURE_HEADER), headers.get(TIMESTAMP_HEADER)
        if not signature or not timestamp:
            raise SignatureError(f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header")
        try:
            signed_at = parse_datetime(timestamp, TIMESTAMP_HEADER)
        except PayloadError as exc:
            raise SignatureError(str(exc)) from None
        if abs((now - signed_at).total_seconds()) > TOLERANCE_SECONDS:
            raise SignatureError("signature timestamp is more than 5 minutes away from our clock")
        digest = hmac.new(credentials.webhook_secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
        if not hmac.compare_digest(base64.b64encode(digest).decode(), signature.strip()):
            raise SignatureError("signature does not match the body and the webhook's signing secret")

    def parse(
        self, headers: Mapping[str, str], body: bytes, options: Mapping | None = None, now: datetime | None = None
    ) -> TicketEvent:
        if not body.strip():  # the webhook page's "Test webhook" with an empty body: acknowledge, change nothing
            return TicketEvent(kind=IGNORED, dedupe_key=f"test:{hashlib.sha256(body).hexdigest()}", ticket_id="")
        data = parse_object(body)
        if str(data.get("type", "")).startswith("zen:event-type:"):
            return _parse_event(data)
        return _parse_trigger(data, body)

    def read(self, credentials: AccountCredentials, path: str) -> dict | None:
        """GET one API resource as JSON (None when Zendesk answers 404); the sidebar's access check uses it."""
        base = api_base(credentials, "https://<subdomain>.zendesk.com")
        try:
            return _call("GET", f"{base}{path}", _auth_headers(credentials)).json()
        except WriteBackError as exc:
            if exc.retryable or "HTTP 404" not in str(exc):
                raise
            return None

    def lookup(self, credentials: AccountCredentials, event: TicketEvent) -> TicketEvent:
        """Read the requester and the assignee the event names by id; runs in the complete_event job."""
        base = api_base(credentials, "https://<subdomain>.zendesk.com")
        auth = _auth_headers(credentials)
        try:
            answer = _call("GET", f"{base}/api/v2/tickets/{event.ticket_id}", auth, params={"include": "users"}).json()
        except WriteBackError as exc:
            if exc.retryable or "HTTP 404" not in str(exc):
                raise
            log.warning("zendesk ticket %s is gone; the survey is skipped: %s", event.ticket_id, exc)
            return event.completed(event.requester, event.assignee)
        ticket = answer.get("ticket") or {}
        users = {str(u.get("id")): u for u in answer.get("users") or [] if isinstance(u, dict)}
        requester = _person(base, auth, users, event.requester.id or _str(ticket.get("requester_id")))
        # The assignee at solve time is the one the event names; only an event without one falls back to the ticket.
        assignee = _person(base, auth, users, event.assignee.id or _named(users, event.assignee.email))
        if not assignee.email and not event.assignee.email:
            assignee = _person(base, auth, users, _str(ticket.get("assignee_id")))
        elif not assignee.email:
            assignee = replace(event.assignee, locale=None)  # the solver, though the ticket moved on since
        completed = event.completed(requester, assignee)
        return replace(
            completed,
            subject=event.subject or str(ticket.get("subject") or ""),
            url=f"{base}/agent/tickets/{event.ticket_id}",
        )

    def write_back(self, credentials: AccountCredentials, report: RatingReport) -> None:
        base = api_base(credentials, "https://<subdomain>.zendesk.com")
        auth = _auth_headers(credentials)
        ticket = f"{base}/api/v2/tickets/{report.ticket_id}"
        # Tags first (adding and removing are idempotent), the note last: a retry never writes the note twice.
        tags = _call("PUT", f"{ticket}/tags", auth, json={"tags": [report.tag]}).json().get("tags") or []
        stale = [tag for tag in tags if is_our_tag(tag) and tag != report.tag]
        if stale:
            _call("DELETE", f"{ticket}/tags", auth, json={"tags": stale})
        update: dict = {"comment": {"body": note_text(report), "public": False}}
        field_id = credentials.options.get("custom_field_id")
        if field_id:
            update["custom_fields"] = [{"id": _field_id(field_id), "value": report.score}]
        _call("PUT", ticket, auth, json={"ticket": update})

    def follow_up(self, credentials: AccountCredentials, report: RatingReport, action: str) -> None:
        """One update: status open (reopen), the internal note, the group from option `follow_up_group_id`.

        https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#update-ticket
        """
        base = api_base(credentials, "https://<subdomain>.zendesk.com")
        update: dict = {"comment": {"body": follow_up_text(report, action), "public": False}}
        if action == REOPEN:
            update["status"] = "open"
        group = str(credentials.options.get("follow_up_group_id") or "").strip()
        if group:
            update["group_id"] = _field_id(group)
        _call("PUT", f"{base}/api/v2/tickets/{report.ticket_id}", _auth_headers(credentials), json={"ticket": update})


def _parse_event(data: dict) -> TicketEvent:
    """The fixed envelope of an event-subscribed webhook: ids only, so a solve needs a lookup."""
    require(data, "id", "detail.id")
    detail = data["detail"]
    kind = IGNORED
    if data["type"] == STATUS_CHANGED:
        require(data, "event.current")
        current = str(dig(data, "event.current")).upper()
        previous = str(dig(data, "event.previous") or "").upper()
        if current in DONE and previous not in DONE:
            kind = SOLVED
        elif current in ACTIVE and previous in DONE:
            kind = REOPENED
    tags = detail.get("tags") if isinstance(detail.get("tags"), list) else []
    return TicketEvent(
        kind=kind,
        dedupe_key=f"event:{data['id']}",  # Zendesk's event id, inside the signed body
        ticket_id=str(detail["id"]),
        occurred_at=parse_datetime(data.get("time"), "time"),
        subject=str(detail.get("subject") or ""),
        requester=Person(id=_str(detail.get("requester_id"))),
        assignee=Person(id=_str(detail.get("assignee_id"))),
        tags=tuple(str(tag) for tag in tags),
        needs_lookup=kind == SOLVED,
    )


def _parse_trigger(data: dict, body: bytes) -> TicketEvent:
    """The body docs/platforms/zendesk.md tells the admin to paste (ids only), or the fuller body of older guides."""
    if not data:  # "Test webhook" with {} as the body
        return TicketEvent(kind=IGNORED, dedupe_key="test:{}", ticket_id="")
    require(data, "event", "ticket.id")
    ticket, requester, assignee = (_object(data, key) for key in ("ticket", "requester", "assignee"))
    kind = TRIGGER_EVENTS.get(str(data["event"]), IGNORED)
    tags = str(ticket.get("tags") or "").split()
    updated_at = _str(ticket.get("updated_at"))
    # From the signed body only (X-Zendesk-Webhook-Invocation-Id is outside the HMAC).
    stamp = updated_at or f"body:{hashlib.sha256(body).hexdigest()}"
    requester_email = _str(requester.get("email"))
    return TicketEvent(
        kind=kind,
        dedupe_key=f"trigger:{ticket['id']}:{data['event']}:{stamp}"[:200],
        ticket_id=str(ticket["id"]),
        occurred_at=_optional_time(ticket.get("updated_at")),
        subject=str(ticket.get("subject") or ""),
        url=_str(ticket.get("url")),
        requester=Person(
            id=_str(requester.get("id")),
            email=requester_email,
            name=_str(requester.get("name")),
            locale=_locale(requester.get("locale")),
            phone=_str(requester.get("phone")),
        ),
        assignee=Person(
            id=_str(assignee.get("id")), email=_str(assignee.get("email")), name=_str(assignee.get("name"))
        ),
        brand=_str(ticket.get("brand")),
        group=_str(ticket.get("group")),
        tags=tuple(tags),
        # The guide's body names no requester (names and subjects are not JSON-safe): the lookup job reads them.
        needs_lookup=kind == SOLVED and requester_email is None,
    )


def _object(data: dict, key: str) -> dict:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise PayloadError(f"{key} must be a JSON object")
    return value


def _str(value: object) -> str | None:
    """A placeholder's rendering as text; Zendesk renders an empty placeholder as "" (no assignee, no brand)."""
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def _locale(value: object) -> str | None:
    """A locale code as Zendesk's API gives it (`pt-BR`, `nb`), or the code for a rendered language name."""
    text = _str(value)
    if text is None:
        return None
    if LOCALE.match(text):
        return text
    name = "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))
    name = " ".join(name.split())
    return LANGUAGE_NAMES.get(name) or LANGUAGE_NAMES.get(name.split(" (")[0])


def _optional_time(value: object) -> datetime | None:
    """{{ticket.updated_at_with_timestamp}} is ISO-8601; anything else (a placeholder left unrendered) is ignored."""
    try:
        return parse_datetime(_str(value), "ticket.updated_at")
    except PayloadError:
        return None


def _auth_headers(credentials: AccountCredentials) -> dict:
    """Email/API-token Basic auth when api_user (the agent's email) is set, else the token is an OAuth access token."""
    if not credentials.api_token:
        raise WriteBackError("this account has no Zendesk API token; set --api-token", retryable=False)
    if credentials.api_user:
        pair = f"{credentials.api_user}/token:{credentials.api_token}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    return {"Authorization": f"Bearer {credentials.api_token}"}


def _field_id(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise WriteBackError(
            f"option custom_field_id must be the field's numeric id, not {value!r}", retryable=False
        ) from None


def _named(users: dict, email: str | None) -> str | None:
    """The id of the sideloaded user with this email (the solve-time assignee the body names), if any."""
    wanted = (email or "").strip().lower()
    found = next((i for i, u in users.items() if wanted and str(u.get("email") or "").lower() == wanted), None)
    return found


def _person(base: str, auth: dict, users: dict, user_id: str | None) -> Person:
    if not user_id:
        return Person()
    user = users.get(user_id)
    if user is None:
        user = _call("GET", f"{base}/api/v2/users/{user_id}", auth).json().get("user") or {}
    return Person(
        id=user_id,
        email=_str(user.get("email")),
        name=_str(user.get("name")),
        locale=_locale(user.get("locale")),
        phone=_str(user.get("phone")),
    )


def _call(method: str, url: str, auth: dict, **kwargs) -> requests.Response:
    """One Zendesk API call; a closed ticket becomes a parked write-back that says so."""
    headers = {**auth, "Accept": "application/json", "User-Agent": "OpenCSAT"}
    try:
        response = egress.request(method, url, headers=headers, timeout=HTTP_TIMEOUT_SECONDS, **kwargs)
    except (egress.EgressRefused, requests.RequestException) as exc:
        raise refused(method, exc) from exc
    if response.status_code == 422 and CLOSED_TICKET in response.text:
        raise WriteBackError(
            f"the Zendesk ticket was closed before the rating arrived, and Zendesk does not allow updates to closed "
            f"tickets; the rating is kept in OpenCSAT only (Zendesk answered {method} with HTTP 422)",
            retryable=False,
        )
    return check_response(response)


ADAPTER = ZendeskAdapter()
