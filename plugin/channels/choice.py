"""Which channel a ticket's survey goes out on: the account's order, filtered by what can reach the requester.

Reachable means: email with an address; sms / whatsapp with a phone that reads as E.164 (plugin/channels/phones.py,
national numbers with the account's `phone_region`), a provider set up and the number not
opted out (STOP); chat for a Chatwoot conversation on a live-chat or messaging inbox. The event's own `channel`
(the generic platform's, e.g. a ticket that came in by SMS) goes first when the account allows that channel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.channels import configs, phones
from plugin.models import Account, Unsubscribe

# Chatwoot inbox types (Inbox#channel_type) where a person is in a conversation that can show a question; email
# and tweets are not. Source: chatwoot/chatwoot app/presenters/conversations/event_data_presenter.rb
# (`channel: inbox.try(:channel_type)`) and app/models/channel/*.rb.
CHAT_INBOXES = frozenset(
    {
        "Channel::WebWidget",
        "Channel::Api",
        "Channel::Whatsapp",
        "Channel::FacebookPage",
        "Channel::Instagram",
        "Channel::Telegram",
        "Channel::Line",
        "Channel::Sms",
        "Channel::TwilioSms",
    }
)


@dataclass(frozen=True)
class Contact:
    """How the requester of one ticket can be reached."""

    email: str
    phone: str | None = None
    chat: bool = False
    preferred: str | None = None
    phone_problem: str | None = None  # why the helpdesk's number is unusable ("too short"...), for the skip reason


def contact_from(
    platform: str,
    email: str,
    phone: str | None,
    preferred: str | None,
    body: str | None,
    region: str | None = None,
) -> Contact:
    """The requester's ways in; for Chatwoot, the phone and the inbox type are read from the stored webhook body.

    `region` is the account's `phone_region` (ISO 3166 alpha-2): the country of numbers written without one.
    """
    chat = False
    if platform == "chatwoot" and body:
        try:
            data = json.loads(body)
        except ValueError:
            data = {}
        data = data if isinstance(data, dict) else {}
        chat = data.get("channel") in CHAT_INBOXES
        sender = ((data.get("meta") or {}).get("sender") or {}) if isinstance(data.get("meta"), dict) else {}
        phone = phone or (sender.get("phone_number") if isinstance(sender, dict) else None)
    number = phones.parse(phone, region)
    return Contact(email=email, phone=number.e164, chat=chat, preferred=preferred, phone_problem=number.problem)


def region_of(account: Account) -> str | None:
    """The account's phone region option, or None (then only numbers with a country code are used)."""
    code = str((account.options or {}).get("phone_region") or "").strip().upper()
    return code if code in phones.REGIONS else None


def unreachable_reason(contact: Contact, reason: str | None) -> str | None:
    """The skip reason to store: an unusable phone says why, rather than only "no_requester_email"."""
    if reason == "no_requester_email" and contact.phone_problem:
        return f"invalid_phone: {contact.phone_problem}"
    return reason


def choose(session: Session, account: Account, contact: Contact) -> str:
    """The first channel in the account's order that reaches this person; email when none does."""
    order = configs.channel_order(account)
    if contact.preferred in order:
        order = [contact.preferred, *(name for name in order if name != contact.preferred)]
    return _first_reachable(session, account, contact, order) or "email"


def next_channel(session: Session, account: Account, contact: Contact, tried: set[str]) -> str | None:
    """The next reachable channel after a permanent failure (email last of all), or None when none is left."""
    order = [name for name in configs.channel_order(account) if name not in tried]
    if "email" not in tried and "email" not in order:
        order.append("email")
    return _first_reachable(session, account, contact, order)


def _first_reachable(session: Session, account: Account, contact: Contact, order: list[str]) -> str | None:
    carriers = opted_out = None  # read only once a channel other than email is considered (email-first: never)
    for channel in order:
        if channel == "email" and contact.email:
            return "email"
        if carriers is None:
            carriers = configs.providers_for(session, account)
            opted_out = contact.phone is not None and _opted_out(session, account, contact.phone)
        if channel in configs.MESSAGING and contact.phone and channel in carriers and not opted_out:
            return channel
        if channel == "chat" and contact.chat and "chat" in carriers:
            return "chat"
    return None


def _opted_out(session: Session, account: Account, phone: str) -> bool:
    return (
        session.scalar(select(Unsubscribe.id).where(Unsubscribe.account_id == account.id, Unsubscribe.email == phone))
        is not None
    )
