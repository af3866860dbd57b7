"""The survey email: rendered from templates (HTML with inlined CSS, plain text), sent by SMTP or to the outbox."""

from __future__ import annotations

import re
import smtplib
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import css_inline

from plugin.models import Account, Survey
from plugin.surveys.scales import get_scale
from plugin.templating import environment
from plugin.tokens import Tokens

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class MailError(Exception):
    """Sending failed; `permanent` means the server refused for good (5xx) and retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True)
class Links:
    ratings: list[tuple[object, str]]  # (scale point, url)
    unsubscribe: str


def clean_header_text(value: str) -> str:
    """Header text with every control character (CR, LF, tab...) folded to a space: nothing can be injected."""
    return _CONTROL.sub(" ", value).strip()


def survey_links(survey: Survey, tokens: Tokens, public_url: str) -> Links:
    scale = get_scale(survey.scale)
    return Links(
        ratings=[(point, f"{public_url}/r/{tokens.rating(survey.id, point.score)}") for point in scale.points],
        unsubscribe=f"{public_url}/unsubscribe/{tokens.unsubscribe(survey.account_id, survey.requester_email)}",
    )


def build_survey_email(survey: Survey, account: Account, links: Links, mail_from: str) -> EmailMessage:
    """The multipart message for a survey, with the headers a well-behaved automated mail carries."""
    scale = get_scale(survey.scale)
    context = {
        "survey": survey,
        "account": account,
        "scale": scale,
        "question": scale.question,
        "links": links,
        "customer_name": survey.requester_name,
        "subject": survey.ticket_subject,
    }
    env = environment()
    subject = clean_header_text(env.get_template("email/survey_subject.txt").render(context))
    text = env.get_template("email/survey.txt").render(context)
    html = css_inline.inline(env.get_template("email/survey.html").render(context))

    sender_name, sender_address = parseaddr(mail_from)
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = Address(display_name=clean_header_text(account.name or sender_name), addr_spec=sender_address)
    message["To"] = Address(display_name=clean_header_text(survey.requester_name), addr_spec=survey.requester_email)
    message["Date"] = format_datetime(survey.scheduled_at)
    message["Message-ID"] = (
        f"<opencsat-survey-{survey.id}-{int(survey.created_at.timestamp())}@{sender_address.split('@')[-1]}>"
    )
    message["Auto-Submitted"] = "auto-generated"
    message["List-Unsubscribe"] = f"<{links.unsubscribe}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


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


class SMTPMailer:
    """Sends through SMTP_URL: smtp:// upgrades with STARTTLS when offered, smtps:// is TLS from the start."""

    def __init__(self, url: str, timeout: float = 30) -> None:
        parts = urlsplit(url)
        self.tls = parts.scheme == "smtps"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if self.tls else 587)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.timeout = timeout

    def send(self, message: EmailMessage) -> None:
        try:
            client_class = smtplib.SMTP_SSL if self.tls else smtplib.SMTP
            with client_class(self.host, self.port, timeout=self.timeout) as client:
                client.ehlo()
                if not self.tls and client.has_extn("starttls"):
                    client.starttls()
                    client.ehlo()
                if self.user:
                    client.login(self.user, self.password or "")
                refused = client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise MailError(f"{code} {_text(text)}", permanent=code >= 500) from exc
        except smtplib.SMTPResponseException as exc:
            raise MailError(f"{exc.smtp_code} {_text(exc.smtp_error)}", permanent=exc.smtp_code >= 500) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"SMTP {self.host}:{self.port}: {exc}", permanent=False) from exc
        if refused:
            code, text = next(iter(refused.values()))
            raise MailError(f"{code} {_text(text)}", permanent=code >= 500)


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def make_mailer(smtp_url: str | None, outbox_path: Path) -> Mailer:
    return SMTPMailer(smtp_url) if smtp_url else OutboxMailer(outbox_path)
