"""Hostile but correctly signed inbound bodies (hypothesis) never answer 500 and never count a rating."""

from __future__ import annotations

import json
import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugin.channels import twilio, vonage, whatsapp
from plugin.models import Rating
from plugin.services import services
from tests.conftest import Helpdesk
from tests.support.cli import add_channel

# Heavy (a database round trip per example): in the PostgreSQL pass only, as COMMON CI rules ask.
pytestmark = pytest.mark.skipif(
    os.environ.get("OPENCSAT_TEST_DATABASE", "sqlite") != "postgresql", reason="heavy: runs in the PostgreSQL pass"
)
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)
FIELDS = st.sampled_from(
    ["MessageSid", "AccountSid", "From", "To", "Body", "MessageStatus", "ErrorCode", "SmsSid", "ButtonPayload"]
)


@pytest.fixture
def account(app, client, http_recorder):
    desk = Helpdesk(app, client, http_recorder.url)
    key = desk.account.key
    add_channel(app, key, "twilio", account_sid="AC1", auth_token="t", from_="+15005550006")
    add_channel(
        app, key, "whatsapp", phone_number_id="1", access_token="a", app_secret="s", verify_token="v", template="x"
    )
    add_channel(app, key, "vonage", api_key="k", api_secret="p", signature_secret="g", from_="+447700900000")
    add_channel(
        app,
        key,
        "twilio-whatsapp",
        account_sid="AC1",
        auth_token="t",
        from_="+15005550006",
        content_sid="HX" + "0" * 32,
    )
    return key


def _no_ratings() -> bool:
    with services().db.session() as session:
        return session.query(Rating).count() == 0


@FUZZ
@given(st.dictionaries(FIELDS | st.text(min_size=1, max_size=10), st.text(max_size=300), max_size=8))
@pytest.mark.parametrize("provider", ["twilio", "twilio-whatsapp"])
def test_twilio_signed_junk(client, account, provider, form):
    url = f"{services().settings.public_url}/inbound/{provider}/{account}"
    signature = twilio.signature("t", url, {name: [value] for name, value in form.items()})
    answer = client.post(f"/inbound/{provider}/{account}", data=form, headers={"X-Twilio-Signature": signature})
    assert answer.status_code in (200, 400), answer.get_data(as_text=True)
    assert _no_ratings()


@FUZZ
@given(JSON, st.booleans())
def test_whatsapp_signed_junk(client, account, value, wrap):
    data = {"object": "whatsapp_business_account", "entry": value} if wrap else value
    body = json.dumps(data).encode()
    headers = {"X-Hub-Signature-256": whatsapp.signature("s", body), "Content-Type": "application/json"}
    answer = client.post(f"/inbound/whatsapp/{account}", data=body, headers=headers)
    assert answer.status_code in (200, 400), answer.get_data(as_text=True)
    assert _no_ratings()


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(
            ["msisdn", "to", "messageId", "text", "status", "err-code", "concat", "concat-ref", "concat-part"]
        )
        | st.text(min_size=1, max_size=8),
        st.text(max_size=200),
        max_size=8,
    )
)
def test_vonage_signed_junk(client, account, form):
    form = {**form, "timestamp": str(int(time.time()))}
    form["sig"] = vonage.signature(form, "g")
    answer = client.post(f"/inbound/vonage/{account}", data=form)
    assert answer.status_code in (200, 400), answer.get_data(as_text=True)
    assert _no_ratings()


ID = st.text(min_size=1, max_size=12)
MESSAGE = st.fixed_dictionaries(
    {
        "id": ID,
        "from": ID | st.from_regex(r"\A[1-9][0-9]{7,14}\Z"),
        "type": st.sampled_from(["text", "button", "interactive", "image"]),
    },
    optional={"text": JSON, "button": JSON, "interactive": JSON, "context": JSON},
)
STATUS = st.fixed_dictionaries(
    {"id": ID, "status": st.sampled_from(["sent", "delivered", "read", "failed"]) | st.text(max_size=40)},
    optional={"errors": JSON | st.lists(JSON, max_size=2), "biz_opaque_callback_data": JSON},
)
ENVELOPE_VALUE = st.fixed_dictionaries(
    {
        "metadata": st.just({"phone_number_id": "1"}),
        "messages": st.lists(MESSAGE, max_size=3),
        "statuses": st.lists(STATUS, max_size=3),
    }
)


@FUZZ
@given(ENVELOPE_VALUE)
def test_whatsapp_signed_envelopes_with_junk_messages(client, account, value):
    data = {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": value}]}]}
    body = json.dumps(data).encode()
    headers = {"X-Hub-Signature-256": whatsapp.signature("s", body), "Content-Type": "application/json"}
    answer = client.post(f"/inbound/whatsapp/{account}", data=body, headers=headers)
    assert answer.status_code in (200, 400), answer.get_data(as_text=True)
    assert _no_ratings()
