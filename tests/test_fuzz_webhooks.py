"""Property: whatever a webhook route is sent, it answers 2xx or 4xx, and a 4xx stores nothing.

Bodies are generated (hypothesis): each platform's documented fixture with one field replaced by a hostile value
(NUL, huge, deep, a wrong type, a number out of range), and arbitrary JSON. Signature checks are switched off for
the body properties so the bodies reach the parsers; the signature headers have a property of their own with
the real check. Seeded by hypothesis (its seed is printed on failure; --hypothesis-seed replays it).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from plugin import signing
from plugin.accounts import create_account
from plugin.adapters import PLATFORMS, get_adapter
from plugin.models import Survey, WebhookEvent
from plugin.services import services

FIXTURES = Path(__file__).parent / "fixtures"
FUZZ = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)

hostile_strings = st.one_of(
    st.text(max_size=30).map(lambda s: s + "\x00"),
    st.just("x" * 5000),
    st.just("é" * 400),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=50),
    st.just("a@b.test\r\nBcc: victim@else.test"),
)
hostile_scalars = st.one_of(
    hostile_strings,
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.just(1e20),
    st.just(10**25),
    st.booleans(),
    st.none(),
)
json_values = st.recursive(
    hostile_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
hostile_values = st.one_of(
    json_values,
    st.just({"a": 1}),
    st.just(["ticket.solved"]),
    st.integers(min_value=1, max_value=60).map(lambda depth: json.loads("[" * depth + "]" * depth)),
)


def fixtures(platform: str) -> list[dict]:
    folder = FIXTURES / platform
    files = sorted(folder.glob("*.json")) if folder.exists() else []
    found = [json.loads(path.read_text()) for path in files]
    return [body for body in found if isinstance(body, dict)] or [GENERIC]


GENERIC = {
    "event_id": "e-1",
    "event": "ticket.solved",
    "occurred_at": "2026-11-23T10:00:00Z",
    "ticket": {"id": "4711", "subject": "VPN drops", "url": "https://desk.test/4711"},
    "requester": {"email": "dana@customer.test", "name": "Dana", "locale": "en"},
    "assignee": {"id": "9", "email": "sam@acme.test", "name": "Sam"},
}


def paths(value: object, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside a JSON document."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def replaced(document: object, path: tuple, new: object) -> object:
    if not path:
        return new
    head, *rest = path
    copy = dict(document) if isinstance(document, dict) else list(document)
    copy[head] = replaced(copy[head], tuple(rest), new)
    return copy


@st.composite
def mutated_fixture(draw, platform: str):
    document = draw(st.sampled_from(fixtures(platform)))
    where = paths(document)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        if where:
            document = replaced(document, draw(st.sampled_from(where)), draw(hostile_values))
            where = paths(document)
    return document


@pytest.fixture
def accounts(app, monkeypatch):
    """One account per platform, with signature checks switched off so the bodies reach the parsers."""
    s = services()
    urls = {}
    with s.db.session() as session:
        for platform in PLATFORMS:
            created = create_account(
                session,
                s.box,
                platform=platform,
                name=platform,
                webhook_secret="s",
                api_url="http://127.0.0.1:9",
                api_user="u",
                api_token="t",
                delay_minutes=0,
            )
            urls[platform] = f"/webhooks/{platform}/{created.account.key}"
    for platform in PLATFORMS:
        monkeypatch.setattr(get_adapter(platform), "verify", lambda *args, **kwargs: None)
    return urls


def stored() -> tuple[int, int]:
    with services().db.session() as session:
        return session.scalar(select(func.count(WebhookEvent.id))), session.scalar(select(func.count(Survey.id)))


def post(client, url: str, body: bytes, headers: dict | None = None):
    return client.post(url, data=body, headers={"Content-Type": "application/json", **(headers or {})})


def _check(client, url: str, body: bytes, headers: dict | None = None) -> None:
    before = stored()
    answer = post(client, url, body, headers)
    assert answer.status_code < 500, (answer.status_code, body[:300], answer.get_data(as_text=True)[:300])
    if answer.status_code >= 400:
        assert stored() == before, body[:300]
        assert answer.is_json and answer.get_json().get("message")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_mutated_documented_payloads_answer_2xx_or_4xx(accounts, client, platform):
    @FUZZ
    @given(document=mutated_fixture(platform))
    def property_(document):
        _check(client, accounts[platform], json.dumps(document).encode())

    property_()


@pytest.mark.parametrize("platform", PLATFORMS)
def test_arbitrary_json_and_bytes_answer_2xx_or_4xx(accounts, client, platform):
    @FUZZ
    @given(body=st.one_of(json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=200)))
    def property_(body):
        _check(client, accounts[platform], body)

    property_()


def test_huge_deep_and_non_finite_bodies(accounts, client):
    bodies = [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
        b'{"event": NaN}',
        b'{"event": -Infinity}',
        b'{"x": 1e999}',
        b'"\\u0000"',
        json.dumps({**GENERIC, "ticket": {"id": "1" * 100_000}}).encode(),
    ]
    for url in accounts.values():
        for body in bodies:
            _check(client, url, body)


# A header value cannot carry CR or LF (RFC 9110 section 5.5): no client can send one, and the test client refuses.
# No lone surrogates: a header arrives as bytes, and no bytes decode to one (the test's own encoding below would fail
# on it, as it did once in CI: the test, not the product).
_HEADER_CHARACTERS = st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"])


@FUZZ
@given(
    header=st.one_of(
        st.text(_HEADER_CHARACTERS, max_size=120),
        st.builds(
            lambda t, v: f"t={t},v1={v}",
            st.text(_HEADER_CHARACTERS, max_size=15),
            st.text(_HEADER_CHARACTERS, max_size=70),
        ),
        st.builds(lambda v: f"t=²,v1={v}", st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)),
    )
)
def test_signature_headers_never_answer_500(helpdesk, header):
    body = json.dumps(GENERIC).encode()
    try:
        header.encode("latin-1")
    except UnicodeEncodeError:
        header = header.encode().decode("latin-1")  # what a server reads from raw non-ASCII header bytes
    before = stored()
    answer = post(helpdesk.client, helpdesk.url, body, {signing.HEADER: header})
    assert answer.status_code == 401, (header, answer.status_code)
    assert stored() == before
