"""Sidebar links for helpdesks that sign no app request (Freshdesk, Zammad, LiveAgent, Chatwoot, generic).

Each link belongs to one agent of one account: a 256-bit random token, stored only as its SHA-256, valid at most
MAX_DAYS, revoked by the admin (CLI `sidebar revoke`, DELETE /api/v1/sidebar-links/<id>) or replaced when the same
agent is issued a new one. What it shows (plugin/sidebar/view.py): the ticket's rating and the agent's own figures;
colleagues' and the team's only on a link issued with the lead role. No Flask here.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from plugin.models import Account, SidebarLink

PREFIX = "sl_"  # tells a sidebar link token apart from the older account tokens it replaces
DEFAULT_DAYS, MAX_DAYS = 7, 30
ROLES = ("agent", "lead")


class LinkError(ValueError):
    """The request to issue a link is not one we accept (the message says why)."""


@dataclass(frozen=True)
class Issued:
    link: SidebarLink
    token: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(
    session: Session, account: Account, agent_email: str, now: datetime, *, days: int = DEFAULT_DAYS, lead: bool = False
) -> Issued:
    """A new link for the agent; any earlier link of theirs stops working."""
    agent = (agent_email or "").strip().lower()
    if "@" not in agent or len(agent) > 320:
        raise LinkError("agent_email must be an email address")
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS:
        raise LinkError(f"days must be a whole number from 1 to {MAX_DAYS}")
    revoke(session, account.id, now, agent_email=agent)
    token = PREFIX + secrets.token_urlsafe(32)
    link = SidebarLink(
        account_id=account.id,
        agent_email=agent,
        role="lead" if lead else "agent",
        token_hash=_hash(token),
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    session.add(link)
    session.flush()
    return Issued(link, token)


def revoke(
    session: Session, account_id: int, now: datetime, *, link_id: int | None = None, agent_email: str | None = None
) -> int:
    """Revoke one link (by id) or every link of one agent; how many stopped working."""
    query = update(SidebarLink).where(SidebarLink.account_id == account_id, SidebarLink.revoked_at.is_(None))
    if link_id is not None:
        query = query.where(SidebarLink.id == link_id)
    elif agent_email:
        query = query.where(SidebarLink.agent_email == agent_email.strip().lower())
    else:
        raise LinkError("name a link id or an agent")
    return session.execute(query.values(revoked_at=now)).rowcount


def read(session: Session, token: str, now: datetime) -> SidebarLink | None:
    """The live link this token belongs to, or None (unknown, revoked, expired)."""
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    link = session.scalar(select(SidebarLink).where(SidebarLink.token_hash == _hash(token)))
    if link is None or link.revoked_at is not None or now >= link.expires_at:
        return None
    link.last_used_at = now
    return link


def listing(session: Session, account_id: int, now: datetime) -> list[dict]:
    """The account's links, newest first, without their tokens."""
    links = session.scalars(
        select(SidebarLink)
        .where(SidebarLink.account_id == account_id)
        .order_by(SidebarLink.created_at.desc(), SidebarLink.id.desc())
    )
    return [describe(link, now) for link in links]


def describe(link: SidebarLink, now: datetime) -> dict:
    return {
        "id": link.id,
        "agent_email": link.agent_email,
        "role": link.role,
        "created_at": link.created_at.isoformat(),
        "expires_at": link.expires_at.isoformat(),
        "revoked": link.revoked_at is not None,
        "expired": now >= link.expires_at,
        "last_used_at": link.last_used_at.isoformat() if link.last_used_at else None,
    }


def url(public_url: str, account: Account, token: str) -> str:
    """The sidebar URL to give the agent; the helpdesk app (or the agent) appends &ticket=<id>."""
    return f"{public_url}/sidebar/{account.platform}?token={token}"
