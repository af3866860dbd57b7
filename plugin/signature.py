"""Signature links: a rating block an agent pastes into their email signature once (docs/signature-links.md).

Each link names the account and the agent (signed: plugin/tokens.py) and carries the helpdesk's own ticket
placeholder, which the helpdesk fills in on every reply. A click finds or creates the survey of (account, ticket,
agent) on the `signature` channel and hands over to the survey's /r/ link, so every counting rule applies unchanged
and the survey's one rating is the customer's latest answer for that ticket.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from plugin import i18n, signature_checks
from plugin.models import Account, Survey
from plugin.surveys.scales import Point, custom_question, scale_for
from plugin.surveys.scheduling import SENT
from plugin.templating import email_template, environment
from plugin.tokens import Tokens

CHANNEL = "signature"
# What each helpdesk replaces with the ticket's id or number in an agent's reply (its template language).
PLACEHOLDERS = {
    "zendesk": "{{ticket.id}}",
    "freshdesk": "{{ticket.id}}",
    "helpscout": "{%conversation.number%}",
    "zammad": "#{ticket.number}",
    "chatwoot": "{{conversation.id}}",
    "liveagent": "{$ticket_code}",
    "generic": "{ticket_id}",
}
# Ticket ids and numbers as helpdesks print them (digits, or codes like ABC-123-XYZ); anything else is not filled in.
TICKET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class Snippet:
    html: str
    text: str
    placeholder: str


def valid_ticket_id(value: str | None) -> str | None:
    """The ticket id from a link, or None when it is missing, too long, or still an unfilled placeholder."""
    value = (value or "").strip()
    return value if TICKET_ID.fullmatch(value) else None


def links(
    account: Account, agent_email: str, tokens: Tokens, public_url: str, placeholder: str
) -> list[tuple[Point, str]]:
    """(point, url) for every point of the account's scale, with the ticket placeholder left for the helpdesk."""
    agent = tokens.signature_agent(account.id, agent_email)
    return [
        (point, f"{public_url}/s/{agent}/{point.score}?ticket={placeholder}")
        for point in scale_for(account.scale, account.options).points
    ]


def snippet(
    account: Account, agent_email: str, tokens: Tokens, public_url: str, platform: str | None = None
) -> Snippet:
    """The HTML block and the plain-text variant, in the account's language, for the agent's signature."""
    placeholder = PLACEHOLDERS.get(platform or account.platform, PLACEHOLDERS["generic"])
    locale = i18n.normalise(account.locale)
    scale = scale_for(account.scale, account.options)
    context = {
        "scale": scale,
        "question": custom_question(account.options, locale) or i18n.gettext(locale, scale.question),
        "links": links(account, agent_email, tokens, public_url, placeholder),
    }
    env = environment(locale)
    return Snippet(
        html=email_template(env, "signature.html", account.key).render(context).strip(),
        text=email_template(env, "signature.txt", account.key).render(context).strip(),
        placeholder=placeholder,
    )


def survey_for(
    session: Session, account: Account, agent_email: str, ticket_id: str, locale: str, now: datetime
) -> Survey:
    """The signature survey of (account, ticket, agent), created on the first click; races end on one row.

    A new one starts unverified (plugin/signature_checks.py); signature_checks.OverCap when the agent's links opened
    too many unconfirmed tickets today.
    """
    key = (Survey.account_id == account.id, Survey.ticket_id == ticket_id, Survey.agent_email == agent_email)
    found = session.scalar(select(Survey).where(*key, Survey.channel == CHANNEL))
    if found is not None:
        return found
    signature_checks.check_cap(session, account, agent_email, now)
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(Survey)
        .values(
            account_id=account.id,
            ticket_id=ticket_id,
            ticket_subject="",
            requester_email="",  # unknown: the customer is whoever the agent wrote to
            requester_name="",
            locale=i18n.normalise(locale, account.locale),
            agent_email=agent_email,
            scale=account.scale,
            status=SENT,
            scheduled_at=now,
            sent_at=None,  # no delivery moment: the "too soon after delivery" rule has nothing to measure
            attempts=0,
            created_at=now,
            channel=CHANNEL,
        )
        .on_conflict_do_nothing(
            index_elements=["account_id", "ticket_id", "agent_email"], index_where=Survey.channel == CHANNEL
        )
    )
    created = session.scalar(statement.returning(Survey.id))
    survey = session.scalar(select(Survey).where(*key, Survey.channel == CHANNEL))
    if created is not None:
        signature_checks.open_check(session, account, survey, now)
    return survey
