"""Who may open the sidebar: each helpdesk's own way of signing the request, checked without Flask.

- Zendesk: a JWT (HS256) that Zendesk's request proxy signs with the app's secure setting ``shared_secret``
  (ZAF ``client.request({secure: true, jwt: {...}, headers: {Authorization: "Bearer {{jwt.token}}"}})``, see
  https://developer.zendesk.com/api-reference/apps/apps-support-api/all_locations/#client-request and the
  ``jwt_sample_app`` in zendesk/demo_apps). ZAF's "signed URLs" sign the first page load with RS256 under a key
  Zendesk creates per app after it is installed (https://developer.zendesk.com/documentation/apps/build-an-app/
  building-a-server-side-app/part-5-secure-the-app/); that token names the installation, not the ticket, so we
  use the HS256 variant, whose claims carry the ticket id and whose secret we can hand out before installing.
- Help Scout dynamic app: ``X-HelpScout-Signature = base64(HMAC-SHA1(secret, raw body))``
  (https://developer.helpscout.com/apps/legacy-custom-apps/dynamic/). It has no timestamp: a replay shows the
  same read-only panel, nothing more.
- Everyone else: a signed account token in the URL (itsdangerous, like plugin/tokens.py) with an expiry inside.

Every sidebar secret is derived from SECRET_KEY and the account key, so nothing new is stored and rotating
SECRET_KEY revokes all of them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

import jwt
from itsdangerous import BadSignature, URLSafeSerializer

ZENDESK_MAX_LIFETIME_SECONDS = 3600  # a longer-lived token is refused: ZAF signs what the page asks for
CLOCK_LEEWAY_SECONDS = 30
VIEW_SECONDS = 15 * 60  # a Zendesk view link, made right after the JWT was checked
HELPSCOUT_SECRET_MAX = 40  # Help Scout's secret-key field takes at most 40 characters


class SidebarAuthError(Exception):
    """The request is not signed for this account, or the signature has expired."""


@dataclass(frozen=True)
class SidebarGrant:
    """What a checked request may see: one account's ticket (and, if the helpdesk said so, its agent)."""

    account_key: str
    ticket_id: str | None
    agent_email: str | None = None


def shared_secret(secret_key: str, account_key: str) -> str:
    """The per-account secret the helpdesk app signs with (Zendesk shared_secret, Help Scout secret key)."""
    digest = hmac.new(secret_key.encode(), f"opencsat sidebar {account_key}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:HELPSCOUT_SECRET_MAX]


def verify_zendesk_jwt(token: str, secret: str, account_key: str, now: datetime) -> SidebarGrant:
    """Check a ZAF-proxy JWT: HS256 only, signed with the account's secret, unexpired, naming a ticket."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],  # never taken from the token's header: no "none", no RS/HS confusion
            options={"require": ["exp", "iat"], "verify_iat": False},
            leeway=CLOCK_LEEWAY_SECONDS,
        )
    except jwt.ExpiredSignatureError:
        raise SidebarAuthError("the Zendesk token has expired") from None
    except jwt.InvalidTokenError as exc:
        raise SidebarAuthError(f"the Zendesk token is not valid: {exc}") from None
    # PyJWT compares exp with the wall clock; `now` is checked too so a test (or a skewed caller) is explicit.
    issued, expires, at = int(claims["iat"]), int(claims["exp"]), now.timestamp()
    if expires - issued > ZENDESK_MAX_LIFETIME_SECONDS:
        raise SidebarAuthError("the Zendesk token lives longer than an hour")
    if at > expires + CLOCK_LEEWAY_SECONDS or at < issued - CLOCK_LEEWAY_SECONDS:
        raise SidebarAuthError("the Zendesk token has expired")
    ticket = str(claims.get("ticket_id") or "").strip()
    if not ticket:
        raise SidebarAuthError("the Zendesk token names no ticket_id")
    agent = str(claims.get("agent_email") or "").strip().lower() or None
    return SidebarGrant(account_key, ticket, agent)


def helpscout_signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha1).digest()).decode()


def verify_helpscout(secret: str, signature: str | None, body: bytes) -> None:
    """Raise SidebarAuthError unless `signature` is Help Scout's HMAC-SHA1 of the raw body under `secret`."""
    if not signature:
        raise SidebarAuthError("missing X-HelpScout-Signature header")
    if not hmac.compare_digest(helpscout_signature(secret, body), signature.strip()):
        raise SidebarAuthError("X-HelpScout-Signature does not match the body and the account's secret")


class SidebarTokens:
    """Signed tokens in sidebar URLs: a long-lived account token, and a short view link after a Zendesk JWT."""

    def __init__(self, secret_key: str) -> None:
        self._account = URLSafeSerializer(secret_key, salt="sidebar-account")
        self._view = URLSafeSerializer(secret_key, salt="sidebar-view")

    def account_token(self, account_key: str, expires_at: datetime) -> str:
        return self._account.dumps([account_key, int(expires_at.timestamp())])

    def read_account_token(self, token: str, now: datetime) -> str:
        """The account key inside a valid, unexpired account token."""
        payload = _loads(self._account, token)
        if not (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[1], int)):
            raise SidebarAuthError("malformed sidebar token")
        if now.timestamp() > payload[1]:
            raise SidebarAuthError("the sidebar token has expired; make a new one with `flask sidebar url`")
        return str(payload[0])

    def view_token(self, grant: SidebarGrant, now: datetime) -> str:
        expires = int(now.timestamp()) + VIEW_SECONDS
        return self._view.dumps([grant.account_key, grant.ticket_id, grant.agent_email, expires])

    def read_view_token(self, token: str, now: datetime) -> SidebarGrant:
        payload = _loads(self._view, token)
        if not (isinstance(payload, list) and len(payload) == 4 and isinstance(payload[3], int)):
            raise SidebarAuthError("malformed view token")
        if now.timestamp() > payload[3]:
            raise SidebarAuthError("this sidebar view has expired; reopen the ticket")
        return SidebarGrant(str(payload[0]), payload[1], payload[2])


def _loads(serializer: URLSafeSerializer, token: str) -> object:
    try:
        return serializer.loads(token)
    except BadSignature:
        raise SidebarAuthError("bad signature") from None
