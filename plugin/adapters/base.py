"""Shapes shared by every adapter: credentials in, rating report out, write-back errors and HTTP helpers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

import requests

from plugin import egress

HTTP_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class AccountCredentials:
    """An account's decrypted secrets and endpoints, as an adapter needs them."""

    account_key: str
    webhook_secret: str | None
    api_url: str | None
    api_user: str | None
    api_token: str | None
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RatingReport:
    """What a write-back tells the helpdesk about one rating."""

    ticket_id: str
    ticket_url: str | None
    agent_id: str | None
    agent_email: str | None
    agent_name: str | None
    scale: str
    score: int
    max_score: int
    score_label: str
    comment: str
    status: str
    version: int
    rated_at: datetime
    agent_responses_30d: int
    agent_csat_30d: float | None
    tag: str  # e.g. csat_4_of_5; see is_our_tag


OUR_TAG = re.compile(r"^(csat|nps|ces)_\d+_of_\d+$")


def api_base(credentials: AccountCredentials, example: str) -> str:
    """The account's API base URL without a trailing slash; a WriteBackError that says what to set when missing."""
    if not credentials.api_url:
        raise WriteBackError(f"this account has no api_url; set --api-url {example}", retryable=False)
    return credentials.api_url.rstrip("/")


def is_our_tag(tag: str) -> bool:
    """True for a tag OpenCSAT put on a ticket (so a new rating replaces it and leaves the others alone)."""
    return bool(OUR_TAG.match(tag))


REOPEN, TASK = "reopen", "task"


def follow_up_text(report: RatingReport, action: str) -> str:
    """The internal note asking someone to get back to an unhappy customer, then the rating itself."""
    ask = "reopened" if action == REOPEN else "flagged for a follow-up"
    return f"OpenCSAT: this ticket was {ask} because the customer rated it low. Please get back to them.\n" + note_text(
        report
    )


def note_text(report: RatingReport) -> str:
    """The internal note every platform gets, in plain text."""
    lines = [f"Customer rating: {report.score}/{report.max_score} ({report.score_label}) on the {report.scale} scale"]
    if report.comment:
        lines.append(f"Comment: {report.comment}")
    if report.version > 1:
        lines.append(f"(The customer changed their rating; this is version {report.version}.)")
    who = report.agent_name or report.agent_email or "the assignee"
    if report.agent_csat_30d is None:
        lines.append(f"{who}: no counted ratings in the last 30 days yet.")
    else:
        lines.append(
            f"{who}: CSAT {report.agent_csat_30d:.1f}% over {report.agent_responses_30d} rating(s) in the last 30 days."
        )
    return "\n".join(lines)


class WriteBackError(Exception):
    """The helpdesk did not take the write-back. `retryable` false means it never will: park it."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


def check_response(response: requests.Response) -> requests.Response:
    """Map a helpdesk's answer to success (2xx) or a WriteBackError: 429/5xx retry (honouring Retry-After), 3xx and
    other 4xx park."""
    if response.status_code < 300:
        return response
    # Never the body (a tenant's api_url may point at a service it wants to read), nor the URL (it may carry secrets).
    detail = f"{egress.describe_status(response.status_code)} from {response.request.method} {_path(response)}"
    if response.status_code < 400:  # a redirect, which the outbound policy never follows (docs/security.md)
        raise WriteBackError(detail, retryable=False)
    if response.status_code == 429 or response.status_code >= 500 or response.status_code == 408:
        raise WriteBackError(detail, retryable=True, retry_after=_retry_after(response))
    raise WriteBackError(detail, retryable=False)


def _path(response: requests.Response) -> str:
    """The path the helpdesk answered for, without host or query."""
    from urllib.parse import urlsplit

    return urlsplit(response.url or "").path or "/"


def refused(method: str, exc: Exception) -> WriteBackError:
    """A call that failed before the helpdesk answered: parked when the policy refused it, else retried."""
    retryable = not isinstance(exc, egress.EgressRefused)
    return WriteBackError(f"{method}: {egress.describe_failure(exc)}", retryable=retryable)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    return float(value) if value.replace(".", "", 1).isdigit() else None


def send(method: str, url: str, **kwargs) -> requests.Response:
    """One HTTP call to a helpdesk; network failures become retryable WriteBackErrors."""
    try:
        response = egress.request(method, url, timeout=HTTP_TIMEOUT_SECONDS, **kwargs)
    except (egress.EgressRefused, requests.RequestException) as exc:
        raise refused(method, exc) from exc
    return check_response(response)
