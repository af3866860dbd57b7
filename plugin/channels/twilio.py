"""Twilio Programmable Messaging, SMS and WhatsApp: send with the Messages API, take replies and status callbacks
signed with X-Twilio-Signature. WhatsApp through Twilio is the same API and the same signature with `whatsapp:`
addresses, so it is a second provider object here (`twilio-whatsapp`), not a module of its own.

Sources:
- Send: POST {api}/2010-04-01/Accounts/{AccountSid}/Messages.json, form fields To, From | MessagingServiceSid, Body,
  StatusCallback; HTTP Basic AccountSid:AuthToken; 201 with the Message resource (sid, status); errors as JSON
  {"code", "message", "more_info", "status"}: https://www.twilio.com/docs/messaging/api/message-resource ,
  twilio/twilio-python twilio/base/version.py.
- Inbound (form-encoded): MessageSid, AccountSid, MessagingServiceSid, From, To, Body...; status callbacks add
  MessageStatus and ErrorCode: https://www.twilio.com/docs/messaging/guides/webhook-request ,
  https://www.twilio.com/docs/messaging/guides/outbound-message-status-in-status-callbacks .
- Signature: base64(HMAC-SHA1(AuthToken, URL + every form name+value sorted by name, values sorted and
  de-duplicated)); the URL is tried with and without its default port; a JSON body is signed through a
  bodySHA256 query parameter instead. twilio/twilio-python twilio/request_validator.py; its published vectors are
  tests/channels/test_signatures.py.
- Error codes: 21610 unsubscribed recipient (https://www.twilio.com/docs/api/errors/21610), 21211 invalid To,
  21612/21614 unroutable/not SMS-capable, 20429 too many requests (https://www.twilio.com/docs/api/errors/20429).
- WhatsApp: To/From `whatsapp:+E164`; outside the 24-hour session an approved Content template, sent as ContentSid
  + ContentVariables (JSON, {"1": ...}) instead of Body (https://www.twilio.com/docs/content/send-templates-created-
  with-the-content-editor , https://www.twilio.com/docs/api/errors/63016); twilio/quick-reply templates carry 1-10
  buttons whose `id` and `title` take variables (https://www.twilio.com/docs/content/twilio-quick-reply). Inbound
  adds ProfileName and WaId; a tapped quick reply adds ButtonPayload (the button's id) and ButtonText: read in
  public integration code, not on a Twilio page found (an assumption, docs/channels.md). Errors by the Twilio <->
  WhatsApp table https://www.twilio.com/docs/whatsapp/api/error-code-mapping : 63016 outside the window (WhatsApp
  470), 63032 the user is in a Meta experiment (472), 63003 the To is not on WhatsApp (1006/1013), 63024 invalid
  recipient, 63018 rate limit, 63007 the From is no WhatsApp sender of this account.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import urlsplit, urlunsplit

import requests

from plugin import egress
from plugin.channels.base import (
    InboundRequest,
    Outgoing,
    PayloadError,
    ProviderConfig,
    Reply,
    SendError,
    Sent,
    SignatureError,
    Status,
    http_error,
)

API = "https://api.twilio.com"
SIGNATURE_HEADER = "X-Twilio-Signature"
# code -> whether another channel may still reach the person (False: the number said STOP)
PERMANENT = {"21610": False, "21211": True, "21612": True, "21614": True, "21408": True, "21635": True}
WHATSAPP = "whatsapp:"
# WhatsApp through Twilio: code -> whether another channel may still reach the person; 63018 (rate) is retried.
WHATSAPP_PERMANENT = {
    "21211": True,
    "21655": True,
    "21656": True,
    "63003": True,
    "63007": True,
    "63016": True,
    "63024": True,
    "63032": True,
}
WHATSAPP_RETRY = frozenset({"63018"})
WINDOW_CLOSED = "63016"  # a free-form message outside the 24-hour session: resend as the template
STATUSES = {
    "queued": "queued",
    "accepted": "accepted",
    "sending": "sending",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "undelivered",
    "failed": "failed",
    "scheduled": "queued",
    "canceled": "failed",
    "partially_delivered": "delivered",
}


def signature(token: str, url: str, params: dict[str, list[str]]) -> str:
    """Twilio's X-Twilio-Signature for a request to `url` with form `params` (every value of each name)."""
    text = url + "".join(name + value for name in sorted(params) for value in sorted(set(params[name])))
    return base64.b64encode(hmac.new(token.encode(), text.encode("utf-8"), hashlib.sha1).digest()).decode()


def url_variants(url: str) -> list[str]:
    """The URL as given, and with its default port added or removed: Twilio signs either form."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    host = parts.hostname or ""
    if parts.port is not None:
        return [url, urlunsplit(parts._replace(netloc=host))]
    return [url, urlunsplit(parts._replace(netloc=f"{host}:{default}"))] if default else [url]


class TwilioProvider:
    name = "twilio"
    channel = "sms"

    def form(self, config: ProviderConfig, message: Outgoing) -> dict[str, str]:
        """The Messages API form of one SMS."""
        data = {"To": message.to, "Body": message.text, "StatusCallback": config.inbound_url}
        service = config.settings.get("messaging_service_sid")
        if service:
            data["MessagingServiceSid"] = service
        else:
            data["From"] = config.sender
        return data

    def send(self, config: ProviderConfig, message: Outgoing) -> Sent:
        sid, token = config.settings.get("account_sid"), config.secrets.get("auth_token")
        url = f"{(config.api_url or API).rstrip('/')}/2010-04-01/Accounts/{sid}/Messages.json"
        try:
            response = egress.request(
                "POST", url, data=self.form(config, message), auth=(sid, token), headers={"Accept": "application/json"}
            )
        except (requests.RequestException, egress.EgressRefused) as exc:
            raise SendError(f"twilio: {exc}", permanent=isinstance(exc, egress.EgressRefused)) from exc
        body = _json(response)
        if response.status_code >= 400:
            raise self.refusal(response, body)
        if not body.get("sid"):
            raise SendError("twilio answered without a message sid", permanent=False)
        return Sent(str(body["sid"]), STATUSES.get(str(body.get("status")), "queued"))

    def refusal(self, response: requests.Response, body: dict) -> SendError:
        code = str(body.get("code")) if body.get("code") is not None else None
        error = http_error(
            "twilio", response, code=code, text=str(body.get("message") or "")[:300], permanent_codes=PERMANENT
        )
        error.opted_out = code == "21610"
        return error

    def verify(self, config: ProviderConfig, request: InboundRequest) -> None:
        token = config.secrets.get("auth_token")
        given = request.headers.get(SIGNATURE_HEADER)
        if not token:
            raise SignatureError("this account's twilio channel has no auth token")
        if not given:
            raise SignatureError(f"missing {SIGNATURE_HEADER} header")
        params = dict(request.form)
        if "bodySHA256" in request.query:  # a JSON body: its hash is in the signed URL
            params = {}
            digest = hashlib.sha256(request.body).hexdigest()
            if not hmac.compare_digest(digest, request.query["bodySHA256"][0]):
                raise SignatureError("bodySHA256 does not match the body")
        for url in url_variants(request.url):
            if hmac.compare_digest(signature(token, url, params).encode(), given.strip().encode()):
                return
        raise SignatureError(f"{SIGNATURE_HEADER} does not match this URL, the parameters and the auth token")

    def parse(self, config: ProviderConfig, request: InboundRequest) -> list[Reply | Status]:
        form = {name: values[-1] for name, values in request.form.items() if values}
        sid = form.get("MessageSid") or form.get("SmsSid")
        if not sid:
            raise PayloadError("MessageSid is missing")
        if form.get("AccountSid") and form["AccountSid"] != config.settings.get("account_sid"):
            raise PayloadError("AccountSid is not this account's")
        status = form.get("MessageStatus") or form.get("SmsStatus")
        if status and status not in ("received", "receiving"):
            return [Status(sid, STATUSES.get(status, status), form.get("ErrorCode") or None, None)]
        if "From" not in form or "Body" not in form:
            raise PayloadError("an inbound message needs From and Body")
        return [self.reply(sid, form)]

    def reply(self, sid: str, form: dict[str, str]) -> Reply:
        return Reply(sid, form["From"], form.get("To", ""), form["Body"].replace("\x00", ""))


class TwilioWhatsAppProvider(TwilioProvider):
    """WhatsApp through Twilio: the SMS provider's API, signature and callbacks, with `whatsapp:` addresses and
    Content templates outside the session window. Addresses are stored without the prefix (+E164), as every other
    channel writes a phone number, so STOP, the window and attribution compare like with like."""

    name = "twilio-whatsapp"
    channel = "whatsapp"

    def form(self, config: ProviderConfig, message: Outgoing) -> dict[str, str]:
        data = {"To": WHATSAPP + _bare(message.to), "StatusCallback": config.inbound_url}
        service = config.settings.get("messaging_service_sid")
        if service:
            data["MessagingServiceSid"] = service
        else:
            data["From"] = WHATSAPP + _bare(config.sender)
        if message.template:  # business-initiated: the approved template; its buttons' ids are variables
            values = [*message.template_parameters, *(choice.payload for choice in message.choices)]
            data["ContentSid"] = message.template
            data["ContentVariables"] = json.dumps({str(i): value for i, value in enumerate(values, start=1)})
        else:
            data["Body"] = message.text[:1600]
        return data

    def refusal(self, response: requests.Response, body: dict) -> SendError:
        code = str(body.get("code")) if body.get("code") is not None else None
        text = str(body.get("message") or "")[:300]
        if code in WHATSAPP_RETRY:
            return SendError(f"twilio-whatsapp code {code}: {text}", code=code, permanent=False)
        return http_error("twilio-whatsapp", response, code=code, text=text, permanent_codes=WHATSAPP_PERMANENT)

    def reply(self, sid: str, form: dict[str, str]) -> Reply:
        # A tapped quick reply: ButtonPayload is the button's id (ours: the signed rating token), ButtonText its
        # title. OriginalRepliedMessageSid names the message a reply quotes, when the person quoted one.
        payload = form.get("ButtonPayload") or None
        return Reply(
            sid,
            _bare(form["From"]),
            _bare(form.get("To", "")),
            (form["Body"] or form.get("ButtonText") or "").replace("\x00", ""),
            payload,
            form.get("OriginalRepliedMessageSid") or None,
        )


def _bare(address: str) -> str:
    return address.removeprefix(WHATSAPP)


def _json(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


PROVIDER = TwilioProvider()
WHATSAPP_PROVIDER = TwilioWhatsAppProvider()
