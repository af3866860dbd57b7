"""The normalized helpdesk event every adapter produces, whatever the platform sent."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime

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
    phone: str | None = None  # as the platform wrote it; plugin/channels/configs.normalise_phone makes it E.164


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
