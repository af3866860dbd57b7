"""Alerts on bad ratings (and, if chosen, on every comment) to Slack and/or an email list.

Settings live in Account.options (set with `accounts create --option KEY=VALUE`):
- ``alert_threshold``: a counted score at or below it alerts (default per scale: DEFAULT_THRESHOLDS);
- ``alert_slack_url``: a Slack incoming-webhook URL, POSTed ``{"text": ...}``
  (https://api.slack.com/messaging/webhooks); a secret, so stored encrypted (``alert_slack_url_encrypted``, see
  plugin.accounts.seal_options), never printed, and kept out of every error message and log line;
- ``alert_emails``: addresses separated by commas, mailed through SMTP_URL (or the outbox);
- ``alert_on_comment``: ``true`` to alert on every rating that carries a comment, whatever its score.

One row per (rating, version, channel) under a unique constraint, so a job that runs twice sends once; failures
are retried with backoff (Retry-After honoured) and marked failed after the last try.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from plugin import accounts, i18n, retries
from plugin.channels.email import Mailer, MailError, clean_header_text, display_name
from plugin.models import Account, Alert, Rating
from plugin.outbound import DeliveryError, check_url, post
from plugin.security import SecretBox
from plugin.surveys.scales import scale_for
from plugin.templating import environment

PENDING, SENT, FAILED = "pending", "sent", "failed"
SLACK, EMAIL = "slack", "email"
MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=5)
DEFAULT_THRESHOLDS = {"csat5": 2, "csat3": 1, "thumbs": 1, "csat10": 4, "nps": 6, "ces7": 3}
TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class AlertSettings:
    threshold: int
    slack: bool  # a Slack URL is set (plugin.accounts.slack_url decrypts it when an alert goes out)
    emails: tuple[str, ...]
    on_comment: bool

    @property
    def channels(self) -> list[str]:
        return [c for c, on in ((SLACK, self.slack), (EMAIL, bool(self.emails))) if on]


def settings_of(account: Account, scale: str) -> AlertSettings:
    """The account's alert settings for ratings on `scale`; ValueError naming a setting that cannot work."""
    options = account.options or {}
    raw = str(options.get("alert_threshold", "")).strip()
    if raw and not raw.lstrip("-").isdigit():
        raise ValueError(f"alert_threshold must be a whole number; got {raw!r}")
    legacy = str(options.get("alert_slack_url") or "").strip()  # plain text, stored before URLs were encrypted
    if legacy:
        check_url(legacy)
    emails = tuple(address for _, address in getaddresses([str(options.get("alert_emails") or "")]) if "@" in address)
    return AlertSettings(
        threshold=int(raw) if raw else DEFAULT_THRESHOLDS.get(scale, 0),
        slack=bool(legacy or options.get("alert_slack_url_encrypted")),
        emails=emails,
        on_comment=str(options.get("alert_on_comment", "")).strip().lower() in TRUE,
    )


def reason_for(settings: AlertSettings, rating: Rating) -> str | None:
    """Why this counted rating alerts (low_score, comment), or None."""
    if rating.score <= settings.threshold:
        return "low_score"
    if settings.on_comment and rating.comment.strip():
        return "comment"
    return None


def queue_alerts(session: Session, account: Account, rating: Rating, now: datetime) -> list[Alert]:
    """Alert rows for this counted version of the rating, one per configured channel, never twice."""
    settings = settings_of(account, rating.scale)
    reason = reason_for(settings, rating)
    if reason is None or not settings.channels:
        return []
    already = set(
        session.scalars(select(Alert.channel).where(Alert.rating_id == rating.id, Alert.version == rating.version))
    )
    rows = [
        Alert(
            rating_id=rating.id,
            account_id=account.id,
            version=rating.version,
            channel=channel,
            reason=reason,
            status=PENDING,
            next_attempt_at=now,
            created_at=now,
        )
        for channel in settings.channels
        if channel not in already
    ]
    session.add_all(rows)
    session.flush()
    return rows


def claim(session: Session, alert_id: int, now: datetime) -> Alert | None:
    """Take a due alert for one attempt; None when it is not due or another worker has it."""
    return retries.claim(session, Alert, alert_id, now, LEASE)


def _context(account: Account, rating: Rating, reason: str, escape=lambda text: text) -> dict:
    survey, scale = rating.survey, scale_for(rating.scale, account.options)
    return {
        "customer": escape(survey.requester_name or survey.requester_email),
        "agent": escape(survey.agent_name or survey.agent_email or "-"),
        "team": escape(survey.team or ""),
        "comment": escape(rating.comment.strip()),
        "ticket": escape(survey.ticket_id),
        "ticket_link": slack_link(survey.ticket_url, survey.ticket_id) if escape is slack_escape else None,
        "account": account,
        "rating": rating,
        "survey": survey,
        "scale": scale,
        "label": scale.point(rating.score).label,  # an English catalogue id: templates show translate(label)
        "reason": reason,
    }


def alert_locale(account: Account) -> str:
    """The catalogue an alert speaks: the account's (its team reads it), not the customer's."""
    return i18n.normalise(account.locale)


def slack_text(account: Account, rating: Rating, reason: str) -> str:
    """The Slack message (mrkdwn), in the account's language."""
    context = _context(account, rating, reason, escape=slack_escape)
    return environment(alert_locale(account)).get_template("email/alert_slack.txt").render(context).strip()


def slack_escape(text: str) -> str:
    """Slack's three control characters escaped, so a comment cannot ping @channel or forge a link.

    https://api.slack.com/reference/surfaces/formatting#escaping: "&" as &amp;, "<" as &lt;, ">" as &gt; and nothing
    else; Slack reads <!channel>, <@U123> and <url|text> only from unescaped angle brackets.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_link(url: str | None, text: str) -> str:
    """<url|text> for an http(s) URL, else the text alone; both escaped, so neither can close the link early.

    In the URL, "|" (which would start the link text) and the angle brackets are percent-encoded, the URL's own way
    to carry them (RFC 3986 2.1); "&" is escaped as Slack asks for every text.
    """
    shown = slack_escape(text)
    if not url or urlsplit(url).scheme not in ("http", "https"):
        return shown
    target = slack_escape(url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E").replace(" ", "%20"))
    return f"<{target}|{shown}>"


def build_email(account: Account, rating: Rating, alert: Alert, recipients: tuple[str, ...], mail_from: str):
    """The alert email to the account's list, in its language; a fixed Message-ID makes a resend recognisable."""
    env, context = environment(alert_locale(account)), _context(account, rating, alert.reason)
    sender_name, sender_address = parseaddr(mail_from)
    message = EmailMessage()
    message["Subject"] = clean_header_text(env.get_template("email/alert_subject.txt").render(context))
    message["From"] = Address(display_name=display_name(sender_name or "OpenCSAT"), addr_spec=sender_address)
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(alert.created_at)
    message["Message-ID"] = f"<opencsat-alert-{alert.id}@{sender_address.split('@')[-1]}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(env.get_template("email/alert.txt").render(context))
    return message


def send_slack(url: str, text: str) -> None:
    """POST {"text": ...} to a Slack incoming webhook; DeliveryError on refusal."""
    post(url, json.dumps({"text": text}).encode(), {"Content-Type": "application/json"})


@dataclass(frozen=True)
class Outgoing:
    """One alert ready to go: a Slack text for a URL, or an email message."""

    slack_url: str | None = field(default=None, repr=False)  # a secret
    text: str | None = None
    message: EmailMessage | None = None


class AlertError(Exception):
    """Slack or SMTP did not take the alert; `retryable` says whether trying later can help."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable, self.retry_after = retryable, retry_after


def prepare(session: Session, alert: Alert, mail_from: str, box: SecretBox) -> Outgoing:
    """What to send for a claimed alert; ValueError when its channel is no longer configured."""
    account = session.get(Account, alert.account_id)
    rating = session.get(Rating, alert.rating_id)
    settings = settings_of(account, rating.scale)
    if alert.channel == SLACK and settings.slack:
        url = accounts.slack_url(account, box)
        return Outgoing(slack_url=url, text=slack_text(account, rating, alert.reason))
    if alert.channel == EMAIL and settings.emails:
        return Outgoing(message=build_email(account, rating, alert, settings.emails, mail_from))
    raise ValueError(f"the {alert.channel} channel is no longer configured for this account")


def deliver(outgoing: Outgoing, mailer: Mailer) -> None:
    """Send it; AlertError says whether a failure is worth retrying."""
    try:
        if outgoing.message is not None:
            mailer.send(outgoing.message)
        else:
            send_slack(outgoing.slack_url, outgoing.text)
    except MailError as exc:
        raise AlertError(str(exc), retryable=not exc.permanent) from exc
    except DeliveryError as exc:
        raise AlertError(str(exc), retryable=exc.retryable, retry_after=exc.retry_after) from exc


def mark_sent(session: Session, alert_id: int, now: datetime) -> None:
    session.execute(update(Alert).where(Alert.id == alert_id).values(status=SENT, sent_at=now, last_error=None))


def mark_failed(
    session: Session, alert_id: int, error: str, *, retryable: bool, retry_after: float | None, now: datetime
) -> str:
    """Schedule the next attempt, or give up after the last one (or when retrying cannot help)."""
    alert = session.get(Alert, alert_id, populate_existing=True)
    status = retries.retry_or_give_up(
        alert, error, retryable=retryable, retry_after=retry_after, now=now, max_attempts=MAX_ATTEMPTS, gave_up=FAILED
    )
    session.flush()
    return status


def alerts(session: Session, account_id: int, limit: int = 200) -> list[dict]:
    """The account's alerts, newest first."""
    rows = session.scalars(select(Alert).where(Alert.account_id == account_id).order_by(Alert.id.desc()).limit(limit))
    return [
        {
            "id": a.id,
            "rating_id": a.rating_id,
            "version": a.version,
            "channel": a.channel,
            "reason": a.reason,
            "status": a.status,
            "attempts": a.attempts,
            "last_error": a.last_error,
            "sent_at": a.sent_at.isoformat() if a.sent_at else None,
        }
        for a in rows
    ]
