"""The one small contract every messaging provider keeps, and the shapes that cross it.

A provider module (twilio, vonage, whatsapp, chat) exposes PROVIDER with:
- `send(config, message) -> Sent`: put one message on the provider's API, raising SendError;
- `verify(config, request)`: raise SignatureError unless the provider signed the inbound request (its own scheme);
- `parse(config, request) -> list[Reply | Status]`: what the request says, or PayloadError naming what is wrong.
Email (plugin/channels/email.py) is the fourth channel; it sends through the app's mailer (one SMTP connection
kept across surveys) and receives nothing. Every survey leaves by one path: the send_survey job claims it, then
delivery.send_survey hands it to its channel's provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from plugin.events import PayloadError
from plugin.signing import SignatureError

__all__ = ["PayloadError", "SignatureError"]


@dataclass(frozen=True)
class ProviderConfig:
    """A provider as an account set it up, secrets decrypted (never printed: see configs.describe)."""

    account_id: int
    account_key: str
    provider: str
    api_url: str | None
    sender: str
    settings: Mapping = field(default_factory=dict)
    secrets: Mapping = field(default_factory=dict)
    inbound_url: str = ""  # the exact URL the provider was given: Twilio signs it


@dataclass(frozen=True)
class Choice:
    """One answer the customer can pick: a button, a list row, a quick reply."""

    payload: str  # comes back as the button's id / payload
    title: str


@dataclass(frozen=True)
class Outgoing:
    """One message to one person: text, optionally with choices, or a template outside WhatsApp's window."""

    to: str
    text: str
    reference: str = ""  # ours, echoed in status callbacks where the provider allows (client-ref, biz_opaque...)
    choices: tuple[Choice, ...] = ()
    template: str | None = None  # WhatsApp: the approved template's name (business-initiated, outside 24 h)
    template_language: str | None = None
    template_parameters: tuple[str, ...] = ()
    conversation: str | None = None  # in-chat: the conversation to post into
    menu: str = ""  # WhatsApp list: the label of the button that opens it


@dataclass(frozen=True)
class Sent:
    provider_message_id: str
    status: str  # the provider's first status (queued, accepted, sent...)


class SendError(Exception):
    """The provider did not take the message.

    `permanent`: retrying cannot help (opt-out, invalid number, outside the window); `fallback`: another channel
    may still reach the person; `retry_after`: seconds the provider asked us to wait (429).
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        permanent: bool,
        fallback: bool = False,
        opted_out: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code, self.permanent, self.fallback = code, permanent, fallback
        self.opted_out, self.retry_after = opted_out, retry_after


@dataclass(frozen=True)
class InboundRequest:
    """An inbound HTTP request as the providers sign it: the public URL, the raw body and the parsed form."""

    method: str
    url: str  # the public URL the provider called, query string included, exactly as sent
    headers: Mapping[str, str]
    body: bytes
    form: Mapping[str, list[str]]  # every value of every form field (repeated keys survive)
    query: Mapping[str, list[str]]


@dataclass(frozen=True)
class Reply:
    """A person wrote or tapped something."""

    provider_message_id: str
    their_address: str
    our_address: str
    text: str = ""
    payload: str | None = None  # a tapped button's id / payload
    context_id: str | None = None  # the message it answers (WhatsApp context.id, Chatwoot message id)


@dataclass(frozen=True)
class Status:
    """A delivery report about one of our messages."""

    provider_message_id: str
    status: str  # normalised: queued, sent, delivered, read, failed
    error_code: str | None = None
    error_message: str | None = None
    reference: str | None = None


class Provider(Protocol):
    name: str  # twilio, vonage, whatsapp, chatwoot
    channel: str  # sms, whatsapp, chat

    def send(self, config: ProviderConfig, message: Outgoing) -> Sent: ...

    def verify(self, config: ProviderConfig, request: InboundRequest) -> None: ...

    def parse(self, config: ProviderConfig, request: InboundRequest) -> list[Reply | Status]: ...


# Status ranks: callbacks arrive duplicated and out of order, so a row keeps its furthest state.
STATUS_RANK = {"pending": 0, "queued": 1, "accepted": 1, "sending": 2, "sent": 3, "delivered": 4, "read": 5}
FINAL_FAILURES = frozenset({"failed", "undelivered"})


def further(current: str, new: str) -> bool:
    """Whether a status report `new` moves a message on from `current` (failures close it, nothing reopens it)."""
    if current in FINAL_FAILURES:
        return False
    if new in FINAL_FAILURES:
        return STATUS_RANK.get(current, 0) < STATUS_RANK["delivered"]
    return STATUS_RANK.get(new, -1) > STATUS_RANK.get(current, 0)


def http_error(
    provider: str, response, *, code: str | None, text: str, permanent_codes: Mapping[str, bool]
) -> SendError:
    """A SendError for a provider's refusal: 429/5xx retry (Retry-After honoured), other 4xx by the code's table.

    `permanent_codes` maps a provider code to whether another channel may still reach the person.
    """
    status = response.status_code
    detail = f"{provider} HTTP {status}" + (f" code {code}" if code else "") + (f": {text}" if text else "")
    if status == 429 or status >= 500 or status == 408:
        return SendError(detail, code=code, permanent=False, retry_after=retry_after(response))
    return SendError(detail, code=code, permanent=True, fallback=permanent_codes.get(code or "", True))


def retry_after(response) -> float | None:
    value = (response.headers.get("Retry-After") or "").strip()
    return float(value) if value.replace(".", "", 1).isdigit() else None
