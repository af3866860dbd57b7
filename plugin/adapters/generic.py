"""The generic platform: any system that can POST JSON signed with OpenCSAT's own scheme.

Contract: docs/platforms/generic.md. Events in are `ticket.solved`, `ticket.closed` and `ticket.reopened`;
the write-back is a signed JSON callback POSTed to the account's api_url.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime

from plugin import signing
from plugin.adapters.base import AccountCredentials, RatingReport, WriteBackError, follow_up_text, send
from plugin.events import IGNORED, REOPENED, SOLVED, PayloadError, Person, TicketEvent
from plugin.jsonbody import parse_datetime, parse_object, require

EVENT_KINDS = {"ticket.solved": SOLVED, "ticket.closed": SOLVED, "ticket.reopened": REOPENED}


class GenericAdapter:
    name = "generic"

    def verify(self, credentials: AccountCredentials, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        if not credentials.webhook_secret:
            raise signing.SignatureError(
                "this account has no webhook secret; set one with accounts create --webhook-secret"
            )
        signing.verify(credentials.webhook_secret, headers.get(signing.HEADER), body, now=now.timestamp())

    def parse(
        self, headers: Mapping[str, str], body: bytes, options: Mapping | None = None, now: datetime | None = None
    ) -> TicketEvent:
        data = parse_object(body)
        require(data, "event_id", "event", "ticket.id")
        kind = EVENT_KINDS.get(data["event"], IGNORED)
        ticket = data["ticket"]
        requester = data.get("requester") or {}
        assignee = data.get("assignee") or {}
        if not isinstance(requester, dict) or not isinstance(assignee, dict):
            raise PayloadError("requester and assignee must be JSON objects")
        return TicketEvent(
            kind=kind,
            dedupe_key=f"event:{data['event_id']}",
            ticket_id=str(ticket["id"]),
            occurred_at=parse_datetime(data.get("occurred_at"), "occurred_at"),
            subject=str(ticket.get("subject") or ""),
            url=ticket.get("url"),
            requester=Person(
                email=requester.get("email"),
                name=requester.get("name"),
                locale=requester.get("locale"),
                phone=requester.get("phone") if isinstance(requester.get("phone"), str) else None,
            ),
            assignee=Person(
                id=None if assignee.get("id") is None else str(assignee["id"]),
                email=assignee.get("email"),
                name=assignee.get("name"),
            ),
            brand=data.get("brand") if isinstance(data.get("brand"), str) else None,
            group=data.get("group") if isinstance(data.get("group"), str) else None,
            tags=_tags(data.get("tags")),
            channel=data.get("channel") if isinstance(data.get("channel"), str) else None,
        )

    def write_back(self, credentials: AccountCredentials, report: RatingReport) -> None:
        self._callback(credentials, {"type": "rating.updated", "rating": asdict(report)})

    def follow_up(self, credentials: AccountCredentials, report: RatingReport, action: str) -> None:
        """The same signed callback, typed `rating.follow_up`, with the action (reopen or task) and a note."""
        payload = {"type": "rating.follow_up", "action": action, "note": follow_up_text(report, action)}
        self._callback(credentials, {**payload, "rating": asdict(report)})

    def _callback(self, credentials: AccountCredentials, payload: dict) -> None:
        if not credentials.api_url:
            raise WriteBackError("this account has no api_url to call back", retryable=False)
        if not credentials.webhook_secret:
            raise WriteBackError("this account has no secret to sign the callback with", retryable=False)
        body = json.dumps(payload, default=str).encode()
        send(
            "POST",
            credentials.api_url,
            data=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": "OpenCSAT",
                signing.HEADER: signing.sign(credentials.webhook_secret, body),
            },
        )


def _tags(value: object) -> tuple[str, ...]:
    """Tags as a list of strings or one comma-separated string; PayloadError for anything else."""
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        return tuple(tag.strip() for tag in value.split(",") if tag.strip())
    if isinstance(value, list) and all(isinstance(tag, str) for tag in value):
        return tuple(tag.strip() for tag in value if tag.strip())
    raise PayloadError("tags must be a list of strings or a comma-separated string")


ADAPTER = GenericAdapter()
