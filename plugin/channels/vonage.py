"""Vonage SMS API: send with /sms/json (errors inside an HTTP 200), take inbound SMS and delivery receipts signed
with `sig`.

Sources:
- Send: POST {api}/sms/json, form api_key, api_secret, from, to (digits, no +), text, type (unicode for UCS-2),
  callback, client-ref, status-report-req; answer {"message-count", "messages": [{"status": "0", "message-id",
  ...}]}, one element per part, a non-zero status is an error with error-text: Nexmo/api-specification
  definitions/sms.yml; Vonage/vonage-python-sdk sms/tests/data/send_sms*.json.
- Inbound: msisdn, to, messageId, text, type, keyword, message-timestamp, timestamp, nonce, sig; receipts: msisdn,
  to, messageId, status (delivered, expired, failed, rejected, accepted, buffered, unknown), err-code, client-ref:
  https://developer.vonage.com/messaging/sms/guides/inbound-sms ,
  https://developer.vonage.com/messaging/sms/building-blocks/receive-a-delivery-receipt
- sig: every parameter but sig, sorted by name, each value with & and = replaced by _, joined as &name=value;
  HMAC (md5, sha1, sha256, sha512) keyed with the signature secret, or the dashboard's "MD5 hash" (md5 of that
  string + secret): https://developer.vonage.com/getting-started/concepts/signing-messages ,
  Vonage/vonage-python-sdk http_client/src/vonage_http_client/auth.py (its vectors: tests/channels/).
- A long inbound SMS comes as one webhook per part with concat=true, concat-ref, concat-total, concat-part; the
  parts are joined before the reply is read (plugin/channels/concat.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import requests

from plugin import egress
from plugin.channels import concat, sms
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
)

API = "https://rest.nexmo.com"
RETRY = {"1", "5"}  # throttled, internal error
TOLERANCE_SECONDS = 300
METHODS = {"md5": hashlib.md5, "sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
RECEIPTS = {
    "delivered": "delivered",
    "accepted": "sent",
    "buffered": "sent",
    "expired": "failed",
    "failed": "failed",
    "rejected": "failed",
}


def signature(params: dict[str, str], secret: str, method: str = "md5hash") -> str:
    """Vonage's sig over `params` (lowercase hex)."""
    text = "".join(
        f"&{name}={str(value).replace('&', '_').replace('=', '_')}"
        for name, value in sorted(params.items())
        if name != "sig"
    )
    if method == "md5hash":
        return hashlib.md5((text + secret).encode()).hexdigest()
    return hmac.new(secret.encode(), text.encode(), METHODS[method]).hexdigest()


class VonageProvider:
    name = "vonage"
    channel = "sms"

    def send(self, config: ProviderConfig, message: Outgoing) -> Sent:
        data = {
            "api_key": config.settings.get("api_key"),
            "api_secret": config.secrets.get("api_secret"),
            "from": config.sender.lstrip("+"),
            "to": message.to.lstrip("+"),
            "text": message.text,
            "type": "text" if sms.segments(message.text).encoding == "GSM-7" else "unicode",
            "callback": config.inbound_url,
            "status-report-req": "1",
        }
        if message.reference:
            data["client-ref"] = message.reference[:40]
        try:
            response = egress.request("POST", f"{(config.api_url or API).rstrip('/')}/sms/json", data=data)
        except (requests.RequestException, egress.EgressRefused) as exc:
            raise SendError(f"vonage: {exc}", permanent=isinstance(exc, egress.EgressRefused)) from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise SendError(f"vonage HTTP {response.status_code}", permanent=False)
        try:
            parts = response.json().get("messages") or []
        except (ValueError, AttributeError):
            parts = []
        if not parts or not all(isinstance(part, dict) for part in parts):
            raise SendError(f"vonage HTTP {response.status_code} without messages", permanent=False)
        for part in parts:  # an HTTP 200 can still carry a refusal, per part
            status = str(part.get("status"))
            if status != "0":
                detail = f"vonage status {status}: {str(part.get('error-text') or '')[:300]}"
                raise SendError(detail, code=status, permanent=status not in RETRY, fallback=True)
        return Sent(str(parts[0].get("message-id")), "queued")

    def _params(self, request: InboundRequest) -> dict[str, str]:
        params = {name: values[-1] for name, values in {**request.query, **request.form}.items() if values}
        if request.headers.get("Content-Type", "").startswith("application/json"):
            try:
                body = json.loads(request.body)
            except ValueError:
                raise PayloadError("the body is not JSON") from None
            if not isinstance(body, dict):
                raise PayloadError("the body must be a JSON object")
            params |= {name: str(value) for name, value in body.items()}
        return params

    def verify(self, config: ProviderConfig, request: InboundRequest) -> None:
        secret = config.secrets.get("signature_secret")
        if not secret:
            raise SignatureError("this account's vonage channel has no signature secret (ask Vonage to sign webhooks)")
        params = self._params(request)
        given = params.get("sig", "")
        method = config.settings.get("signature_method") or "md5hash"
        if not given or not hmac.compare_digest(signature(params, secret, method).encode(), given.lower().encode()):
            raise SignatureError("sig does not match the parameters and the signature secret")
        stamp = params.get("timestamp", "")
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > TOLERANCE_SECONDS:
            raise SignatureError("timestamp is missing or more than 5 minutes away from our clock")

    def parse(self, config: ProviderConfig, request: InboundRequest) -> list[Reply | Status | concat.Part]:
        params = self._params(request)
        message_id = params.get("messageId")
        if not message_id or "msisdn" not in params:
            raise PayloadError("messageId and msisdn are required")
        their, ours = "+" + params["msisdn"].lstrip("+"), "+" + params.get("to", "").lstrip("+")
        if "text" in params and params.get("concat") == "true":
            return [concat.Part(message_id, their, ours, *_concat(params), params["text"])]
        if "text" in params:
            return [Reply(message_id, their, ours, params["text"])]
        if "status" in params:
            status = RECEIPTS.get(params["status"], "unknown")
            code = params.get("err-code")
            return [
                Status(message_id, status, code if code not in (None, "0") else None, None, params.get("client-ref"))
            ]
        raise PayloadError("neither text (an inbound SMS) nor status (a delivery receipt)")


def _concat(params: dict[str, str]) -> tuple[str, int, int]:
    """(concat-ref, concat-part, concat-total) of one part, checked: a part numbered outside its total is no part."""
    ref, part, total = params.get("concat-ref", ""), params.get("concat-part", ""), params.get("concat-total", "")
    if not (ref and len(ref) <= 40 and part.isdigit() and total.isdigit()):
        raise PayloadError("a concatenated part needs concat-ref (up to 40 characters), concat-part, concat-total")
    if not 1 <= int(part) <= int(total) <= concat.MAX_PARTS or int(total) < 2:
        raise PayloadError(f"concat-part must be from 1 to concat-total (2 to {concat.MAX_PARTS})")
    return ref, int(part), int(total)


PROVIDER = VonageProvider()
