"""Who may open the sidebar: the signed parts shared by every platform, checked without Flask.

- Zendesk: ZAF signed URLs, an RS256 JWT Zendesk sets the claims of (plugin/sidebar/zendesk.py), traded for a
  short viewer token (user, 10 minutes), then, once Zendesk's API says that user may see the ticket, a view token
  bound to that ticket and user (5 minutes).
- Help Scout dynamic app: ``X-HelpScout-Signature = base64(HMAC-SHA1(secret, raw body))``
  (https://developer.helpscout.com/apps/legacy-custom-apps/dynamic/). Help Scout signs the body, which names the
  ticket and the user looking; it has no timestamp, so a replay shows the same read-only panel, nothing more.
- Everyone else: a per-agent sidebar link (plugin/sidebar/links.py).

The Help Scout secret is derived from SECRET_KEY and the account key, so nothing new is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from itsdangerous import BadSignature, URLSafeSerializer

VIEWER_SECONDS = 10 * 60  # after Zendesk's JWT: long enough to learn the ticket and wait for the access check
VIEW_SECONDS = 5 * 60  # one ticket, one user
HELPSCOUT_SECRET_MAX = 40  # Help Scout's secret-key field takes at most 40 characters


class SidebarAuthError(Exception):
    """The request is not signed for this account, or the signature has expired."""


@dataclass(frozen=True)
class SidebarGrant:
    """What a checked request may see: one account's ticket, as one viewer (a lead also sees colleagues' figures)."""

    account_key: str
    ticket_id: str | None
    viewer: str | None = None  # the email of the person looking, as the helpdesk (or their link) says
    lead: bool = False
    user_id: str | None = None  # the helpdesk's id of the viewer, where it signs one (Zendesk)


def shared_secret(secret_key: str, account_key: str) -> str:
    """The per-account secret the Help Scout app signs with (its "secret key" field)."""
    digest = hmac.new(secret_key.encode(), f"opencsat sidebar {account_key}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:HELPSCOUT_SECRET_MAX]


def helpscout_signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha1).digest()).decode()


def verify_helpscout(secret: str, signature: str | None, body: bytes) -> None:
    """Raise SidebarAuthError unless `signature` is Help Scout's HMAC-SHA1 of the raw body under `secret`."""
    if not signature:
        raise SidebarAuthError("missing X-HelpScout-Signature header")
    if not hmac.compare_digest(helpscout_signature(secret, body), signature.strip()):
        raise SidebarAuthError("X-HelpScout-Signature does not match the body and the account's secret")


class SidebarTokens:
    """Signed, expiring tokens in Zendesk sidebar URLs: a viewer (account, user), then a view (ticket and user)."""

    def __init__(self, secret_key: str) -> None:
        self._viewer = URLSafeSerializer(secret_key, salt="sidebar-viewer")
        self._view = URLSafeSerializer(secret_key, salt="sidebar-view-v2")

    def viewer_token(self, account_key: str, user_id: str, now: datetime) -> str:
        return self._viewer.dumps([account_key, user_id, int(now.timestamp()) + VIEWER_SECONDS])

    def read_viewer_token(self, token: str, now: datetime) -> tuple[str, str]:
        """(account key, Zendesk user id) of a valid, unexpired viewer token."""
        payload = _loads(self._viewer, token)
        if not (isinstance(payload, list) and len(payload) == 3 and isinstance(payload[2], int)):
            raise SidebarAuthError("malformed viewer token")
        if now.timestamp() > payload[2]:
            raise SidebarAuthError("this sidebar has been open too long; reopen the ticket")
        return str(payload[0]), str(payload[1])

    def view_token(self, grant: SidebarGrant, now: datetime) -> str:
        expires = int(now.timestamp()) + VIEW_SECONDS
        return self._view.dumps([grant.account_key, grant.ticket_id, grant.user_id, grant.viewer, grant.lead, expires])

    def read_view_token(self, token: str, now: datetime) -> SidebarGrant:
        payload = _loads(self._view, token)
        if not (isinstance(payload, list) and len(payload) == 6 and isinstance(payload[5], int)):
            raise SidebarAuthError("malformed view token")
        if now.timestamp() > payload[5]:
            raise SidebarAuthError("this sidebar view has expired; reopen the ticket")
        account_key, ticket_id, user_id, viewer, lead, _ = payload
        return SidebarGrant(str(account_key), str(ticket_id), viewer, bool(lead), user_id)


def _loads(serializer: URLSafeSerializer, token: str) -> object:
    try:
        return serializer.loads(token)
    except BadSignature:
        raise SidebarAuthError("bad signature") from None
