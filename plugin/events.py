"""The normalized helpdesk event every adapter produces, whatever the platform sent."""

from __future__ import annotations

from dataclasses import dataclass, field
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
    tags: tuple[str, ...] = ()
