"""WhatsApp Business Cloud API (Meta, direct): templates outside the 24-hour window, interactive inside; replies and
status webhooks signed with X-Hub-Signature-256.

Sources:
- Send: POST {graph}/{version}/{phone_number_id}/messages, Bearer access token, JSON {"messaging_product":
  "whatsapp", "recipient_type": "individual", "to", "type", ...}; answer {"messages": [{"id": "wamid..."}]}:
  https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/send-messages
- Reply buttons (max 3, title <= 20, id <= 256) and lists (max 10 rows, title <= 24, id <= 200), inside the window:
  .../messages/interactive-reply-buttons-messages , .../messages/interactive-list-messages
- Templates: quick-reply payloads set at send time as button components ({"type": "button", "sub_type":
  "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": ...}]}); a tap arrives as type
  "button" with button.payload and context.id: .../webhooks/reference/messages/button/
- Interactive taps arrive as interactive.button_reply.id / list_reply.id: .../webhooks/reference/messages/interactive
- Webhook: GET hub.mode=subscribe & hub.verify_token & hub.challenge -> the bare challenge; POST signed
  X-Hub-Signature-256: sha256=hex(HMAC-SHA256(app secret, raw body)) (WhatsApp/WhatsApp-Nodejs-SDK
  src/api/webhooks.ts). Statuses: sent, delivered, read, failed with errors[].code (131047 outside the window,
  131026 undeliverable).
Assumption (docs/channels.md): Graph error bodies {"error": {"code", "message", "error_data": {"details"}}}, as
Meta's Graph API answers elsewhere; the version is pinned by the api_version setting (default below).
"""

from __future__ import annotations

import hashlib
import hmac
import json

import requests

from plugin import egress, i18n
from plugin.channels.base import (
    Choice,
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
from plugin.models import Survey
from plugin.surveys.scales import Scale

API = "https://graph.facebook.com"
API_VERSION = "v24.0"
SIGNATURE_HEADER = "X-Hub-Signature-256"
MAX_BUTTONS, MAX_ROWS = 3, 10
# code -> whether another channel may still reach the person
PERMANENT = {"131047": True, "131026": True, "132000": True, "132001": True, "131049": True, "190": True}
# A free-form message failed because the 24-hour window had closed: Meta's 131047, Twilio's 63016. The survey is
# sent again as the template (plugin/channels/delivery.py).
WINDOW_CLOSED = frozenset({"131047", "63016"})
CHOOSE = i18n.N_("Choose")
TYPE_A_NUMBER = i18n.N_("Reply with a number from %(low)d to %(high)d.")


def signature(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def compose(
    survey: Survey, scale: Scale, locale: str, question: str | None, config: ProviderConfig, tokens, window_open: bool
) -> Outgoing:
    """The question: interactive buttons (<= 3 points) or a list (<= 10) inside the window, else the template.

    NPS (11 points) is asked as a typed number inside the window; outside it goes as the template without buttons.
    Through Twilio (`twilio-whatsapp`) the in-session message is free-form text, so the score is typed there too;
    its template is the account's Content template (ContentSid), whose quick replies' ids are variables.
    """
    text = question or i18n.gettext(locale, scale.question)
    limit = 20 if len(scale.points) <= MAX_BUTTONS else 24  # a button's title, a list row's title
    choices = tuple(
        Choice(
            f"r:{tokens.rating(survey.id, point.score)}",
            _title(f"{point.score} {i18n.gettext(locale, point.label)}", limit),
        )
        for point in scale.points
    )
    to = survey.requester_phone
    template = config.settings.get("template") or content_sid(config.settings.get("content_sid") or "", locale)
    if window_open:
        if len(choices) <= MAX_ROWS and config.provider == "whatsapp":
            menu = i18n.gettext(locale, CHOOSE)[:20]
            return Outgoing(to=to, text=text, choices=choices, reference=f"survey-{survey.id}", menu=menu)
        low, high = scale.points[0].score, scale.points[-1].score
        hint = i18n.gettext(locale, TYPE_A_NUMBER) % {"low": low, "high": high}
        return Outgoing(to=to, text=f"{text} {hint}", reference=f"survey-{survey.id}")
    return Outgoing(
        to=to,
        text=f"template:{template}",
        choices=choices if len(choices) <= MAX_ROWS else (),
        template=template,
        template_language=config.settings.get("template_language") or _template_language(locale),
        template_parameters=(survey.ticket_id,),
        reference=f"survey-{survey.id}",
    )


def content_sid(setting: str, locale: str) -> str | None:
    """The Twilio Content template for `locale`: "HX..." for every language, or "en=HX...,el=HX..." (the first
    entry when the survey's language has none: a Content template is approved per language)."""
    pairs = [entry.split("=", 1) for entry in setting.split(",") if "=" in entry]
    if not pairs:
        return setting or None
    return dict(pairs).get(locale, pairs[0][1])


def _title(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _template_language(locale: str) -> str:
    """Meta's template language codes (case-sensitive): our pt is pt_BR unless the account sets another."""
    return {"zh_Hans": "zh_CN", "zh_Hant": "zh_TW", "pt": "pt_BR", "en": "en"}.get(locale, locale)


class WhatsAppProvider:
    name = "whatsapp"
    channel = "whatsapp"

    def body(self, message: Outgoing) -> dict:
        """The JSON of one message (the template, interactive buttons or list, or text)."""
        base = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": message.to}
        if message.reference:
            base["biz_opaque_callback_data"] = message.reference
        if message.template:
            components = [
                {"type": "body", "parameters": [{"type": "text", "text": p} for p in message.template_parameters]}
            ]
            components += [
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": str(index),
                    "parameters": [{"type": "payload", "payload": choice.payload}],
                }
                for index, choice in enumerate(message.choices)
            ]
            template = {"name": message.template, "language": {"code": message.template_language}}
            return {**base, "type": "template", "template": {**template, "components": components}}
        if message.choices and len(message.choices) <= MAX_BUTTONS:
            buttons = [{"type": "reply", "reply": {"id": c.payload, "title": c.title[:20]}} for c in message.choices]
            interactive = {"type": "button", "body": {"text": message.text[:1024]}, "action": {"buttons": buttons}}
            return {**base, "type": "interactive", "interactive": interactive}
        if message.choices:
            rows = [{"id": c.payload[:200], "title": c.title[:24]} for c in message.choices]
            action = {"button": message.menu or "Choose", "sections": [{"rows": rows}]}
            interactive = {"type": "list", "body": {"text": message.text[:1024]}, "action": action}
            return {**base, "type": "interactive", "interactive": interactive}
        return {**base, "type": "text", "text": {"body": message.text[:4096]}}

    def send(self, config: ProviderConfig, message: Outgoing) -> Sent:
        version = config.settings.get("api_version") or API_VERSION
        url = f"{(config.api_url or API).rstrip('/')}/{version}/{config.sender}/messages"
        headers = {"Authorization": f"Bearer {config.secrets.get('access_token')}", "Content-Type": "application/json"}
        try:
            response = egress.request("POST", url, data=json.dumps(self.body(message)), headers=headers)
        except (requests.RequestException, egress.EgressRefused) as exc:
            raise SendError(f"whatsapp: {exc}", permanent=isinstance(exc, egress.EgressRefused)) from exc
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        answer = answer if isinstance(answer, dict) else {}
        if response.status_code >= 400:
            error = answer.get("error") if isinstance(answer.get("error"), dict) else {}
            code = str(error["code"]) if error.get("code") is not None else None
            raise http_error(
                "whatsapp", response, code=code, text=str(error.get("message") or "")[:300], permanent_codes=PERMANENT
            )
        messages = answer.get("messages") or [{}]
        if not isinstance(messages, list) or not isinstance(messages[0], dict) or not messages[0].get("id"):
            raise SendError("whatsapp answered without a message id", permanent=False)
        return Sent(str(messages[0]["id"]), "accepted")

    def handshake(self, config: ProviderConfig, query) -> str | None:
        """The subscription challenge to echo, or None when the mode or the verify token is wrong."""
        token = config.secrets.get("verify_token") or ""
        if (
            query.get("hub.mode") == "subscribe"
            and token
            and hmac.compare_digest(str(query.get("hub.verify_token") or "").encode(), token.encode())
        ):
            return str(query.get("hub.challenge") or "")
        return None

    def verify(self, config: ProviderConfig, request: InboundRequest) -> None:
        secret = config.secrets.get("app_secret")
        given = request.headers.get(SIGNATURE_HEADER) or ""
        if not secret:
            raise SignatureError("this account's whatsapp channel has no app secret")
        if not hmac.compare_digest(signature(secret, request.body).encode(), given.strip().encode()):
            raise SignatureError(f"{SIGNATURE_HEADER} does not match the raw body and the app secret")

    def parse(self, config: ProviderConfig, request: InboundRequest) -> list[Reply | Status]:
        try:
            data = json.loads(request.body)
        except ValueError:
            raise PayloadError("the body is not JSON") from None
        if not isinstance(data, dict) or data.get("object") != "whatsapp_business_account":
            raise PayloadError('object must be "whatsapp_business_account"')
        items: list[Reply | Status] = []
        for entry in _list(data.get("entry"), "entry"):
            for change in _list(entry.get("changes"), "entry[].changes"):
                value = change.get("value")
                if change.get("field") != "messages" or not isinstance(value, dict):
                    continue
                metadata = _object(value.get("metadata"))
                if metadata.get("phone_number_id") not in (None, config.sender):
                    continue  # another number of the same app: not this account's
                ours = str(metadata.get("phone_number_id") or config.sender)  # our sender is the number's id
                items += [_message(m, ours) for m in _list(value.get("messages"), "messages")]
                items += [_status(s) for s in _list(value.get("statuses"), "statuses")]
        return items


def _list(value, name: str) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise PayloadError(f"{name} must be a list of objects")
    return value


def _object(value) -> dict:
    return value if isinstance(value, dict) else {}


def _message(message: dict, ours: str) -> Reply:
    if not isinstance(message.get("id"), str) or not isinstance(message.get("from") or message.get("user_id"), str):
        raise PayloadError("a message needs id and from (strings)")
    context = _object(message.get("context"))
    kind, text, payload = message.get("type"), "", None
    if kind == "text":
        text = str(_object(message.get("text")).get("body") or "")
    elif kind == "button":  # a template's quick reply
        button = _object(message.get("button"))
        payload, text = button.get("payload"), str(button.get("text") or "")
    elif kind == "interactive":
        interactive = _object(message.get("interactive"))
        chosen = _object(interactive.get("button_reply")) or _object(interactive.get("list_reply"))
        payload, text = chosen.get("id"), str(chosen.get("title") or "")
    their = str(message.get("from") or message.get("user_id"))
    context_id = context.get("id") if isinstance(context.get("id"), str) else None
    return Reply(
        message["id"],
        "+" + their if their.isdigit() else their,
        ours,
        text,
        str(payload) if payload else None,
        context_id,
    )


def _status(status: dict) -> Status:
    if not isinstance(status.get("id"), str) or not isinstance(status.get("status"), str):
        raise PayloadError("a status needs id and status (strings)")
    errors = status.get("errors") if isinstance(status.get("errors"), list) else []
    first = _object(errors[0]) if errors else {}
    code = str(first["code"]) if isinstance(first.get("code"), int | str) else None
    detail = _object(first.get("error_data")).get("details")
    message = first.get("title") or first.get("message") or detail
    reference = status.get("biz_opaque_callback_data")
    return Status(
        status["id"], status["status"], code, str(message) if message else None, str(reference) if reference else None
    )


PROVIDER = WhatsAppProvider()
