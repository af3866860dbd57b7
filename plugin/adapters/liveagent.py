"""LiveAgent (Quality Unit): a Rules "HTTP request" action in, REST API v3 out.

Sources, and what each one settles:
- Rules, their "ticket status changed" trigger and the "HTTP request" action:
  https://support.liveagent.com/038465-Rules---Predefined-actions (also https://www.liveagent.com/features/rules/).
  LiveAgent documents no signature for that action and no default body, and we found no list of the variables
  its body editor offers. So the body is one the admin configures (docs/platforms/liveagent.md), authenticated
  by a secret header the admin adds (`X-OpenCSAT-Secret`, compared in constant time with the webhook secret).
- Ticket status letters (I init, N new, T chatting, P calling, R resolved, X deleted, B spam, A answered, C open,
  W postponed, L closed), the ticket fields owner_email, owner_name, agentid, date_changed, tags (tag ids) and
  custom_fields [{code, value}]: QualityUnit/LiveAgent-api-python:docs/Ticket.md, docs/TicketUpdatable.md,
  docs/CustomFields.md; agents {id, name, email}: docs/Agent.md; tags {id, name}: docs/Tag.md, docs/TagsApi.md;
  error body {message}: liveagent_api/models/error_response.py.
- API v3 under https://<account>.ladesk.com/api/v3 with the header `apikey: <key>`:
  PipedreamHQ/pipedream:components/liveagent/liveagent.app.mjs; GET/PUT /tickets/{ticketId}, GET /agents/{userId},
  GET/POST /tags: QualityUnit/LiveAgent-api-python:docs/TicketsApi.md, docs/AgentsApi.md, docs/TagsApi.md.
  Tagging by GET ticket, add the tag id, PUT the list back (the list is replaced):
  PipedreamHQ/pipedream:components/liveagent/actions/add-tag-to-ticket/add-tag-to-ticket.mjs.
- The internal note: API v3 documents no way to add one. GET /tickets/{ticketId}/messages is the only messages
  endpoint (docs/TicketsApi.md: get_ticket_message_groups); POST there is not in the API (a 404). Third-party code
  calls API v1 `POST /api/conversations/{conversationId}/messages` (form fields `message`, `useridentifier`) to send
  a reply, but we found no vendor documentation of a parameter that makes it an internal note rather than a
  message to the customer, so we never call it: a rating must not reach the customer as a reply. The note is
  therefore off; `--option note_field=<custom field code>` writes the note's text into a ticket custom field with
  the documented PUT (TicketUpdatable.custom_fields), the one documented place for it.
- ASSUMPTION: PUT /tickets/{ticketId} with `tags` replaces the ticket's tag list (not documented either way); we send
  the full list (the ticket's ids minus our older rating tag, plus ours), which is right under either reading.
- The requester's phone: the ticket's ``owner_contactid`` (docs/Ticket.md) names a contact whose ``phones`` is a
  list of strings (docs/Contact.md; ``GET /contacts/{contactId}``, docs/ContactsApi.md get_specific_contact). The
  lookup asks for it only when the account surveys by SMS or WhatsApp. Which of several numbers is a mobile one is
  not recorded, so the first usable one is taken (ASSUMPTION: agents list the main number first).
- Rate limits: none documented; a 429 is honoured through Retry-After like everywhere else.

Options: subdomain (https://<subdomain>.ladesk.com when no --api-url), custom_field (a ticket custom field code
that gets the score), note_field (a ticket custom field code that gets the note's text).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from urllib.parse import quote

from plugin.adapters.base import AccountCredentials, RatingReport, WriteBackError, is_our_tag, note_text, send
from plugin.channels import phones
from plugin.events import IGNORED, REOPENED, SOLVED, PayloadError, Person, TicketEvent
from plugin.jsonbody import parse_datetime, parse_object, require
from plugin.signing import verify_shared_secret

# Letters from the API's Ticket model; words for bodies whose status variable renders the name.
SOLVED_STATUSES = {"R", "L", "resolved", "closed"}
REOPENED_STATUSES = {"C", "N", "A", "T", "P", "W", "open", "new", "answered", "chatting", "calling", "postponed"}
CHANGE_TIME_FIELDS = ("date_changed", "changed_at", "date_resolved")


class LiveAgentAdapter:
    name = "liveagent"

    def verify(self, credentials: AccountCredentials, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        verify_shared_secret(credentials.webhook_secret, headers, "the rule's HTTP request action")

    def parse(
        self, headers: Mapping[str, str], body: bytes, options: Mapping | None = None, now: datetime | None = None
    ) -> TicketEvent:
        data = parse_object(body)
        require(data, "ticket_id", "status")
        changed = next((data[f] for f in CHANGE_TIME_FIELDS if data.get(f) not in (None, "")), None)
        if changed is None:
            raise PayloadError("missing required field(s): date_changed (the ticket's change time, for dedupe)")
        status = str(data["status"]).strip()
        kind = SOLVED if _in(status, SOLVED_STATUSES) else REOPENED if _in(status, REOPENED_STATUSES) else IGNORED
        requester = Person(
            email=_text(data.get("owner_email")), name=_text(data.get("owner_name")), locale=_text(data.get("locale"))
        )
        assignee = Person(
            id=_text(data.get("agentid")), email=_text(data.get("agent_email")), name=_text(data.get("agent_name"))
        )
        missing_people = not requester.email or (assignee.id is not None and not assignee.email)
        asks_api = missing_people or phones.wanted(options)  # the contact's phone numbers are in the API only
        return TicketEvent(
            kind=kind,
            dedupe_key=f"ticket:{data['ticket_id']}:{status}:{changed}",
            ticket_id=str(data["ticket_id"]),
            occurred_at=_time(changed),
            subject=_text(data.get("subject")) or "",
            url=_text(data.get("ticket_url")),
            requester=requester,
            assignee=assignee,
            group=_text(data.get("department")),
            needs_lookup=kind == SOLVED and asks_api,
        )

    def lookup(self, credentials: AccountCredentials, event: TicketEvent) -> TicketEvent:
        """Fill in the requester and the agent from the API; what the API refuses for good stays unknown."""
        try:
            return self._looked_up(credentials, event)
        except WriteBackError as exc:
            if exc.retryable:
                raise  # the job fails; the next sweep asks again
            # A ticket or agent the API will never show: survey with what the rule sent (or skip for no email).
            return event.completed(event.requester, event.assignee)

    def _looked_up(self, credentials: AccountCredentials, event: TicketEvent) -> TicketEvent:
        api = _Api(credentials)
        ticket = api.call("GET", f"/tickets/{quote(event.ticket_id, safe='')}")
        requester = Person(
            email=event.requester.email or _text(ticket.get("owner_email")),
            name=event.requester.name or _text(ticket.get("owner_name")),
            locale=event.requester.locale,
            phone=_contact_phone(api, _text(ticket.get("owner_contactid")), credentials.options),
        )
        agent_id = event.assignee.id or _text(ticket.get("agentid"))
        assignee = event.assignee
        if agent_id and not assignee.email:
            agent = api.call("GET", f"/agents/{quote(agent_id, safe='')}")
            assignee = Person(
                id=agent_id, email=_text(agent.get("email")), name=assignee.name or _text(agent.get("name"))
            )
        return event.completed(requester, assignee)

    def write_back(self, credentials: AccountCredentials, report: RatingReport) -> None:
        api = _Api(credentials)
        path = f"/tickets/{quote(report.ticket_id, safe='')}"
        ticket = api.call("GET", path)
        update: dict = {"tags": _tags_with(api, ticket.get("tags") or [], report.tag)}
        values = {
            code: value
            for code, value in (
                (credentials.options.get("custom_field"), str(report.score)),
                (credentials.options.get("note_field"), note_text(report)),
            )
            if code
        }
        if values:
            kept = [f for f in ticket.get("custom_fields") or [] if f.get("code") not in values]
            update["custom_fields"] = [*kept, *({"code": c, "value": v} for c, v in values.items())]
        api.call("PUT", path, json=update)  # one idempotent call: a retry never writes anything twice


def _contact_phone(api: _Api, contact_id: str | None, options: Mapping) -> str | None:
    """The requester's number from their contact, for accounts that survey by SMS or WhatsApp; None otherwise."""
    if not contact_id or not phones.wanted(options):
        return None
    try:
        contact = api.call("GET", f"/contacts/{quote(contact_id, safe='')}")
    except WriteBackError as exc:
        if exc.retryable:
            raise
        return None  # a contact the API will not show: the survey goes by email
    numbers = contact.get("phones") if isinstance(contact, dict) else None
    return phones.pick(numbers if isinstance(numbers, list) else (), options)


def _tags_with(api: _Api, current_ids: list, tag: str) -> list[str]:
    """The ticket's tag ids with our earlier rating tag replaced by `tag` (created in LiveAgent if new)."""
    names = {str(t.get("id")): str(t.get("name") or "") for t in api.call("GET", "/tags") or []}
    ours = next((tag_id for tag_id, name in names.items() if name == tag), None)
    if ours is None:
        ours = str(api.call("POST", "/tags", json={"name": tag})["id"])
    kept = [str(t) for t in current_ids if not is_our_tag(names.get(str(t), "")) and str(t) != ours]
    return [*kept, ours]


class _Api:
    """Calls to one LiveAgent account's API v3 with its key."""

    def __init__(self, credentials: AccountCredentials) -> None:
        if not credentials.api_token:
            raise WriteBackError("this account has no LiveAgent API key (--api-token)", retryable=False)
        root = credentials.api_url or (
            f"https://{credentials.options['subdomain']}.ladesk.com" if credentials.options.get("subdomain") else None
        )
        if not root:
            raise WriteBackError("set --api-url https://<account>.ladesk.com or --option subdomain=", retryable=False)
        self.base = root.rstrip("/").removesuffix("/api/v3") + "/api/v3"
        self.headers = {"apikey": credentials.api_token, "Accept": "application/json", "User-Agent": "OpenCSAT"}

    def call(self, method: str, path: str, **kwargs):
        response = send(method, self.base + path, headers=self.headers, **kwargs)
        try:
            return response.json() if response.content else {}
        except ValueError as exc:
            raise WriteBackError(f"{method} {path}: LiveAgent answered with non-JSON", retryable=True) from exc


def _in(status: str, names: set[str]) -> bool:
    return status in names or status.lower() in names


def _text(value: object) -> str | None:
    """A placeholder's value as text; None for empty values and for variables LiveAgent left unreplaced."""
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return None if not text or text.startswith("{$") else text


def _time(value: object) -> datetime | None:
    try:
        return parse_datetime(value.replace(" ", "T") if isinstance(value, str) else value, "date_changed")
    except PayloadError:
        return None  # only used for display; the raw value still dedupes


ADAPTER = LiveAgentAdapter()
