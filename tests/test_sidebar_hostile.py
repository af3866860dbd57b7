"""Hostile inputs, generated: a Zendesk JWT with any claim changed, and any string as a sidebar link token, open
nothing; the ticket a page asks for is only ever a question to the helpdesk."""

from __future__ import annotations

import json
import os
import time

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugin.accounts import create_account
from plugin.services import services
from plugin.sidebar import links, zendesk
from plugin.sidebar.auth import SidebarAuthError
from tests.support.zaf import ZafSigner

# Generated inputs are about parsing, not the database: run once, in the PostgreSQL pass of CI.
pytestmark = pytest.mark.skipif(
    os.environ.get("OPENCSAT_TEST_DATABASE", "sqlite") != "postgresql", reason="runs once, in the PostgreSQL pass"
)
SIGNER = ZafSigner()
FIXTURES = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@pytest.fixture
def installation(app):
    s = services()
    with s.db.session() as session:
        account = create_account(session, s.box, platform="zendesk", name="Acme").account
        zendesk.install(session, account, SIGNER.issuer, SIGNER.installation_id, SIGNER.public_pem)
    return account


texts = st.one_of(st.text(max_size=80), st.integers(), st.none(), st.lists(st.text(max_size=5), max_size=3))
CHANGES = st.one_of(
    st.fixed_dictionaries({"iss": texts}),
    st.fixed_dictionaries({"aud": texts}),
    st.fixed_dictionaries({"sub": st.one_of(st.none(), st.text(alphabet="abc/.:", max_size=40))}),
    st.fixed_dictionaries({"exp": st.one_of(st.integers(-(10**10), 10**10), texts, st.floats())}),
    st.fixed_dictionaries({"iat": st.one_of(st.integers(-(10**10), 10**10), texts, st.booleans())}),
    st.fixed_dictionaries({"nbf": st.one_of(st.integers(int(time.time()) + 120, 10**10), texts)}),
)


@pytest.mark.parametrize("issuer", ["\x00", "acme\x00.zendesk.com", "x" * 400, "acme.zendesk.com.evil.test"])
def test_a_jwt_whose_issuer_is_no_zendesk_host_is_refused_before_any_lookup(installation, issuer):
    """Found by the property below: an issuer with a NUL reached the installation lookup, which PostgreSQL refuses
    (a database error, not a refusal)."""
    token = jwt.api_jws.encode(json.dumps(SIGNER.claims(501, iss=issuer)).encode(), SIGNER.key, algorithm="RS256")
    with services().db.session() as session, pytest.raises(SidebarAuthError):
        zendesk.verify(session, token, services().clock())


@settings(max_examples=40, deadline=None, suppress_health_check=FIXTURES)
@given(changes=CHANGES)
def test_a_jwt_with_a_changed_claim_is_refused_or_equal_to_a_good_one(installation, changes):
    good = SIGNER.claims(501)
    claims = SIGNER.claims(501, **changes)
    # Signed as raw JWS: a forger is not held to PyJWT's claim types when encoding.
    token = jwt.api_jws.encode(json.dumps(claims).encode(), SIGNER.key, algorithm="RS256")
    with services().db.session() as session:
        try:
            viewer = zendesk.verify(session, token, services().clock())
        except SidebarAuthError:
            return
    # Accepted: then the claims that matter are those Zendesk would have set, for that installation.
    assert claims["iss"] == good["iss"] and claims["aud"] == good["aud"]
    assert viewer.account_key == installation.key and viewer.user_id.isdigit()
    assert abs(claims["exp"] - good["exp"]) <= zendesk.MAX_LIFETIME_SECONDS + zendesk.CLOCK_LEEWAY_SECONDS


@settings(max_examples=50, deadline=None, suppress_health_check=FIXTURES)
@given(token=st.one_of(st.text(max_size=120), st.text(max_size=60).map(lambda t: links.PREFIX + t)))
def test_no_string_but_an_issued_token_opens_a_link(installation, token):
    with services().db.session() as session:
        assert links.read(session, token, services().clock()) is None


@settings(max_examples=25, deadline=None, suppress_health_check=FIXTURES)
@given(ticket=st.text(max_size=150))
def test_any_ticket_from_the_page_is_only_a_question(installation, client, ticket):
    """Whatever ticket the page names, the answer is a check (202), a refusal (400), never panels or a 500."""
    from plugin.sidebar.auth import SidebarTokens
    from tests.conftest import SECRET_KEY

    viewer = SidebarTokens(SECRET_KEY).viewer_token(installation.key, "501", services().clock())
    answer = client.get("/sidebar/zendesk/ticket", query_string={"viewer": viewer, "ticket": ticket})
    assert answer.status_code in (202, 400) and "<table" not in answer.get_data(as_text=True)
