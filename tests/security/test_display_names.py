"""A requester's name can never add recipients (finding 6; CPython's folding bug CVE-2025-1795).

The survey goes through real SMTP (aiosmtpd on loopback); what the sink received is read with CPython's own parser,
as a receiving mail system would, and must hold exactly the one address we meant.
"""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Helpdesk

ATTACK = "Casey, evil1@attacker.test, evil2@attacker.test, <evil3@attacker.test>; " + "x" * 60
PIECES = [*"abcXYZ @<>,;:\"'()[]\\.=?ÄЖ日\u00a0", "evil@attacker.test", ", ", "=?utf-8?q?"]
PIECES += [", evil@attacker.test, ", "<evil@attacker.test>", "x" * 70]  # what folding (CVE-2025-1795) needs
_SOME = st.lists(st.sampled_from(PIECES), max_size=6).map("".join)
_INJECTED = st.sampled_from([", evil@attacker.test, ", ", <evil@a.test>, ", "; evil@attacker.test", ":evil@a.test;"])
# Random pieces around an injected address, long enough that the header must be folded.
NAMES = st.builds(lambda *parts: "".join(parts), _SOME, _INJECTED, st.text("xyz ", min_size=30, max_size=90), _SOME)


@pytest.fixture
def app_config(app_config, smtp_server):
    app_config["SMTP_URL"] = smtp_server.url
    return app_config


def _received_to(desk: Helpdesk, smtp_server, name: str):
    email = f"{uuid.uuid4().hex[:10]}@customer.test"
    event = desk.event(ticket_id=uuid.uuid4().hex[:12], email=email)
    event["requester"]["name"] = name
    assert desk.post(event).status_code == 202
    desk.run_jobs()
    [message] = [m for m in smtp_server.messages if email in m.as_string()]
    return email, message["To"]


def test_the_reported_attack_gives_one_recipient(app, client, smtp_server):
    desk = Helpdesk(app, client, None)
    email, to = _received_to(desk, smtp_server, ATTACK)
    assert [a.addr_spec for a in to.addresses] == [email]
    assert "attacker.test" not in str(to.addresses[0].addr_spec)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=NAMES)
def test_any_name_gives_exactly_the_one_address(app, client, smtp_server, name):
    desk = Helpdesk(app, client, None)
    email, to = _received_to(desk, smtp_server, name)
    assert [a.addr_spec for a in to.addresses] == [email]
