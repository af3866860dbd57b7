"""The survey email: rendered from templates (HTML with inlined CSS, plain text), sent by SMTP or to the outbox.

Branding comes from the account's options (docs/emails.md): sender_name, sender_address, reply_to, logo_url,
accent_color, company_name, footer; question / question_<locale> replace the scale's question.
"""

from __future__ import annotations

import binascii
import logging
import re
import secrets
import smtplib
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import SMTPUTF8, Policy
from email.policy import default as default_policy
from email.utils import format_datetime, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import css_inline

from plugin import addresses, i18n
from plugin.colours import DARK, LIGHT, palette
from plugin.models import Account, Survey
from plugin.scale_layout import layout
from plugin.surveys.scales import Point, custom_question, scale_for
from plugin.templating import email_template, environment
from plugin.tokens import Tokens

log = logging.getLogger(__name__)
# C0 and C1 controls, and the Unicode line and paragraph separators: every character str.splitlines() breaks at,
# which the email package refuses in a header (a ticket subject pasted with U+2028 or U+0085 made the survey fail).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


class _HeaderClasses(HeaderRegistry):
    """The email package's header registry, but each header's class made once: HeaderRegistry builds a new class
    with type() at every lookup, twenty times a message (the policy's documented header_factory hook)."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        made = self._classes.get(key)
        if made is None:
            made = self._classes[key] = super().__getitem__(name)
        return made


# Lines up to RFC 5322's hard limit (998), not its advised 78: the email package can only fold a longer header
# without spaces (the signed List-Unsubscribe URL) into RFC 2047 encoded words, which RFC 2369 clients do not
# decode, so one-click unsubscribe (RFC 8058) would not find the URL. Longer headers still fold at 998.
_POLICY = default_policy.clone(max_line_length=998, header_factory=_HeaderClasses())
_SMTPUTF8_POLICY = SMTPUTF8.clone(max_line_length=998, header_factory=_HeaderClasses())


class MailError(Exception):
    """Sending failed; `permanent` means the server refused for good (5xx) and retrying cannot help.

    `skip_reason` means this message cannot go this way at all (not a failure of the server): the survey is
    skipped with that reason, e.g. smtputf8_not_offered for an internationalised address.
    """

    def __init__(self, message: str, *, permanent: bool, skip_reason: str | None = None) -> None:
        super().__init__(message)
        self.permanent, self.skip_reason = permanent, skip_reason


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None: ...


_ADDRESS = re.compile(r"[^@\s<>\"(),;:\[\]\\]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")
_LOGO_URL = re.compile(r"https?://[^\s\"'<>]+")
DEFAULT_ACCENT = "#0969da"
# @media rules (dark mode, narrow screens) cannot be inlined: they stay in a <style> tag for clients that read it.
_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


@dataclass(frozen=True)
class Links:
    ratings: list[tuple[Point, str]]  # (scale point, url)
    unsubscribe: str


@dataclass(frozen=True)
class Branding:
    """How an account's emails look and who they come from; every value checked, junk falls back to a default."""

    sender_name: str
    sender_address: str
    reply_to: str | None
    company: str
    logo_url: str | None
    accent: str
    footer: tuple[str, ...]


def branding(account: Account, mail_from: str) -> Branding:
    """The account's branding options over the service defaults (MAIL_FROM, the account's name)."""
    options = account.options or {}
    default_name, default_address = parseaddr(mail_from)

    def text(key: str, limit: int = 200) -> str:
        return clean_header_text(str(options.get(key) or ""))[:limit]

    def address(key: str) -> str | None:
        value = text(key, 320)
        return value if _ADDRESS.fullmatch(value) else None

    company = text("company_name") or account.name or default_name
    colour, logo = text("accent_color", 7), str(options.get("logo_url") or "").strip()
    footer = str(options.get("footer") or "")[:1000]
    return Branding(
        sender_name=text("sender_name") or account.name or default_name,
        sender_address=address("sender_address") or default_address,
        reply_to=address("reply_to"),
        company=company,
        logo_url=logo if _LOGO_URL.fullmatch(logo) else None,
        accent=colour if _COLOUR.fullmatch(colour) else DEFAULT_ACCENT,
        footer=tuple(line.strip() for line in footer.splitlines() if line.strip()),
    )


# RFC 5322 specials that let a display name be read as addresses or groups once CPython's folder drops the quotes
# around it (CVE-2025-1795, fixed after 3.11.7): "," and ";" end an address, ":" starts a group, "<>" and "@" make one.
_ADDRESS_SPECIALS = re.compile(r'[,;:<>@"\\()\[\]]')


def display_name(value: str | None) -> str:
    """A person's name for From/To: one line, without the specials that could turn it into more addresses."""
    return " ".join(_ADDRESS_SPECIALS.sub(" ", clean_header_text(value or "")).split())[:100]


def clean_header_text(value: str) -> str:
    """Header text with every control character (CR, LF, tab...) folded to a space: nothing can be injected."""
    return _CONTROL.sub(" ", value).strip()


def survey_links(survey: Survey, tokens: Tokens, public_url: str) -> Links:
    """One signed link per point of the survey's scale, and the unsubscribe link (its page in the survey's language)."""
    scale = scale_for(survey.scale)
    unsubscribe = tokens.unsubscribe(survey.account_id, survey.requester_email)
    return Links(
        ratings=[(point, f"{public_url}/r/{tokens.rating(survey.id, point.score)}") for point in scale.points],
        unsubscribe=f"{public_url}/unsubscribe/{unsubscribe}?lang={i18n.normalise(survey.locale)}",
    )


def render_survey(survey: Survey, account: Account, links: Links, mail_from: str) -> tuple[str, str, str]:
    """(subject, plain text, HTML with inlined CSS) of a survey email, in the survey's language."""
    locale = i18n.normalise(survey.locale, account.locale)
    scale = scale_for(survey.scale, account.options)
    brand = branding(account, mail_from)
    context = {
        "survey": survey,
        "account": account,
        "brand": brand,
        "colours": palette(brand.accent),
        "light": LIGHT,
        "dark": DARK,
        "scale": scale,
        "layout": layout(scale, locale),
        "question": custom_question(account.options, locale) or i18n.gettext(locale, scale.question),
        "links": links,
        "customer_name": survey.requester_name,
        "subject": survey.ticket_subject,
    }
    env = environment(locale)
    subject = clean_header_text(email_template(env, "survey_subject.txt", account.key).render(context))
    text = email_template(env, "survey.txt", account.key).render(context)
    html = _INLINER.inline(email_template(env, "survey.html", account.key).render(context))
    return subject, text, html


def build_survey_email(
    survey: Survey, account: Account, links: Links, mail_from: str, now: datetime | None = None
) -> EmailMessage:
    """The multipart message for a survey, with the headers a well-behaved automated mail carries.

    `now` is the moment of sending, the Date header (RFC 5322 section 3.6.1: when the message was ready to go):
    not the survey's scheduled_at, which a claim has already moved a lease ahead.
    """
    subject, text, html = render_survey(survey, account, links, mail_from)
    brand = branding(account, mail_from)
    recipient = addresses.smtp_form(survey.requester_email)  # checked at intake; raises only on old rows
    local, _, domain = recipient.rpartition("@")
    # An internationalised local part is serialised as UTF-8 (RFC 6532), sent with SMTPUTF8 (RFC 6531).
    message = EmailMessage(policy=_SMTPUTF8_POLICY if addresses.needs_smtputf8(recipient) else _POLICY)
    message["Subject"] = subject
    policy = message.policy
    message["From"] = _address_header(policy, "From", display_name(brand.sender_name), brand.sender_address)
    if brand.reply_to:
        message["Reply-To"] = _address_header(policy, "Reply-To", "", brand.reply_to)
    message["To"] = Address(display_name=display_name(survey.requester_name), username=local, domain=domain)
    message["Date"] = format_datetime(now or datetime.now(UTC))
    # The service's own domain (MAIL_FROM), so the id stays the same whatever the account's sender becomes.
    message["Message-ID"] = (
        f"<opencsat-survey-{survey.id}-{int(survey.created_at.timestamp())}@{parseaddr(mail_from)[1].split('@')[-1]}>"
    )
    message["Auto-Submitted"] = _header(policy, "Auto-Submitted", "auto-generated")
    message["List-Unsubscribe"] = f"<{links.unsubscribe}>"
    message["List-Unsubscribe-Post"] = _header(policy, "List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
    # A boundary of ours from the start: "=_" never occurs in quoted-printable text (RFC 2045 section 6.7), so no
    # part can hold it, and the generator need not search both parts for one it can use and re-set the header.
    message.make_alternative(boundary=f"=_{secrets.token_hex(16)}")
    message.attach(_text_part(text, "plain", message.policy))
    message.attach(_text_part(html, "html", message.policy))
    return message


@lru_cache(maxsize=256)
def _header(policy: Policy, name: str, value: str) -> BaseHeader:
    """The header as `policy` parses it, parsed once per process: the values every message of an account repeats
    (parsing is most of what building a message costs). Header objects are immutable, and a message takes one as
    it is (EmailPolicy.header_store_parse)."""
    return policy.header_factory(name, value)


@lru_cache(maxsize=256)
def _address_header(policy: Policy, name: str, display: str, addr_spec: str) -> BaseHeader:
    """As `_header`, for an account's own address (From, Reply-To)."""
    return policy.header_factory(name, Address(display_name=display, addr_spec=addr_spec))


def _text_part(content: str, subtype: str, policy) -> EmailMessage:
    """A UTF-8 text part, quoted-printable (RFC 2045 section 6.7) by binascii's C encoder: the email package's
    own (pure Python, set_content) cost a survey's HTML part milliseconds, more than the rest of the message."""
    part = EmailMessage(policy=policy)
    part["Content-Type"] = _header(policy, "Content-Type", f'text/{subtype}; charset="utf-8"')
    part["Content-Transfer-Encoding"] = _header(policy, "Content-Transfer-Encoding", "quoted-printable")
    part.set_payload(binascii.b2a_qp(content.encode(), istext=True).decode("ascii"))
    return part


def send_survey(s, survey: Survey) -> str:
    """Email's provider for a claimed survey: its message through the app's mailer (SMTP keeps its connection),
    then the row says what happened, as for every channel: sent, retried with backoff, failed or skipped."""
    from plugin.surveys import sending

    now = s.clock()
    try:
        links = survey_links(survey, s.tokens, s.settings.public_url)
        message = build_survey_email(survey, survey.account, links, s.settings.mail_from, now=now)
        s.mailer.send(message)
    except MailError as exc:
        error, permanent, skip = str(exc), exc.permanent, exc.skip_reason
        if skip:
            status = s.db.transaction(lambda session: sending.mark_skipped(session, survey.id, f"{skip}: {error}"))
        else:
            status = s.db.transaction(
                lambda session: sending.mark_send_failed(session, survey.id, error, permanent=permanent, now=now)
            )
        log.warning("survey %s not sent (%s): %s", survey.id, status, error)
        return status
    except Exception as exc:
        log.exception("survey %s raised while being built or sent", survey.id)
        error = f"{type(exc).__name__}: {exc}"[:2000]
        return s.db.transaction(
            lambda session: sending.mark_send_failed(session, survey.id, error, permanent=False, now=now)
        )
    s.db.transaction(
        lambda session: sending.mark_sent(session, survey.id, message["Message-ID"], now, reason=survey.reason),
        statements=True,
    )
    return "sent"


class OutboxMailer:
    """Writes each message as an .eml file: the embedded default, so `make run` needs no SMTP server."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def send(self, message: EmailMessage) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9._-]", "_", message["Message-ID"].strip("<>"))
        target = self.path / f"{name}.eml"
        temporary = target.with_suffix(".tmp")
        temporary.write_bytes(bytes(message))
        temporary.replace(target)


class _Envelope:
    """Notes whether MAIL FROM was answered: before that nothing of the message reached the server."""

    def mail(self, sender, options=()):
        reply = super().mail(sender, options)
        self.mail_answered = True
        return reply


class _SMTP(_Envelope, smtplib.SMTP):
    pass


class _SMTPSSL(_Envelope, smtplib.SMTP_SSL):
    pass


class SMTPMailer:
    """Sends through SMTP_URL: smtp:// upgrades with STARTTLS when offered, smtps:// is TLS from the start.

    One connection is kept open across messages (a worker sends many; a new connection with EHLO, STARTTLS and
    AUTH costs more than the message) and closed after IDLE_SECONDS unused. A kept connection the server has
    dropped shows at MAIL FROM, before any of the message was sent: then, and only then, the message is sent
    again on a new connection, so a restart of the server costs no attempt and can never deliver a message twice.
    One message at a time per mailer (a lock): a worker sends one after the other anyway.
    """

    IDLE_SECONDS = 30.0  # servers drop idle clients after some minutes (RFC 5321 4.5.3.2.7): let go well before

    def __init__(self, url: str, timeout: float = 30) -> None:
        parts = urlsplit(url)
        self.tls = parts.scheme == "smtps"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if self.tls else 587)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.timeout = timeout
        self._lock = threading.Lock()
        self._client: smtplib.SMTP | None = None
        self._last_used = 0.0

    def send(self, message: EmailMessage) -> None:
        with self._lock:
            try:
                refused = self._send(message)
            except smtplib.SMTPNotSupportedError as exc:  # an internationalised address, a server without SMTPUTF8
                raise MailError(
                    f"SMTP {self.host}:{self.port} does not offer SMTPUTF8 (RFC 6531), which this address needs",
                    permanent=True,
                    skip_reason="smtputf8_not_offered",
                ) from exc
            except smtplib.SMTPRecipientsRefused as exc:  # smtplib sent RSET: the connection serves the next one
                code, text = next(iter(exc.recipients.values()))
                raise MailError(f"{code} {_text(text)}", permanent=code >= 500) from exc
            except smtplib.SMTPResponseException as exc:
                if exc.smtp_code == 421:  # the server is closing this connection
                    self.close()
                raise MailError(f"{exc.smtp_code} {_text(exc.smtp_error)}", permanent=exc.smtp_code >= 500) from exc
            except (OSError, smtplib.SMTPException) as exc:
                self.close()
                raise MailError(f"SMTP {self.host}:{self.port}: {exc}", permanent=False) from exc
            finally:
                self._last_used = time.monotonic()
        if refused:
            code, text = next(iter(refused.values()))
            raise MailError(f"{code} {_text(text)}", permanent=code >= 500)

    def _send(self, message: EmailMessage) -> dict:
        kept = self._client is not None and time.monotonic() - self._last_used < self.IDLE_SECONDS
        if not kept:
            self.close()
        client = self._client or self._connect()
        client.mail_answered = False
        try:
            return client.send_message(message)
        except (smtplib.SMTPServerDisconnected, ConnectionError):
            if not kept or client.mail_answered:
                raise  # a new connection failed, or the server had begun on this message: the caller retries later
            self.close()  # the kept connection was dead before MAIL FROM: nothing was sent on it
            client = self._connect()
            client.mail_answered = False
            return client.send_message(message)

    def _connect(self) -> smtplib.SMTP:
        client = (_SMTPSSL if self.tls else _SMTP)(self.host, self.port, timeout=self.timeout)
        try:
            client.ehlo()
            if not self.tls and client.has_extn("starttls"):
                client.starttls()
                client.ehlo()
            if self.user:
                client.login(self.user, self.password or "")
        except BaseException:
            client.close()
            raise
        self._client = client
        return client

    def close(self) -> None:
        """Say QUIT and let the connection go (the next message opens a new one)."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def make_mailer(smtp_url: str | None, outbox_path: Path) -> Mailer:
    return SMTPMailer(smtp_url) if smtp_url else OutboxMailer(outbox_path)
