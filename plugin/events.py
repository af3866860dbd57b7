"""The normalized helpdesk event every adapter produces, whatever the platform sent."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SOLVED = "solved"
REOPENED = "reopened"
IGNORED = "ignored"  # a valid delivery we have nothing to do with (a test ping, another status)


class PayloadError(ValueError):
    """The body is not what the platform documents; the message names what is missing or wrong."""


@dataclass(frozen=True)
class Person:
    email: str | None = None
    name: str | None = None
    id: str | None = None
    locale: str | None = None
    phone: str | None = None  # as the platform wrote it; plugin/channels/phones.py makes it E.164


@dataclass(frozen=True)
class TicketEvent:
    """A ticket was solved/closed or reopened, with requester and assignee as they were at that moment."""

    kind: str
    dedupe_key: str
    ticket_id: str
    occurred_at: datetime | None = None
    subject: str = ""
    url: str | None = None
    requester: Person = field(default_factory=Person)
    assignee: Person = field(default_factory=Person)
    brand: str | None = None
    group: str | None = None  # the assignee's team/group at solve time, for per-team reports
    tags: tuple[str, ...] = ()
    channel: str | None = None  # the channel the ticket came in on, when the platform says (sms, whatsapp...)
    # True when the platform sent ids only: a job asks the helpdesk API for the rest (Adapter.lookup).
    needs_lookup: bool = False
    # Set by an adapter that knows this ticket must not get our survey (e.g. the helpdesk surveyed it itself).
    skip_reason: str | None = None

    def to_json(self) -> str:
        data = asdict(self)
        data["occurred_at"] = self.occurred_at.isoformat() if self.occurred_at else None
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> TicketEvent:
        data = json.loads(text)
        return cls(
            **{
                **data,
                "occurred_at": datetime.fromisoformat(data["occurred_at"]) if data["occurred_at"] else None,
                "requester": Person(**data["requester"]),
                "assignee": Person(**data["assignee"]),
                "tags": tuple(data["tags"]),
            }
        )

    def completed(self, requester: Person, assignee: Person) -> TicketEvent:
        """This event with the people a lookup found."""
        return replace(self, requester=requester, assignee=assignee, needs_lookup=False)


# --- one check of every normalized event, whatever adapter made it (docs/reliability.md) -------------------------
# Identifiers must fit their columns or the event is refused (400 naming the field): truncating an id would
# silently attach a rating to another ticket. Display text is cut to its column instead (documented in
# docs/reliability.md): a subject of 600 characters keeps its first 500; a ticket URL longer than its column is
# dropped rather than cut (a cut URL leads nowhere). NUL is stripped from everything.

_Id = Annotated[str, Field(max_length=100)]  # empty for an ignored test ping
_OptionalId = Annotated[str, Field(max_length=100)] | None


class _PersonFields(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    email: str | None = None
    name: str | None = None
    id: _OptionalId = None
    locale: str | None = None
    phone: str | None = None


class _EventFields(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    kind: Literal["solved", "reopened", "ignored"]
    dedupe_key: Annotated[str, Field(min_length=1)]
    ticket_id: _Id
    occurred_at: datetime | None = None
    subject: str = ""
    url: str | None = None
    requester: _PersonFields
    assignee: _PersonFields
    brand: str | None = None
    group: str | None = None
    tags: tuple[str, ...] = ()
    channel: str | None = None
    needs_lookup: bool = False
    skip_reason: str | None = None


def checked(event: TicketEvent) -> TicketEvent:
    """`event` with every field type-checked and fitted to its column; PayloadError naming the first bad field."""
    raw = {name: getattr(event, name) for name in _EventFields.model_fields}
    raw["requester"], raw["assignee"] = _fields_of(event.requester), _fields_of(event.assignee)
    raw["tags"] = tuple(event.tags) if isinstance(event.tags, list | tuple) else event.tags
    try:
        fields = _EventFields.model_validate(_strip_nul(raw))
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise PayloadError(f"{where}: {error['msg']}") from None
    if fields.occurred_at is not None and fields.occurred_at.tzinfo is None:
        raise PayloadError("occurred_at: a time without a time zone")

    def person(p: _PersonFields) -> Person:
        # An address longer than its column can never be valid: kept cut, the intake check skips it with a reason.
        return Person(
            email=_cut(p.email, 320),
            name=_cut(p.name, 200),
            id=p.id,
            locale=_cut(p.locale, 20),
            phone=_cut(p.phone, 40),
        )

    key = fields.dedupe_key
    if len(key) > 200:  # a long key stays unique as its hash instead of colliding when cut
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return replace(
        event,
        dedupe_key=key,
        ticket_id=fields.ticket_id,
        subject=fields.subject[:500],
        url=fields.url if fields.url is None or len(fields.url) <= 1000 else None,
        requester=person(fields.requester),
        assignee=person(fields.assignee),
        brand=_cut(fields.brand, 200),
        group=_cut(fields.group, 200),
        tags=tuple(tag[:100] for tag in fields.tags),
        channel=_cut(fields.channel, 20),
    )


def _fields_of(person: object) -> object:
    """A Person's fields as a dict, a shallow copy (asdict's deep one cost more than the validation); anything else
    as it is, for the validation to refuse."""
    return dict(vars(person)) if isinstance(person, Person) else person


def _cut(value: str | None, limit: int) -> str | None:
    return None if value is None else value[:limit]


def _strip_nul(value: object) -> object:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {key: _strip_nul(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return tuple(_strip_nul(item) for item in value)
    return value
