"""Messaging provider emulators on loopback, written from each provider's documentation (sources in the provider
modules under plugin/channels/): they check auth and field names, answer with the provider's JSON (errors too),
and play the customer by POSTing the inbound webhook to the service, signed with the provider's algorithm.

Signing here is written from the providers' descriptions, not imported from plugin/: a test of our verification
against this code is a test against the provider's scheme (and tests/channels/test_signatures.py checks both
against the published vectors).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from urllib.parse import parse_qs, urlencode

import requests

from tests.emulators.base import INVALID_JSON, Emulator, Request, Response
from tests.emulators.chatwoot import ChatwootEmulator


def twilio_signature(token: str, url: str, params: dict[str, str]) -> str:
    text = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), text.encode(), hashlib.sha1).digest()).decode()


WA = "whatsapp:"
_VARIABLE = re.compile(r"\{\{(\d+)\}\}")


class TwilioEmulator(Emulator):
    """api.twilio.com's Messages resource: Basic auth, form fields, 201 Message JSON, Twilio's error JSON.

    WhatsApp through Twilio on the same resource (To/From `whatsapp:+E164`), from Twilio's documentation:
    - a Content template is sent with ContentSid + ContentVariables (a JSON object of strings); an unknown sid is
      21655, bad variables 21656 (https://www.twilio.com/docs/api/errors/21655 , .../21656);
    - twilio/quick-reply templates: a body and 1-10 actions {id, title}, both taking {{n}} variables
      (https://www.twilio.com/docs/content/twilio-quick-reply);
    - a From that is no WhatsApp sender of the account: 63007; free-form Body outside the 24-hour session is taken
      (201) and then fails in its status callback with 63016 (https://www.twilio.com/docs/api/errors/63016); a To
      not on WhatsApp fails with 63003 (https://www.twilio.com/docs/whatsapp/api/error-code-mapping);
    - inbound adds ProfileName and WaId, a tapped quick reply ButtonPayload and ButtonText (public integration
      code; no Twilio page found lists them: an assumption shared with plugin/channels/twilio.py).
    """

    SESSION_SECONDS = 24 * 3600

    def __init__(self, account_sid: str = "AC" + "0" * 32, auth_token: str = "twilio-token") -> None:
        super().__init__()
        self.account_sid, self.auth_token = account_sid, auth_token
        self.messages: list[dict] = []
        self.blocked: set[str] = set()  # numbers that answered STOP: Twilio refuses them with 21610
        self.inbound_url: str | None = None  # the number's "A message comes in" URL, as set in the console
        self.whatsapp_senders: set[str] = set()  # our numbers registered as WhatsApp senders (+E164)
        self.content: dict[str, dict] = {}  # ContentSid -> {"body": ..., "actions": [{"id", "title"}]}
        self.not_on_whatsapp: set[str] = set()
        self.last_inbound: dict[str, float] = {}  # +E164 -> when the person last wrote on WhatsApp (the session)
        self.inbound: list[dict] = []  # the webhooks posted to the service as the customer

    def parse(self, request: Request) -> dict:
        return {k: v[-1] for k, v in parse_qs(request.raw.decode(), keep_blank_values=True).items()}

    def error_body(self, status: int) -> object:
        code = 20429 if status == 429 else 20500
        return {
            "code": code,
            "message": "Too Many Requests" if status == 429 else "Internal Server Error",
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }

    def _error(self, status: int, code: int, message: str) -> Response:
        return (
            status,
            {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
            {},
        )

    def handle(self, request: Request, body) -> Response:
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return self._error(401, 20003, "Authenticate")
        if request.method != "POST" or request.path != f"/2010-04-01/Accounts/{self.account_sid}/Messages.json":
            return self._error(404, 20404, "The requested resource was not found")
        if not body.get("To"):
            return self._error(400, 21604, "A 'To' phone number is required.")
        if body["To"].startswith(WA):
            return self._whatsapp(body)
        if not body.get("Body"):
            return self._error(400, 21602, "Message body is required.")
        if not body.get("From") and not body.get("MessagingServiceSid"):
            return self._error(400, 21603, "A 'From' phone number is required.")
        to = body["To"]
        # +999 is no country's code (ITU-T E.164 assignments): Twilio cannot route it either. +15005550001 is the
        # number Twilio's test credentials answer 21211 for (twilio.com/docs/iam/test-credentials, "Magic input"):
        # well formed for libphonenumber, refused by Twilio.
        invalid = to.startswith("+999") or to == "+15005550001"
        if not (to.startswith("+") and to[1:].isdigit() and 8 <= len(to) <= 16) or invalid:
            return self._error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if to in self.blocked:
            return self._error(400, 21610, "Attempt to send to unsubscribed recipient")
        sid = "SM" + uuid.uuid4().hex
        message = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": to,
            "from": body.get("From"),
            "messaging_service_sid": body.get("MessagingServiceSid"),
            "body": body["Body"],
            "status": "accepted" if body.get("MessagingServiceSid") else "queued",
            "num_segments": "1",
            "error_code": None,
            "error_message": None,
            "price": None,
            "status_callback": body.get("StatusCallback"),
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        self.messages.append(message)
        return 201, message, {}

    def _whatsapp(self, body: dict) -> Response:
        to, sender = body["To"].removeprefix(WA), str(body.get("From") or "")
        if not (to.startswith("+") and to[1:].isdigit() and 8 <= len(to) <= 16):
            return self._error(400, 21211, f"Invalid 'To' Phone Number: {body['To']}")
        if not body.get("MessagingServiceSid") and (
            not sender.startswith(WA) or sender.removeprefix(WA) not in self.whatsapp_senders
        ):
            return self._error(400, 63007, f"Twilio could not find a Channel with the specified From address: {sender}")
        fate = "delivered"
        if body.get("ContentSid"):
            template = self.content.get(body["ContentSid"])
            if template is None:
                return self._error(400, 21655, "The ContentSid is Invalid")
            try:
                variables = json.loads(body.get("ContentVariables") or "{}")
            except ValueError:
                variables = None
            used = {
                m
                for text in [template["body"], *(a[k] for a in template["actions"] for k in a)]
                for m in _VARIABLE.findall(text)
            }
            if not isinstance(variables, dict) or any(
                not isinstance(variables.get(n), str) or not variables[n] for n in used
            ):
                return self._error(400, 21656, "The ContentVariables Parameter is invalid")

            def fill(text: str) -> str:
                return _VARIABLE.sub(lambda m: variables[m.group(1)], text)

            rendered = {
                "body": fill(template["body"]),
                "buttons": [{"id": fill(a["id"]), "title": fill(a["title"])} for a in template["actions"]],
            }
        elif body.get("Body"):
            rendered = {"body": body["Body"], "buttons": []}
            if time.time() - self.last_inbound.get(to, 0) >= self.SESSION_SECONDS:
                fate = "63016"  # accepted now, failed in the callback: outside the session
        else:
            return self._error(400, 21602, "Message body is required.")
        if to in self.not_on_whatsapp:
            fate = "63003"
        sid = "SM" + uuid.uuid4().hex
        message = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": body["To"],
            "from": body.get("From"),
            "messaging_service_sid": body.get("MessagingServiceSid"),
            "body": rendered["body"],
            "status": "accepted" if body.get("MessagingServiceSid") else "queued",
            "num_segments": "1",
            "error_code": None,
            "error_message": None,
            "price": None,
            "status_callback": body.get("StatusCallback"),
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        self.messages.append(
            {**message, "content_sid": body.get("ContentSid"), "rendered": rendered, "fate": fate, "sent": dict(body)}
        )
        return 201, message, {}

    def settle(self, message: dict) -> list[requests.Response]:
        """Twilio's status callbacks for a WhatsApp message: sent then delivered, or failed with its error code."""
        if message["fate"] == "delivered":
            return [self.status(message, "sent"), self.status(message, "delivered")]
        return [self.status(message, "failed", message["fate"])]

    def whatsapp_reply(
        self, their: str, ours: str, body: str, button: dict | None = None, quoting: str | None = None
    ) -> requests.Response:
        """The person writes (or taps `button`) on WhatsApp: Twilio POSTs it with whatsapp: addresses."""
        self.last_inbound[their] = time.time()
        params = {
            "MessageSid": "SM" + uuid.uuid4().hex,
            "SmsMessageSid": "",
            "AccountSid": self.account_sid,
            "From": WA + their,
            "To": WA + ours,
            "Body": button["title"] if button else body,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
            "ProfileName": "Casey",
            "WaId": their.lstrip("+"),
        }
        params["SmsMessageSid"] = params["MessageSid"]
        if button:
            params |= {"ButtonPayload": button["id"], "ButtonText": button["title"]}
        if quoting:
            params["OriginalRepliedMessageSid"] = quoting
        return self._post(self.inbound_url, params)

    def tap(self, message: dict, index: int) -> requests.Response:
        """The person taps quick-reply button `index` of a template message we sent."""
        button = message["rendered"]["buttons"][index]
        return self.whatsapp_reply(message["to"].removeprefix(WA), message["from"].removeprefix(WA), "", button)

    # --- the customer's side -----------------------------------------------------------------------------------
    def _post(self, url: str, params: dict[str, str], token: str | None = None) -> requests.Response:
        if "Body" in params:
            self.inbound.append(params)
        signature = twilio_signature(token or self.auth_token, url, params)
        return requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10)

    def reply(self, their: str, ours: str, body: str, token: str | None = None, sid: str | None = None):
        """The customer texts `body` from `their` number to `ours`: Twilio POSTs it to the inbound URL."""
        if body.strip().upper() in {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}:
            self.blocked.add(their)  # Twilio blocks the pair before the webhook sees the message
        if body.strip().upper() in {"START", "YES", "UNSTOP"}:
            self.blocked.discard(their)
        params = {
            "MessageSid": sid or "SM" + uuid.uuid4().hex,
            "AccountSid": self.account_sid,
            "From": their,
            "To": ours,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
            "FromCountry": "US",
            "ToCountry": "US",
        }
        return self._post(self.inbound_url, params, token)

    def status(self, message: dict, status: str, error_code: str | None = None) -> requests.Response:
        """A status callback for one of our messages, to the StatusCallback it was sent with."""
        params = {
            "MessageSid": message["sid"],
            "SmsSid": message["sid"],
            "AccountSid": self.account_sid,
            "From": message["from"] or "",
            "To": message["to"],
            "MessageStatus": status,
            "SmsStatus": status,
            "ApiVersion": "2010-04-01",
        }
        if error_code:
            params["ErrorCode"] = error_code
        return self._post(message["status_callback"], params)


class WhatsAppEmulator(Emulator):
    """graph.facebook.com's /{version}/{phone_number_id}/messages: Bearer token, Cloud API JSON and errors."""

    WINDOW_SECONDS = 24 * 3600

    def __init__(
        self,
        phone_number_id: str = "106540352242922",
        access_token: str = "wa-token",
        app_secret: str = "wa-app-secret",
        display_number: str = "15550783881",
    ) -> None:
        super().__init__()
        self.phone_number_id, self.access_token, self.app_secret = phone_number_id, access_token, app_secret
        self.display_number = display_number
        self.messages: list[dict] = []
        self.last_inbound: dict[str, float] = {}  # wa_id -> when the user last wrote (opens the window)
        self.approved_templates: set[tuple[str, str]] = set()
        # what an approved template says, as Meta holds it (the message names it only): for the viewer
        self.template_texts: dict[tuple[str, str], dict] = {}
        self.webhook_url: str | None = None
        self.inbound: list[dict] = []  # the messages posted to the service as the customer

    def error_body(self, status: int) -> object:
        code = 130429 if status == 429 else 131000
        return {
            "error": {
                "message": "(#130429) Rate limit hit" if status == 429 else "Something went wrong",
                "type": "OAuthException",
                "code": code,
                "fbtrace_id": "A" + uuid.uuid4().hex[:20],
            }
        }

    def _error(self, status: int, code: int, message: str, details: str = "") -> Response:
        return (
            status,
            {
                "error": {
                    "message": message,
                    "type": "OAuthException",
                    "code": code,
                    "error_data": {"messaging_product": "whatsapp", "details": details},
                    "fbtrace_id": "A" + uuid.uuid4().hex[:20],
                }
            },
            {},
        )

    def handle(self, request: Request, body) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            return self._error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        parts = request.path.strip("/").split("/")
        if request.method != "POST" or len(parts) != 3 or parts[1] != self.phone_number_id or parts[2] != "messages":
            return self._error(400, 100, "Unsupported post request.")
        if body is INVALID_JSON or not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
            return self._error(400, 100, "The parameter messaging_product is required.")
        to, kind = str(body.get("to") or ""), body.get("type")
        wa_id = to.lstrip("+")
        if not wa_id.isdigit():
            return self._error(400, 131009, "Parameter value is not valid", "the to number is not valid")
        in_window = time.time() - self.last_inbound.get(wa_id, 0) < self.WINDOW_SECONDS
        if kind == "template":
            template = body.get("template") or {}
            key = (template.get("name"), (template.get("language") or {}).get("code"))
            if key not in self.approved_templates:
                return self._error(
                    404,
                    132001,
                    "Template name does not exist in the translation",
                    f"template name ({key[0]}) does not exist in {key[1]}",
                )
        elif kind == "interactive":
            interactive = body.get("interactive") or {}
            action = interactive.get("action") or {}
            if interactive.get("type") == "button" and not 1 <= len(action.get("buttons") or []) <= 3:
                return self._error(400, 131009, "Parameter value is not valid", "buttons: 1 to 3")
            if interactive.get("type") == "list":
                rows = sum(len(section.get("rows") or []) for section in action.get("sections") or [])
                if not 1 <= rows <= 10:
                    return self._error(400, 131009, "Parameter value is not valid", "rows: 1 to 10")
        elif kind != "text":
            return self._error(400, 100, f"Invalid parameter type {kind!r}")
        message_id = "wamid." + base64.b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        self.messages.append({"id": message_id, "in_window": in_window, **body})
        return (
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": wa_id}],
                "messages": [{"id": message_id, "message_status": "accepted"}],
            },
            {},
        )

    # --- Meta's side of the webhook --------------------------------------------------------------------------
    def _post(self, value: dict, secret: str | None = None) -> requests.Response:
        envelope = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": self.display_number,
                                    "phone_number_id": self.phone_number_id,
                                },
                                **value,
                            },
                        }
                    ],
                }
            ],
        }
        raw = json.dumps(envelope, ensure_ascii=False).encode()  # Meta sends UTF-8; the signature is over these bytes
        signature = "sha256=" + hmac.new((secret or self.app_secret).encode(), raw, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
        return requests.post(self.webhook_url, data=raw, headers=headers, timeout=10)

    def verify_webhook(self, verify_token: str) -> requests.Response:
        """The subscription handshake Meta performs when the webhook URL is saved."""
        query = {"hub.mode": "subscribe", "hub.verify_token": verify_token, "hub.challenge": "1158201444"}
        return requests.get(f"{self.webhook_url}?{urlencode(query)}", timeout=10)

    def user_message(self, wa_id: str, message: dict, context_id: str | None = None, **extra) -> requests.Response:
        self.last_inbound[wa_id] = time.time()
        body = {"from": wa_id, "id": "wamid." + uuid.uuid4().hex, "timestamp": str(int(time.time())), **message}
        if context_id:
            body["context"] = {"from": self.display_number, "id": context_id}
        self.inbound.append(body)
        return self._post({"contacts": [{"profile": {"name": "Casey"}, "wa_id": wa_id}], "messages": [body]}, **extra)

    def tap_quick_reply(self, wa_id: str, sent: dict, index: int) -> requests.Response:
        """The user taps a template's quick-reply button: type "button" with the payload set at send time and the
        button's label as text (the approved template's, when the emulator holds its text)."""
        button = [c for c in sent["template"]["components"] if c["type"] == "button"][index]
        payload = button["parameters"][0]["payload"]
        held = self.template_texts.get((sent["template"]["name"], sent["template"]["language"]["code"]))
        label = held["buttons"][index] if held else str(index + 1)
        return self.user_message(wa_id, {"type": "button", "button": {"payload": payload, "text": label}}, sent["id"])

    def tap_interactive(self, wa_id: str, sent: dict, index: int) -> requests.Response:
        interactive = sent["interactive"]
        if interactive["type"] == "button":
            chosen = interactive["action"]["buttons"][index]["reply"]
            reply = {"type": "button_reply", "button_reply": {"id": chosen["id"], "title": chosen["title"]}}
        else:
            row = [r for s in interactive["action"]["sections"] for r in s["rows"]][index]
            reply = {"type": "list_reply", "list_reply": {"id": row["id"], "title": row["title"]}}
        return self.user_message(wa_id, {"type": "interactive", "interactive": reply}, sent["id"])

    def text(self, wa_id: str, body: str, context_id: str | None = None) -> requests.Response:
        return self.user_message(wa_id, {"type": "text", "text": {"body": body}}, context_id)

    def status(self, sent: dict, status: str, code: int | None = None) -> requests.Response:
        item = {
            "id": sent["id"],
            "status": status,
            "timestamp": str(int(time.time())),
            "recipient_id": str(sent["to"]).lstrip("+"),
        }
        if sent.get("biz_opaque_callback_data"):
            item["biz_opaque_callback_data"] = sent["biz_opaque_callback_data"]
        if code:
            item["errors"] = [
                {
                    "code": code,
                    "title": "Re-engagement message" if code == 131047 else "Error",
                    "message": "Re-engagement message",
                    "error_data": {
                        "details": "Message failed to send because more than 24 hours have passed since the customer "
                        "last replied to this number."
                    },
                }
            ]
        return self._post({"statuses": [item]})


def vonage_signature(params: dict[str, str], secret: str) -> str:
    """The dashboard's default "MD5 hash": md5 of &name=value (sorted, & and = in values as _) + secret."""
    text = "".join(f"&{k}={str(v).replace('&', '_').replace('=', '_')}" for k, v in sorted(params.items()))
    return hashlib.md5((text + secret).encode()).hexdigest()


class VonageEmulator(Emulator):
    """rest.nexmo.com/sms/json: api_key + api_secret in the form, always HTTP 200, a status per message part."""

    def __init__(
        self,
        api_key: str = "a1b2c3d4",
        api_secret: str = "vonage-secret",
        signature_secret: str = "vonage-signature-secret",
    ) -> None:
        super().__init__()
        self.api_key, self.api_secret, self.signature_secret = api_key, api_secret, signature_secret
        self.messages: list[dict] = []
        self.barred: set[str] = set()
        self.inbound_url: str | None = None

    def parse(self, request: Request) -> dict:
        return {k: v[-1] for k, v in parse_qs(request.raw.decode(), keep_blank_values=True).items()}

    def _status(self, status: str, text: str, to: str = "") -> Response:
        return 200, {"message-count": "1", "messages": [{"to": to, "status": status, "error-text": text}]}, {}

    def handle(self, request: Request, body) -> Response:
        if request.path != "/sms/json" or request.method != "POST":
            return 404, {"error": "not found"}, {}
        if body.get("api_key") != self.api_key or body.get("api_secret") != self.api_secret:
            return self._status("4", "Bad Credentials")
        if not all(body.get(name) for name in ("from", "to", "text")):
            return self._status("2", "Missing from param")
        to = body["to"]
        if not to.isdigit():
            return self._status("3", "Invalid to param", to)
        if to in self.barred:
            return self._status("7", "The number you are trying to send messages to is barred", to)
        message_id = uuid.uuid4().hex[:16].upper()
        self.messages.append({"message-id": message_id, **body})
        return (
            200,
            {
                "message-count": "1",
                "messages": [
                    {
                        "to": to,
                        "message-id": message_id,
                        "status": "0",
                        "remaining-balance": "3.14159265",
                        "message-price": "0.03330000",
                        "network": "23410",
                        "client-ref": body.get("client-ref", ""),
                    }
                ],
            },
            {},
        )

    def _post(self, url: str, params: dict[str, str]) -> requests.Response:
        params = {**params, "timestamp": str(int(time.time())), "nonce": uuid.uuid4().hex}
        params["sig"] = vonage_signature(params, self.signature_secret)
        return requests.post(url, data=params, timeout=10)

    def reply(self, their: str, ours: str, text: str) -> requests.Response:
        params = {
            "msisdn": their.lstrip("+"),
            "to": ours.lstrip("+"),
            "messageId": uuid.uuid4().hex[:16].upper(),
            "text": text,
            "type": "text",
            "keyword": text.split()[0].upper() if text.split() else "",
            "api-key": self.api_key,
            "message-timestamp": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        return self._post(self.inbound_url, params)

    def long_reply_parts(self, their: str, ours: str, text: str, ref: str) -> list[dict[str, str]]:
        """A message longer than one segment as Vonage delivers it: one webhook per part, each with its own
        messageId and concat=true, concat-ref, concat-total, concat-part (from 1); type unicode for UCS-2 text
        (https://developer.vonage.com/messaging/sms/guides/inbound-sms , "Concatenated inbound messages").
        The split is the phone's: 153 GSM-7 characters or 67 UCS-2 units per part (here: ASCII counts as GSM-7)."""
        unicode = not text.isascii()
        size = 67 if unicode else 153
        chunks = [text[i : i + size] for i in range(0, len(text), size)]
        return [
            {
                "msisdn": their.lstrip("+"),
                "to": ours.lstrip("+"),
                "messageId": uuid.uuid4().hex[:16].upper(),
                "text": chunk,
                "type": "unicode" if unicode else "text",
                "keyword": chunk.split()[0].upper() if chunk.split() else "",
                "api-key": self.api_key,
                "message-timestamp": time.strftime("%Y-%m-%d %H:%M:%S"),
                "concat": "true",
                "concat-ref": ref,
                "concat-total": str(len(chunks)),
                "concat-part": str(number),
            }
            for number, chunk in enumerate(chunks, start=1)
        ]

    def deliver(self, params: dict[str, str]) -> requests.Response:
        """POST one prepared inbound webhook (a part of a long message), signed as Vonage signs."""
        return self._post(self.inbound_url, params)

    def receipt(self, sent: dict, status: str, err_code: str = "0") -> requests.Response:
        params = {
            "msisdn": sent["to"],
            "to": sent["from"],
            "network-code": "23410",
            "messageId": sent["message-id"],
            "price": "0.03330000",
            "status": status,
            "scts": time.strftime("%y%m%d%H%M"),
            "err-code": err_code,
            "api-key": self.api_key,
            "client-ref": sent.get("client-ref", ""),
            "message-timestamp": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        return self._post(sent["callback"], params)


class ChatwootChatEmulator(ChatwootEmulator):
    """The Chatwoot emulator plus what in-chat surveys use: GET .../messages ({"payload": [...]}), and the
    widget's choice sent back as a signed message_updated webhook (content_attributes.submitted_values)."""

    def __init__(self, *args, webhook_secret: str = "cw-webhook-secret", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.webhook_secret = webhook_secret
        self.webhook_url: str | None = None

    def handle(self, request: Request, body) -> Response:
        path = request.path.removeprefix(f"/api/v1/accounts/{self.account_id}")
        if request.method == "GET" and path.endswith("/messages") and path.startswith("/conversations/"):
            if request.headers.get("api_access_token") != self.token:
                return 401, {"error": "Invalid Access Token"}, {}
            conversation = self.conversations.get(int(path.split("/")[2]))
            if conversation is None:
                return 404, {"error": "Resource could not be found"}, {}
            messages = [{"id": i + 1, **m} for i, m in enumerate(conversation.messages)]
            return 200, {"meta": {"labels": conversation.labels}, "payload": messages}, {}
        is_select = isinstance(body, dict) and body.get("content_type") == "input_select"
        if request.method == "POST" and path.endswith("/messages") and is_select:
            items = (body.get("content_attributes") or {}).get("items")
            if not isinstance(items, list) or any(set(item) - {"title", "value"} for item in items):
                return 422, {"error": "Content attributes items must only have title and value"}, {}
        return super().handle(request, body)

    def _post(self, payload: dict) -> requests.Response:
        raw = json.dumps(payload).encode()
        stamp = str(int(time.time()))
        digest = hmac.new(self.webhook_secret.encode(), stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Chatwoot-Signature": f"sha256={digest}",
            "X-Chatwoot-Timestamp": stamp,
            "X-Chatwoot-Delivery": uuid.uuid4().hex,
        }
        return requests.post(self.webhook_url, data=raw, headers=headers, timeout=10)

    def _conversation(self, display_id: int) -> dict:
        return {
            "id": display_id,
            "display_id": display_id,
            "inbox_id": 1,
            "channel": "Channel::WebWidget",
            "status": self.conversations[display_id].status,
        }

    def choose(self, display_id: int, message_id: int, index: int) -> requests.Response:
        """The customer clicks an option in the widget: the message is PATCHed and message_updated fires."""
        message = self.conversations[display_id].messages[message_id - 1]
        item = message["content_attributes"]["items"][index]
        message["content_attributes"]["submitted_values"] = [{"title": item["title"], "value": item["value"]}]
        return self._post(
            {
                "event": "message_updated",
                "id": message_id,
                "content": message["content"],
                "content_type": "input_select",
                "message_type": "outgoing",
                "content_attributes": message["content_attributes"],
                "conversation": self._conversation(display_id),
                "account": {"id": self.account_id},
            }
        )

    def customer_writes(self, display_id: int, content: str) -> requests.Response:
        conversation = self.conversations[display_id]
        conversation.messages.append({"content": content, "message_type": "incoming", "content_type": "text"})
        return self._post(
            {
                "event": "message_created",
                "id": len(conversation.messages),
                "content": content,
                "content_type": "text",
                "message_type": "incoming",
                "content_attributes": {},
                "conversation": self._conversation(display_id),
                "account": {"id": self.account_id},
            }
        )
