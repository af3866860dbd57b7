"""Zendesk's sidebar through ZAF signed URLs: Zendesk signs who is looking, we ask Zendesk what they may see.

With `"signedUrls": true` in the app's manifest, Zendesk POSTs the sidebar's first page with a form field `token`, a
JWT that Zendesk signs with RS256 under the app's private key; the public key is shown in the app's installation
settings, or read from GET /api/v2/apps/{app_id}/public_key.pem. Sources:
https://developer.zendesk.com/documentation/apps/build-an-app/building-a-server-side-app/part-5-secure-the-app/
https://developer.zendesk.com/documentation/apps/app-developer-guide/using-the-apps-framework/#jwt-claims
https://developer.zendesk.com/api-reference/ticketing/apps/apps/#get-app-public-key

Claims Zendesk sets and we check: `iss` (the account's host, `<subdomain>.zendesk.com`), `aud` (the installation,
`https://<subdomain>.zendesk.com/api/v2/apps/installations/<id>.json`), `exp`/`iat`/`nbf` (about 5 minutes), `sub`
(the user looking). Assumption: `sub` names the user as `.../api/v2/users/<id>.json` or a bare id; both are read.
Zendesk documents no `jti`: a token is single-use by its `jti` when present, else by the hash of the whole token.

The token names no ticket: the page learns it from ZAF and the server decides, from the Zendesk API in a job
(check_access, cached ACCESS_TTL), whether that user may see that ticket (role, ticket_restriction, groups:
https://developer.zendesk.com/api-reference/ticketing/users/users/ and .../groups/group_memberships/). Until the
answer is known the page waits; an unanswerable question is a denial. No Flask here.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from plugin.models import Account, SidebarAccess, SidebarTokenUse, ZendeskInstallation
from plugin.retries import backoff
from plugin.sidebar.auth import SidebarAuthError

CLOCK_LEEWAY_SECONDS = 30
MAX_LIFETIME_SECONDS = 10 * 60  # Zendesk's tokens live about 5 minutes; a longer one is not Zendesk's
ACCESS_TTL = timedelta(minutes=10)  # how long a yes or no from Zendesk is trusted before asking again
ACCESS_LEASE = timedelta(minutes=1)
MAX_ACCESS_ATTEMPTS = 5
CHECKING, ALLOWED, DENIED = "checking", "allowed", "denied"
USER_IN_SUB = re.compile(r"(?:/users/)?(\d{1,20})(?:\.json)?$")
ISSUER = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}\.zendesk\.com$")


@dataclass(frozen=True)
class Viewer:
    """A Zendesk user whose signed request we checked, on one account."""

    account_key: str
    user_id: str


def audience(issuer: str, installation_id: str) -> str:
    return f"https://{issuer}/api/v2/apps/installations/{installation_id}.json"


def install(session: Session, account: Account, issuer: str, installation_id: str, public_key: str) -> None:
    """Keep (or replace) the account's installation: its host, installation id and RS256 public key (PEM)."""
    issuer = issuer.strip().lower()
    if not ISSUER.fullmatch(issuer):
        raise ValueError("the issuer is the account's host, like acme.zendesk.com")
    if not installation_id.strip().isdigit():
        raise ValueError("the installation id is a number (Admin Center > Apps, or the apps/installations API)")
    try:
        key = serialization.load_pem_public_key(public_key.strip().encode())
    except ValueError:
        key = None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the public key is not an RSA public key in PEM form (-----BEGIN PUBLIC KEY-----)")
    found = session.scalar(select(ZendeskInstallation).where(ZendeskInstallation.account_id == account.id))
    found = found or ZendeskInstallation(account_id=account.id)
    found.issuer, found.installation_id, found.public_key = issuer, installation_id.strip(), public_key.strip()
    session.add(found)
    session.flush()


def verify(session: Session, token: str, now: datetime) -> Viewer:
    """Check a signed-URL JWT against its installation and spend it; the user it names, or SidebarAuthError."""
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise SidebarAuthError("the Zendesk token is not a JWT") from None
    issuer = str(unverified.get("iss") or "").lower()
    if not ISSUER.fullmatch(issuer):  # not a Zendesk host (a NUL would not even be a valid query): no lookup
        raise SidebarAuthError("the Zendesk token's issuer (iss) is not a Zendesk host")
    installation = session.scalar(select(ZendeskInstallation).where(ZendeskInstallation.issuer == issuer))
    if installation is None:
        raise SidebarAuthError("no OpenCSAT account has installed the app for this Zendesk (iss)")
    try:
        claims = jwt.decode(
            token,
            installation.public_key,
            algorithms=["RS256"],  # never taken from the token's header: no "none", no RS/HS confusion
            audience=audience(installation.issuer, installation.installation_id),
            issuer=installation.issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.InvalidTokenError as exc:
        raise SidebarAuthError(f"the Zendesk token is not valid: {exc}") from None
    times = [claims["iat"], claims["exp"], claims.get("nbf", claims["iat"])]
    if not all(
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) for value in times
    ):
        raise SidebarAuthError("the Zendesk token's iat, exp and nbf must be numbers")
    (issued, expires, not_before), at = (int(value) for value in times), now.timestamp()
    if expires - issued > MAX_LIFETIME_SECONDS:
        raise SidebarAuthError("the Zendesk token lives longer than Zendesk's do")
    if at > expires + CLOCK_LEEWAY_SECONDS or at < min(issued, not_before) - CLOCK_LEEWAY_SECONDS:
        raise SidebarAuthError("the Zendesk token has expired; reopen the ticket")
    user = USER_IN_SUB.search(str(claims["sub"]))
    if user is None:
        raise SidebarAuthError("the Zendesk token names no user (sub)")
    _spend(session, str(claims.get("jti") or hashlib.sha256(token.encode()).hexdigest()), expires, now)
    account = session.get(Account, installation.account_id)
    return Viewer(account.key, user.group(1))


def _spend(session: Session, key: str, expires: int, now: datetime) -> None:
    """Record a token as used; a second use (a replay, or two tabs racing with one token) is refused."""
    session.execute(delete(SidebarTokenUse).where(SidebarTokenUse.expires_at < now - timedelta(hours=1)))
    try:
        with session.begin_nested():
            session.add(
                SidebarTokenUse(
                    key=key[:128],
                    expires_at=datetime.fromtimestamp(expires + CLOCK_LEEWAY_SECONDS, tz=now.tzinfo),
                    used_at=now,
                )
            )
    except IntegrityError:
        raise SidebarAuthError("this Zendesk token was used already; reopen the ticket") from None


# --- may this user see this ticket? -------------------------------------------------------------------------------


def access(session: Session, account_id: int, user_id: str, ticket_id: str, now: datetime) -> SidebarAccess:
    """The cached answer for (user, ticket); a missing or stale one is (re)asked: status CHECKING, due now."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(
        insert(SidebarAccess)
        .values(
            account_id=account_id,
            user_id=user_id,
            ticket_id=ticket_id,
            status=CHECKING,
            reason="",
            attempts=0,
            due_at=now,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["account_id", "user_id", "ticket_id"])
    )
    row = session.scalar(
        select(SidebarAccess).where(
            SidebarAccess.account_id == account_id,
            SidebarAccess.user_id == user_id,
            SidebarAccess.ticket_id == ticket_id,
        )
    )
    if row.status != CHECKING and (row.checked_at is None or now - row.checked_at > ACCESS_TTL):
        row.status, row.attempts, row.due_at = CHECKING, 0, now
        session.flush()
    return row


def claim_check(session: Session, access_id: int, now: datetime) -> SidebarAccess | None:
    claimed = session.execute(
        update(SidebarAccess)
        .where(SidebarAccess.id == access_id, SidebarAccess.status == CHECKING, SidebarAccess.due_at <= now)
        .values(due_at=now + ACCESS_LEASE, attempts=SidebarAccess.attempts + 1)
    ).rowcount
    return session.get(SidebarAccess, access_id, populate_existing=True) if claimed else None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    email: str | None = None
    lead: bool = False


def decide(get: Callable[[str], dict | None], user_id: str, ticket_id: str, leads: set[str]) -> Decision:
    """What Zendesk says this user may see, from its API (`get(path)` answers the JSON, or None for a 404).

    Admins see every ticket and colleagues' figures; an agent sees a ticket as Zendesk's ticket_restriction says
    (none: all; assigned; groups; organization; requested); a team lead (account option `team_leads`) also sees
    colleagues' figures on the tickets they may see.
    """
    user = (get(f"/api/v2/users/{user_id}.json") or {}).get("user") or {}
    email = str(user.get("email") or "").strip().lower() or None
    role = user.get("role")
    if role not in ("admin", "agent") or user.get("suspended") or user.get("active") is False:
        return Decision(False, "Zendesk does not know this user as an agent", email)
    lead = role == "admin" or (email is not None and email in leads)
    if not ticket_id.isdigit():
        return Decision(False, "not a Zendesk ticket id", email)
    ticket = (get(f"/api/v2/tickets/{ticket_id}.json") or {}).get("ticket")
    if not ticket:
        return Decision(False, "Zendesk has no such ticket", email)
    if role == "admin":
        return Decision(True, "admin", email, lead)
    restriction = user.get("ticket_restriction")
    me = str(user.get("id", user_id))
    if restriction in (None, ""):
        allowed = True
    elif restriction == "assigned":
        allowed = str(ticket.get("assignee_id")) == me
    elif restriction == "groups":
        memberships = (get(f"/api/v2/users/{user_id}/group_memberships.json") or {}).get("group_memberships") or []
        groups = {str(m.get("group_id")) for m in memberships if isinstance(m, dict)}
        allowed = str(ticket.get("assignee_id")) == me or str(ticket.get("group_id")) in groups
    elif restriction == "organization":
        org = user.get("organization_id")
        allowed = org is not None and str(ticket.get("organization_id")) == str(org)
    elif restriction == "requested":
        allowed = str(ticket.get("requester_id")) == me
    else:
        allowed = False  # a restriction Zendesk may add later: deny until we know what it means
    reason = "allowed" if allowed else f"Zendesk's ticket restriction ({restriction}) excludes this ticket"
    return Decision(allowed, reason, email, lead)


def checked(session: Session, access_id: int, decision: Decision, now: datetime) -> None:
    row = session.get(SidebarAccess, access_id, populate_existing=True)
    row.status = ALLOWED if decision.allowed else DENIED
    row.reason, row.user_email, row.lead = decision.reason[:2000], decision.email, decision.lead
    row.checked_at, row.due_at = now, None


def check_failed(session: Session, access_id: int, error: str, *, retryable: bool, now: datetime) -> str:
    """Ask again later; after the last attempt (or a refusal) deny until a later open asks again."""
    row = session.get(SidebarAccess, access_id, populate_existing=True)
    if retryable and row.attempts < MAX_ACCESS_ATTEMPTS:
        row.due_at = now + backoff(row.attempts)
        return "retrying"
    # The agent reads the reason: the status code only, never the remote body (it is in the worker's log).
    code = re.search(r"HTTP \d{3}", error)
    row.status, row.checked_at, row.due_at = DENIED, now, None
    row.reason = f"could not ask Zendesk ({code.group(0) if code else 'no answer'})"
    return "denied"


def team_leads(account: Account) -> set[str]:
    raw = str((account.options or {}).get("team_leads") or "")
    return {part.strip().lower() for part in raw.split(",") if "@" in part}
