"""Help Scout: `convo.status` webhooks in, the Mailbox API 2.0 (OAuth2 client credentials) out.

Admin guide: docs/platforms/helpscout.md. Sources for every format fact used here:

- Webhooks: https://developer.helpscout.com/webhooks/ (events and headers ``X-HelpScout-Event`` /
  ``X-HelpScout-Signature``; ``convo.status`` carries the v2 Conversation object). The signature is
  base64(HMAC-SHA1(secret, raw body)), the secret at most 40 characters:
  helpscout/helpscout-api-php:src/Webhooks/IncomingWebhook.php (``hash_hmac('sha1', $body, $secret, true)`` then
  base64; ``TEST_EVENT = 'helpscout.test'``) and https://developer.helpscout.com/mailbox-api/endpoints/webhooks/create.
  Help Scout sends no timestamp and no delivery id, so there is no replay window; retries carry the same body, and
  the dedupe key is built from it (see `dedupe_key`).
  ASSUMPTION: the body of the ``helpscout.test`` ping is not documented (Help Scout's own client tests it with
  ``{"id": 123}``, tests/Webhooks/IncomingWebhookTest.php), so any signed test body is answered 200 unread.
- v2 Conversation object (``id``, ``number``, ``status``, ``subject``, ``assignee{id,first,last,email}``,
  ``primaryCustomer{id,first,last,email}``, ``createdBy``, ``closedAt``, ``userUpdatedAt``, ``tags[{id,color,tag}]``,
  ``customFields[{id,name,value,text}]``): https://developer.helpscout.com/mailbox-api/endpoints/conversations/get/
  and helpscout/helpscout-api-php:tests/Payloads/ConversationPayloads.php.
- The requester's phone: the webhook's ``primaryCustomer`` has none (only a legacy Person of a phone conversation
  did: https://developer.helpscout.com/help-desk-api/objects/person), so when the account surveys by SMS or
  WhatsApp the lookup job reads ``GET /v2/customers/{id}/phones`` -> ``_embedded.phones[{id, value, type}]``, type
  one of work, home, mobile, fax, pager, other (https://developer.helpscout.com/mailbox-api/endpoints/customers/phones/list/;
  the same shape in helpscout/helpscout-api-php:tests/Payloads/CustomerPayloads.php ``getPhones``). A mobile
  number first; values are free text ("222-333-4444"), read by plugin/channels/phones.py.
- Auth: https://developer.helpscout.com/mailbox-api/overview/authentication/ (client credentials:
  ``POST /v2/oauth2/token`` with ``grant_type=client_credentials``, ``client_id``, ``client_secret``; the answer has
  ``access_token`` and ``expires_in`` (48 hours); no refresh token, so a new one is fetched when it runs out).
- Note: ``POST /v2/conversations/{id}/notes {"text", "status"}`` -> 201
  (https://developer.helpscout.com/mailbox-api/endpoints/conversations/threads/note/; ``status`` keeps the
  conversation's status as it is, since a thread without one may reactivate it).
- Tags: ``PUT /v2/conversations/{id}/tags {"tags": [...]}`` replaces the whole list -> 204
  (https://developer.helpscout.com/mailbox-api/endpoints/conversations/tags/update/): the current tags are read first.
- Custom fields: ``PUT /v2/conversations/{id}/fields {"fields": [{"id", "value"}]}`` also replaces the whole list
  -> 204 (https://developer.helpscout.com/mailbox-api/endpoints/conversations/custom_fields/update/).
- Rate limit: 429 with ``X-RateLimit-Retry-After`` in seconds
  (https://developer.helpscout.com/mailbox-api/overview/rate-limiting/); ``Retry-After`` is honoured too.
- Errors: ``{"logRef", "message", "_embedded": {"errors": [{"path", "message"}]}}``
  (helpscout/helpscout-api-php:tests/Payloads/ErrorPayloads.php); the text goes into the parked write-back as is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from urllib.parse import quote

import requests

from plugin import egress
from plugin.adapters.base import (
    HTTP_TIMEOUT_SECONDS,
    REOPEN,
    AccountCredentials,
    RatingReport,
    WriteBackError,
    check_response,
    follow_up_text,
    is_our_tag,
    note_text,
    refused,
)
from plugin.channels import phones
from plugin.events import IGNORED, REOPENED, SOLVED, PayloadError, Person, TicketEvent
from plugin.jsonbody import dig, parse_datetime, parse_object, require
from plugin.signing import SignatureError

API_URL = "https://api.helpscout.net"
WEB_URL = "https://secure.helpscout.net"
SIGNATURE_HEADER = "X-HelpScout-Signature"
EVENT_HEADER = "X-HelpScout-Event"
STATUS_EVENT = "convo.status"
TEST_EVENT = "helpscout.test"
STATUS_KINDS = {"closed": SOLVED, "active": REOPENED}
TOKEN_MARGIN_SECONDS = 300  # fetch a new token this long before the old one runs out


class TokenCache:
    """Access tokens per (API, app), kept in memory until shortly before they expire."""

    def __init__(self, clock=time.monotonic) -> None:
        self.clock = clock
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(base: str, client_id: str, client_secret: str) -> tuple[str, str, str]:
        return base, client_id, hashlib.sha256(client_secret.encode()).hexdigest()

    def get(self, key: tuple[str, str, str]) -> str | None:
        with self._lock:
            token, expires_at = self._tokens.get(key, (None, 0.0))
            return token if token and self.clock() < expires_at - TOKEN_MARGIN_SECONDS else None

    def put(self, key: tuple[str, str, str], token: str, expires_in: float) -> None:
        with self._lock:
            self._tokens[key] = (token, self.clock() + expires_in)

    def forget(self, key: tuple[str, str, str], token: str) -> None:
        with self._lock:
            if self._tokens.get(key, (None,))[0] == token:
                del self._tokens[key]

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


class HelpScoutAdapter:
    name = "helpscout"

    def __init__(self) -> None:
        self.tokens = TokenCache()

    # --- events in -------------------------------------------------------------------------------------------------
    def verify(self, credentials: AccountCredentials, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        if not credentials.webhook_secret:
            raise SignatureError("this account has no webhook secret; set the Help Scout webhook's secret key")
        given = headers.get(SIGNATURE_HEADER)
        if not given:
            raise SignatureError(f"missing {SIGNATURE_HEADER} header")
        digest = hmac.new(credentials.webhook_secret.encode(), body, hashlib.sha1).digest()
        if not hmac.compare_digest(base64.b64encode(digest).decode(), given.strip()):
            raise SignatureError("signature does not match the body and the account's secret")

    def parse(
        self, headers: Mapping[str, str], body: bytes, options: Mapping | None = None, now: datetime | None = None
    ) -> TicketEvent:
        event = (headers.get(EVENT_HEADER) or "").strip()
        if not event:
            raise PayloadError(f"missing {EVENT_HEADER} header")
        if event != STATUS_EVENT:  # the test ping and every other event: acknowledged, nothing to do
            # The test ping's body is not documented (Help Scout's own client test sends {"id": 123}): any body will do.
            try:
                data = parse_object(body)
            except PayloadError:
                data = {}
            return TicketEvent(
                kind=IGNORED,
                dedupe_key=f"{event}:{hashlib.sha256(body).hexdigest()[:40]}",
                ticket_id=str(data.get("id") or event)[:100],
            )
        data = parse_object(body)
        require(data, "id", "status")
        status = str(data["status"]).lower()
        customer = _object(data, "primaryCustomer")
        creator = _object(data, "createdBy")
        email = customer.get("email") or (creator.get("email") if creator.get("type") == "customer" else None)
        assignee = _object(data, "assignee")
        kind = STATUS_KINDS.get(status, IGNORED)
        phone = customer.get("phone") if isinstance(customer.get("phone"), str) else None
        return TicketEvent(
            kind=kind,
            dedupe_key=dedupe_key(data),
            ticket_id=str(data["id"]),
            occurred_at=parse_datetime(data.get("closedAt") if status == "closed" else None, "closedAt")
            or parse_datetime(data.get("userUpdatedAt"), "userUpdatedAt"),
            subject=str(data.get("subject") or ""),
            url=dig(data, "_links.web.href") or f"{WEB_URL}/conversation/{data['id']}/{data.get('number') or ''}",
            requester=Person(email=email, name=_name(customer), id=_id(customer), phone=phone),
            assignee=Person(id=_id(assignee), email=assignee.get("email"), name=_name(assignee)),
            tags=tuple(t["tag"] for t in data.get("tags") or () if isinstance(t, dict) and t.get("tag")),
            # The customer's numbers are one API call away; asked only by accounts that can use them.
            needs_lookup=kind == SOLVED and not phone and _id(customer) is not None and phones.wanted(options),
        )

    def lookup(self, credentials: AccountCredentials, event: TicketEvent) -> TicketEvent:
        """The customer's phone numbers (a mobile one first); a customer the API will not show keeps none."""
        try:
            answer = _Api(self.tokens, credentials).call(
                "GET", f"/v2/customers/{quote(event.requester.id or '')}/phones"
            )
            numbers = (answer.json().get("_embedded") or {}).get("phones") or []
        except WriteBackError as exc:
            if exc.retryable:
                raise  # the job fails; the next sweep asks again
            return event.completed(event.requester, event.assignee)  # surveyed by email, as without a phone
        except (ValueError, AttributeError):
            raise WriteBackError(
                "Help Scout answered the customer's phones with no JSON object", retryable=True
            ) from None
        listed = [n for n in numbers if isinstance(n, dict)]
        listed.sort(key=lambda n: n.get("type") != "mobile")  # stable: Help Scout's order within each kind
        phone = phones.pick((n.get("value") for n in listed), credentials.options)
        return event.completed(replace(event.requester, phone=phone), event.assignee)

    # --- ratings out -----------------------------------------------------------------------------------------------
    def write_back(self, credentials: AccountCredentials, report: RatingReport) -> None:
        """Read the conversation, put back its tags (ours replaced) and fields, then the note (last: not idempotent)."""
        api = _Api(self.tokens, credentials)
        conversation = api.call("GET", f"/v2/conversations/{report.ticket_id}").json()
        conversation_id = conversation.get("id") or report.ticket_id  # a merged conversation answers with its new id
        path = f"/v2/conversations/{conversation_id}"
        tags = [t.get("tag") for t in conversation.get("tags") or () if isinstance(t, dict) and t.get("tag")]
        tags = [t for t in tags if not is_our_tag(t)]
        api.call("PUT", f"{path}/tags", json={"tags": [*tags, report.tag]})
        field_id = str(credentials.options.get("custom_field_id") or "").strip()
        if field_id:
            if not field_id.isdigit():
                raise WriteBackError(f"option custom_field_id must be a number, not {field_id!r}", retryable=False)
            fields = [
                {"id": f["id"], "value": f.get("value")}
                for f in conversation.get("customFields") or ()
                if isinstance(f, dict) and f.get("id") not in (None, int(field_id)) and f.get("value") not in (None, "")
            ]
            api.call(
                "PUT", f"{path}/fields", json={"fields": [*fields, {"id": int(field_id), "value": str(report.score)}]}
            )
        note = {"text": note_text(report)}
        if conversation.get("status") in ("active", "pending", "closed", "spam"):
            note["status"] = conversation["status"]
        api.call("POST", f"{path}/notes", json=note)

    def follow_up(self, credentials: AccountCredentials, report: RatingReport, action: str) -> None:
        """A note; when reopening, the note's own `status` sets the conversation active (no second call).

        https://developer.helpscout.com/mailbox-api/endpoints/conversations/threads/note/
        """
        note = {"text": follow_up_text(report, action)}
        if action == REOPEN:
            note["status"] = "active"
        _Api(self.tokens, credentials).call("POST", f"/v2/conversations/{report.ticket_id}/notes", json=note)


def dedupe_key(data: dict) -> str:
    """Help Scout sends no delivery id. A retried delivery repeats the same body, so the conversation id, the new
    status and the times of that change identify it; a later close (after a reopen) has newer times and counts again."""
    changed = data.get("userUpdatedAt") or ""
    closed = (data.get("closedAt") or "") if str(data.get("status")).lower() == "closed" else ""
    return f"convo.status:{data['id']}:{str(data['status']).lower()}:{changed}:{closed}"


class _Api:
    """Calls to one account's Mailbox API with a cached bearer token; a 401 drops the token and tries once more."""

    def __init__(self, tokens: TokenCache, credentials: AccountCredentials) -> None:
        if not credentials.api_user or not credentials.api_token:
            raise WriteBackError(
                "this account has no Help Scout app id (--api-user) or app secret (--api-token)", retryable=False
            )
        self.tokens, self.credentials = tokens, credentials
        self.base = (credentials.api_url or API_URL).rstrip("/")
        self.key = TokenCache.key(self.base, credentials.api_user, credentials.api_token)

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        token = self.token()
        response = self._send(method, path, token, **kwargs)
        if response.status_code == 401:
            self.tokens.forget(self.key, token)
            response = self._send(method, path, self.token(), **kwargs)
        moved = response.headers.get("Location", "")
        if method == "GET" and response.status_code in (301, 308) and moved.startswith(f"{self.base}/"):
            # A merged conversation answers 301 to its new id. The outbound policy follows no redirect by itself,
            # so the one Help Scout documents is followed here, and only within the same API base.
            response = self._send(method, moved[len(self.base) :], self.token(), **kwargs)
        return _check(response)

    def token(self) -> str:
        token = self.tokens.get(self.key)
        if token:
            return token
        response = _check(
            _request(
                "POST",
                f"{self.base}/v2/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.credentials.api_user,
                    "client_secret": self.credentials.api_token,
                },
            )
        )
        try:
            answer = response.json()
            token, expires_in = str(answer["access_token"]), float(answer.get("expires_in") or 0)
        except (ValueError, KeyError, TypeError):
            detail = "Help Scout's token answer has no access_token"
            raise WriteBackError(detail, retryable=True) from None
        self.tokens.put(self.key, token, expires_in)
        return token

    def _send(self, method: str, path: str, token: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", "User-Agent": "OpenCSAT"}
        return _request(method, f"{self.base}{path}", headers=headers, **kwargs)


def _request(method: str, url: str, **kwargs) -> requests.Response:
    try:
        return egress.request(method, url, timeout=HTTP_TIMEOUT_SECONDS, **kwargs)
    except (egress.EgressRefused, requests.RequestException) as exc:
        raise refused(method, exc) from exc


def _check(response: requests.Response) -> requests.Response:
    """base.check_response, also reading Help Scout's own X-RateLimit-Retry-After on a 429."""
    try:
        return check_response(response)
    except WriteBackError as exc:
        if exc.retryable and exc.retry_after is None:
            value = response.headers.get("X-RateLimit-Retry-After", "").strip()
            if value.replace(".", "", 1).isdigit():
                exc.retry_after = float(value)
        raise


def _object(data: dict, name: str) -> dict:
    value = data.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"{name} must be a JSON object")
    return value


def _id(person: dict) -> str | None:
    return None if person.get("id") in (None, "") else str(person["id"])


def _name(person: dict) -> str | None:
    return " ".join(str(person[k]) for k in ("first", "last") if person.get(k)) or None


ADAPTER = HelpScoutAdapter()
