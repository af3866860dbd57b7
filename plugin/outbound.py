"""Outbound webhooks: an account's URLs receive every counted rating change as signed JSON, with a delivery log.

Signature: the generic platform's own scheme (plugin.signing), ``X-OpenCSAT-Signature: t=<unix>,v1=<hex HMAC-SHA256
(secret, "<t>." + body)>``. ``X-OpenCSAT-Delivery`` stays the same across retries so receivers can drop repeats.
A delivery is retried with backoff (never sooner than the receiver's Retry-After) and marked failed after the last try.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from plugin import egress, retries, signing
from plugin.db import utcnow
from plugin.models import Account, OutboundWebhook, Rating, WebhookDelivery
from plugin.security import SecretBox
from plugin.surveys.scales import scale_for

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=2)
TIMEOUT_SECONDS = 10
USER_AGENT = "OpenCSAT-Webhooks/1"
MAX_URL_LENGTH = 1000


class DeliveryError(Exception):
    """The receiver did not take it; `retryable` says whether trying later can help."""

    def __init__(
        self, message: str, *, retryable: bool, retry_after: float | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.retryable, self.retry_after, self.status_code = retryable, retry_after, status_code


def check_url(url: str) -> str:
    """The URL if it is absolute http(s) and the outbound policy lets it be called; ValueError with a sentence."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the webhook URL must start with https:// (or http://); got {url!r}")
    if len(url.strip()) > MAX_URL_LENGTH:  # the column's size
        raise ValueError(f"the webhook URL must be at most {MAX_URL_LENGTH} characters")
    try:
        return egress.check_url(url.strip())
    except egress.EgressRefused as exc:
        raise ValueError(f"this URL cannot be used: {exc}") from None


def add_webhook(
    session: Session, box: SecretBox, account: Account, url: str, secret: str | None = None
) -> tuple[OutboundWebhook, str]:
    """Register a URL for the account; returns it with its signing secret (generated when not given)."""
    secret = secret or "whsec_" + secrets.token_urlsafe(24)
    hook = OutboundWebhook(account_id=account.id, url=check_url(url), secret_encrypted=box.encrypt(secret))
    session.add(hook)
    session.flush()
    return hook, secret


def remove_webhook(session: Session, account_id: int, webhook_id: int) -> bool:
    """Stop sending to a URL (its delivery log stays); False if the account has no such webhook."""
    result = session.execute(
        update(OutboundWebhook)
        .where(OutboundWebhook.id == webhook_id, OutboundWebhook.account_id == account_id)
        .values(active=False)
    )
    return bool(result.rowcount)


def describe(hook: OutboundWebhook) -> dict:
    """A webhook as the CLI and the API show it: never its secret."""
    return {"id": hook.id, "url": hook.url, "active": hook.active, "created_at": hook.created_at.isoformat()}


def describe_new(hook: OutboundWebhook, secret: str | None) -> dict:
    """A webhook just registered: with the header to verify and, when given, the secret (shown this once only)."""
    shown = {**describe(hook), "signature_header": signing.HEADER}
    if secret is not None:
        shown["secret"] = secret
    return shown


def webhooks(session: Session, account_id: int) -> list[dict]:
    """The account's webhooks, removed ones included (active false), oldest first."""
    rows = session.scalars(
        select(OutboundWebhook).where(OutboundWebhook.account_id == account_id).order_by(OutboundWebhook.id)
    )
    return [describe(h) for h in rows]


def webhook(session: Session, account_id: int, webhook_id: int) -> OutboundWebhook | None:
    """One of the account's webhooks; None for another account's or an unknown id."""
    return session.scalar(
        select(OutboundWebhook).where(OutboundWebhook.id == webhook_id, OutboundWebhook.account_id == account_id)
    )


def deliveries(session: Session, account_id: int, webhook_id: int | None = None, limit: int = 200) -> list[dict]:
    """The delivery log, newest first."""
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.account_id == account_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if webhook_id is not None:
        query = query.where(WebhookDelivery.webhook_id == webhook_id)
    return [
        {
            "id": d.id,
            "webhook_id": d.webhook_id,
            "rating_id": d.rating_id,
            "version": d.version,
            "status": d.status,
            "attempts": d.attempts,
            "next_attempt_at": d.next_attempt_at.isoformat(),
            "last_status_code": d.last_status_code,
            "last_error": d.last_error,
            "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
            "created_at": d.created_at.isoformat(),
        }
        for d in session.scalars(query)
    ]


def replay(session: Session, delivery_id: int, account_id: int, now: datetime) -> WebhookDelivery | None:
    """Put a failed delivery of an active webhook back in line with fresh attempts; None if the account has none."""
    delivery = session.scalar(
        select(WebhookDelivery)
        .join(OutboundWebhook, OutboundWebhook.id == WebhookDelivery.webhook_id)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.account_id == account_id,
            WebhookDelivery.status == FAILED,
            OutboundWebhook.active.is_(True),
        )
    )
    if delivery is None:
        return None
    # The same body (this version of the rating) and the same delivery id, so a receiver that did take it can drop it.
    delivery.status = PENDING
    delivery.attempts, delivery.next_attempt_at = 0, now
    session.flush()
    return delivery


def payload_for(account: Account, rating: Rating) -> dict:
    """The JSON body for this version of the rating."""
    survey, scale = rating.survey, scale_for(rating.scale, account.options)
    return {
        "event": "rating.counted" if rating.version <= 1 else "rating.changed",
        "account_key": account.key,
        "rating": {
            "id": rating.id,
            "version": rating.version,
            "ticket_id": survey.ticket_id,
            "ticket_url": survey.ticket_url,
            "agent_email": survey.agent_email,
            "agent_name": survey.agent_name,
            "team": survey.team,
            "brand": survey.brand,
            "scale": rating.scale,
            "score": rating.score,
            "max_score": scale.max_score,
            "label": scale.point(rating.score).label,
            "satisfied": rating.score in scale.satisfied,
            "comment": rating.comment,
            "status": rating.status,
            "counted_at": rating.counted_at.isoformat() if rating.counted_at else None,
            "updated_at": rating.updated_at.isoformat(),
        },
    }


def queue_deliveries(session: Session, account: Account, rating: Rating, now: datetime) -> list[WebhookDelivery]:
    """A pending delivery of this rating version to each active webhook of the account (once per version)."""
    hooks = session.scalars(
        select(OutboundWebhook).where(OutboundWebhook.account_id == account.id, OutboundWebhook.active.is_(True))
    ).all()
    if not hooks:
        return []
    already = set(
        session.scalars(
            select(WebhookDelivery.webhook_id).where(
                WebhookDelivery.rating_id == rating.id, WebhookDelivery.version == rating.version
            )
        )
    )
    body = json.dumps(payload_for(account, rating), separators=(",", ":"))
    rows = [
        WebhookDelivery(
            webhook_id=hook.id,
            rating_id=rating.id,
            account_id=account.id,
            version=rating.version,
            status=PENDING,
            payload=body,
            next_attempt_at=now,
            created_at=now,
        )
        for hook in hooks
        if hook.id not in already
    ]
    session.add_all(rows)
    session.flush()
    return rows


def claim(session: Session, delivery_id: int, now: datetime) -> WebhookDelivery | None:
    """Take a due delivery for one attempt; None when it is not due or another worker has it."""
    return retries.claim(session, WebhookDelivery, delivery_id, now, LEASE)


def send(url: str, secret: str, delivery_id: int, body: str, now: datetime) -> int:
    """POST the signed body; returns the status code, or raises DeliveryError."""
    data = body.encode()
    event = json.loads(body).get("event", "")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signing.HEADER: signing.sign(secret, data, int(now.timestamp())),
        "X-OpenCSAT-Event": event,
        "X-OpenCSAT-Delivery": str(delivery_id),
    }
    return post(url, data, headers)


def post(url: str, data: bytes, headers: dict[str, str]) -> int:
    """One POST; 2xx returns its code, anything else raises DeliveryError saying whether to retry."""
    try:
        response = egress.request("POST", url, data=data, headers=headers, timeout=TIMEOUT_SECONDS)
    except egress.EgressRefused as exc:
        raise DeliveryError(egress.describe_failure(exc), retryable=False) from exc
    except requests.RequestException as exc:
        raise DeliveryError(egress.describe_failure(exc), retryable=True) from exc
    code = response.status_code
    if 200 <= code < 300:
        return code
    retryable = code in (408, 425, 429) or code >= 500
    raise DeliveryError(
        egress.describe_status(code),  # never the body: a tenant's URL may point at a service it wants to read
        retryable=retryable,
        retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        status_code=code,
    )


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date (RFC 9110 10.2.3); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - utcnow()).total_seconds(), 0.0)


def mark_delivered(session: Session, delivery_id: int, status_code: int, now: datetime) -> None:
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .values(status=DELIVERED, delivered_at=now, last_status_code=status_code, last_error=None)
    )


def mark_failed(session: Session, delivery_id: int, error: DeliveryError, now: datetime) -> str:
    """Schedule the next attempt, or give up after the last one (or when retrying cannot help)."""
    delivery = session.get(WebhookDelivery, delivery_id, populate_existing=True)
    delivery.last_status_code = error.status_code
    status = retries.retry_or_give_up(
        delivery,
        str(error),
        retryable=error.retryable,
        retry_after=error.retry_after,
        now=now,
        max_attempts=MAX_ATTEMPTS,
        gave_up=FAILED,
    )
    session.flush()
    return status
