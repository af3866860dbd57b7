"""Our inbound verification against the providers' published test vectors (not against our own signing)."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugin.channels import twilio, vonage, whatsapp
from plugin.channels.base import InboundRequest, ProviderConfig, SignatureError

# twilio/twilio-python tests/unit/test_request_validator.py
# (https://github.com/twilio/twilio-python/blob/main/tests/unit/test_request_validator.py)
TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": ["CA1234567890ABCDE"],
    "Digits": ["1234"],
    "From": ["+14158675309"],
    "To": ["+18005551212"],
    "Caller": ["+14158675309"],
}
BODY = '{"property": "value", "boolean": true}'
BODY_HASH = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"


def _twilio(url: str, signature: str, form=PARAMS, body: bytes = b"", query=None) -> InboundRequest:
    return InboundRequest("POST", url, {"X-Twilio-Signature": signature}, body, form, query or {})


CONFIG = ProviderConfig(1, "k", "twilio", None, "+15005550006", {}, {"auth_token": TOKEN})


def test_twilio_vectors():
    assert twilio.signature(TOKEN, URL, PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    duplicates = {"Sid": ["CA123"], "SidAccount": ["AC123"], "Digits": ["5678", "1234"]}
    assert twilio.signature(TOKEN, URL, duplicates) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    assert hashlib.sha256(BODY.encode()).hexdigest() == BODY_HASH


@pytest.mark.parametrize(
    ("url", "signature"),
    [
        (URL, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        (URL.replace(".com", ".com:1234"), "RSOYDt4T1cUTdK1PDd93/VVr8B8="),  # the vector's "removes port on https"
        (URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),  # signed with :443 added
        (URL.replace(".com", ".com:1234").replace("https", "http"), "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
        (URL.replace("https", "http"), "0ZXoZLH/DfblKGATFgpif+LLRf4="),  # signed with :80 added
    ],
)
def test_twilio_verify_accepts_the_published_signatures_with_and_without_the_port(url, signature):
    twilio.PROVIDER.verify(CONFIG, _twilio(url, signature))


def test_twilio_json_body_is_checked_through_body_sha256():
    url = URL + "&bodySHA256=" + BODY_HASH
    request = _twilio(url, "a9nBmqA0ju/hNViExpshrM61xv4=", {}, BODY.encode(), {"bodySHA256": [BODY_HASH]})
    twilio.PROVIDER.verify(CONFIG, request)
    tampered = _twilio(url, "a9nBmqA0ju/hNViExpshrM61xv4=", {}, BODY.encode() + b" ", {"bodySHA256": [BODY_HASH]})
    with pytest.raises(SignatureError):
        twilio.PROVIDER.verify(CONFIG, tampered)


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=20), max_size=5), st.text(max_size=20))
def test_twilio_any_changed_parameter_fails(params, extra):
    form = {name: [value] for name, value in params.items()}
    good = twilio.signature(TOKEN, URL, form)
    twilio.PROVIDER.verify(CONFIG, _twilio(URL, good, form))
    changed = {**form, "Body": [extra + "x"]}
    with pytest.raises(SignatureError):
        twilio.PROVIDER.verify(CONFIG, _twilio(URL, good, changed))


def test_twilio_the_decoded_url_does_not_verify():
    """Trap 1: Flask's request.url decodes %2F; the signed URL is the one as called."""
    raw = "https://example.test/inbound/twilio/a%2Fb?x=1"
    signature = twilio.signature(TOKEN, raw, PARAMS)
    twilio.PROVIDER.verify(CONFIG, _twilio(raw, signature))
    with pytest.raises(SignatureError):
        twilio.PROVIDER.verify(CONFIG, _twilio(raw.replace("%2F", "/"), signature))


# Vonage/vonage-python-sdk http_client/tests/test_auth.py (secret "signature_secret")
@pytest.mark.parametrize(
    ("params", "method", "expected"),
    [
        (
            {"param1": "value1", "param2": "value2", "timestamp": "1234567890"},
            "sha256",
            "280c4320703dbc98bfa22db676655ed2acfbfe8792b062ff7622e67f1183c287",
        ),
        (
            {"param1": "value1", "param2": "value2", "timestamp": "1234567890"},
            "md5",
            "724c2bf6ca423c36e20631b11d1c5753",
        ),
        (
            {"param1": "value&1", "param2": "value=2", "timestamp": "1234567890"},
            "md5",
            "2bbf0abafb2c55e5af6231513896a2ac",
        ),
        (
            {"param": "value", "timestamp": "1234567890", "sig": "655a4d0b7f064dff438defc52b012cf5"},
            "md5",
            "655a4d0b7f064dff438defc52b012cf5",
        ),
    ],
)
def test_vonage_vectors(params, method, expected):
    assert vonage.signature(params, "signature_secret", method) == expected


def test_whatsapp_signature_is_over_the_raw_bytes_not_the_reparsed_json():
    secret = "app-secret"
    raw = json.dumps({"object": "whatsapp_business_account", "entry": [], "name": "Zoë"}, ensure_ascii=True).encode()
    config = ProviderConfig(1, "k", "whatsapp", None, "1", {}, {"app_secret": secret})
    header = whatsapp.signature(secret, raw)
    whatsapp.PROVIDER.verify(config, InboundRequest("POST", "", {"X-Hub-Signature-256": header}, raw, {}, {}))
    reserialised = json.dumps(json.loads(raw), ensure_ascii=False).encode()  # \u00eb decoded: other bytes
    with pytest.raises(SignatureError):
        request = InboundRequest("POST", "", {"X-Hub-Signature-256": header}, reserialised, {}, {})
        whatsapp.PROVIDER.verify(config, request)
    with pytest.raises(SignatureError):
        whatsapp.PROVIDER.verify(config, InboundRequest("POST", "", {}, raw, {}, {}))
