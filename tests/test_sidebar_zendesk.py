"""Zendesk's sidebar through ZAF signed URLs: Zendesk signs who is looking (RS256), Zendesk's API says what they may
see; the page chooses nothing but the ticket, and that choice is checked."""

from __future__ import annotations

import re
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from plugin.accounts import create_account
from plugin.models import Account
from plugin.services import services
from tests.conftest import run_jobs
from tests.emulators.zendesk import ZendeskEmulator
from tests.support.zaf import ZafSigner
from tests.test_sidebar import make_survey

ALEX, SAM, LEE, ADMIN, CUSTOMER = 501, 502, 503, 600, 9001


@pytest.fixture
def zendesk():
    with ZendeskEmulator() as emulator:
        emulator.add_user(ALEX, "alex@acme.test", "Alex", role="agent", ticket_restriction=None)
        emulator.add_user(SAM, "sam@acme.test", "Sam", role="agent", ticket_restriction="assigned")
        emulator.add_user(LEE, "lee@acme.test", "Lee (light agent)", role="agent", ticket_restriction="groups")
        emulator.add_user(ADMIN, "boss@acme.test", "Boss", role="admin")
        emulator.add_user(CUSTOMER, "dana@customer.test", "Dana")
        emulator.groups[LEE] = [77]
        emulator.add_ticket(4711, requester_id=CUSTOMER, assignee_id=ALEX, group_id=77)
        emulator.add_ticket(4712, requester_id=CUSTOMER, assignee_id=SAM, group_id=88)
        yield emulator


@pytest.fixture(scope="module")
def signer():
    return ZafSigner()  # one RSA key pair for the module: generating one takes a while


@pytest.fixture(scope="module")
def other_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def installed(app, runner, zendesk, signer, tmp_path):
    """A Zendesk account pointed at the emulator, its app installation trusted, and ratings on 4711 and 4712."""
    s = services()
    with s.db.session() as session:
        account = create_account(
            session,
            s.box,
            platform="zendesk",
            name="Acme on Zendesk",
            api_url=zendesk.url,
            api_user=zendesk.email,
            api_token=zendesk.api_token,
        ).account
        make_survey(session, account, "4711", sent_days=2, score=2, comment="slow", agent="alex@acme.test")
        make_survey(session, account, "4800", sent_days=3, score=5, agent="alex@acme.test")
        make_survey(session, account, "4712", sent_days=4, score=1, comment="rude", agent="sam@acme.test")
    pem = tmp_path / "public_key.pem"
    pem.write_text(signer.public_pem)
    result = runner.invoke(
        args=[
            "sidebar", "zendesk-install", "--account", account.key, "--subdomain", "acme",
            "--installation-id", signer.installation_id, "--public-key-file", str(pem),
        ]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return account


def _open(client, token: str, ticket: str, *, jobs: bool = True):
    """What the app iframe does: Zendesk POSTs the token; the page asks for the ticket ZAF names; we follow."""
    first = client.post("/sidebar/zendesk?origin=https://acme.zendesk.com&app_guid=g", data={"token": token})
    if first.status_code != 200:
        return first
    viewer = re.search(r'var VIEWER = "([^"]+)"', first.get_data(as_text=True)).group(1)
    url = f"/sidebar/zendesk/ticket?viewer={viewer}&ticket={ticket}&origin=https://acme.zendesk.com&app_guid=g"
    answer = client.get(url)
    for _ in range(3):
        if answer.status_code != 202 or not jobs:
            break
        run_jobs()
        answer = client.get(url)
    if answer.status_code != 303:
        return answer
    assert "origin=" in answer.headers["Location"] and "app_guid=g" in answer.headers["Location"]
    return client.get(answer.headers["Location"])


def _cells(response, name: str) -> list[str]:
    return re.findall(rf'<td class="{name}">([^<]+)</td>', response.get_data(as_text=True))


def test_an_agent_sees_their_ticket_and_their_own_figures(client, installed, signer):
    page = _open(client, signer.token(ALEX), "4711")
    assert page.status_code == 200 and "slow" in page.get_data(as_text=True)
    assert _cells(page, "csat") == ["50%", "50%", "50%"] and _cells(page, "team-csat") == []
    assert "frame-ancestors https://*.zendesk.com" in page.headers["Content-Security-Policy"]


def test_an_agent_never_sees_a_colleagues_figures(client, installed, signer):
    page = _open(client, signer.token(ALEX), "4712")  # Sam's ticket; Alex may see it in Zendesk
    assert page.status_code == 200 and "rude" in page.get_data(as_text=True)
    assert _cells(page, "csat") == ["50%", "50%", "50%"]  # Alex's own, not Sam's 0 %


def test_an_admin_sees_the_tickets_agent_and_team(client, installed, signer):
    page = _open(client, signer.token(ADMIN), "4712")
    assert _cells(page, "csat") == ["0%", "0%", "0%"] and _cells(page, "team-csat") == ["33%", "33%", "33%"]


@pytest.mark.parametrize(
    ("user", "ticket", "status"),
    [(SAM, "4711", 403), (SAM, "4712", 200), (LEE, "4711", 200), (LEE, "4712", 403), (CUSTOMER, "4711", 403),
     (ALEX, "999", 403), (424242, "4711", 403)],
)  # fmt: skip
def test_zendesk_says_who_may_see_which_ticket(client, installed, signer, user, ticket, status):
    page = _open(client, signer.token(user), ticket)
    assert page.status_code == status
    if status == 403:
        assert "slow" not in page.get_data(as_text=True) and "rude" not in page.get_data(as_text=True)


def test_until_zendesk_answers_the_page_waits_and_shows_nothing(client, installed, signer, zendesk):
    zendesk.fail_next(503, times=50)
    page = _open(client, signer.token(ALEX), "4711", jobs=False)
    assert page.status_code == 202 and "slow" not in page.get_data(as_text=True)


def _forged(signer: ZafSigner, other, case: str) -> str:
    now = int(time.time())
    return {
        "other_key": lambda: signer.token(ALEX, key=other),
        "other_installation": lambda: signer.token(
            ALEX, aud="https://acme.zendesk.com/api/v2/apps/installations/1.json"
        ),
        "other_account": lambda: signer.token(ALEX, iss="evil.zendesk.com"),
        "expired": lambda: signer.token(ALEX, issued=now - 900),
        "not_yet": lambda: signer.token(ALEX, issued=now + 900),
        "too_long": lambda: signer.token(ALEX, exp=now + 86400),
        "no_sub": lambda: signer.token(ALEX, sub=None),
        "no_aud": lambda: signer.token(ALEX, aud=None),
        "hs256_with_the_public_key": lambda: jwt.encode(
            signer.claims(ALEX), signer.public_pem.encode(), algorithm="HS256"
        ),
        "none": lambda: jwt.encode(signer.claims(ALEX), None, algorithm="none"),
        "garbage": lambda: "not.a.jwt",
        "empty": lambda: "",
    }[case]()


@pytest.mark.parametrize(
    "case",
    ["other_key", "other_installation", "other_account", "expired", "not_yet", "too_long", "no_sub", "no_aud",
     "hs256_with_the_public_key", "none", "garbage", "empty"],
)  # fmt: skip
def test_forged_or_stale_tokens_open_nothing(client, installed, signer, other_key, case):
    try:
        token = _forged(signer, other_key, case)
    except (jwt.InvalidKeyError, NotImplementedError):
        pytest.skip("PyJWT itself refuses to make this token")
    page = client.post("/sidebar/zendesk", data={"token": token})
    assert page.status_code == 401 and "VIEWER" not in page.get_data(as_text=True)


def test_a_token_opens_once(client, installed, signer):
    token = signer.token(ALEX)
    assert client.post("/sidebar/zendesk", data={"token": token}).status_code == 200
    replay = client.post("/sidebar/zendesk", data={"token": token})
    assert replay.status_code == 401 and "used already" in replay.get_data(as_text=True)


def test_the_view_is_bound_to_its_ticket_and_user_and_expires(client, installed, signer, clock):
    first = client.post("/sidebar/zendesk", data={"token": signer.token(SAM)})
    viewer = re.search(r'var VIEWER = "([^"]+)"', first.get_data(as_text=True)).group(1)
    assert client.get(f"/sidebar/zendesk/ticket?viewer={viewer}&ticket=4712").status_code == 202
    run_jobs()
    view = client.get(f"/sidebar/zendesk/ticket?viewer={viewer}&ticket=4712").headers["Location"]
    assert client.get(view).status_code == 200
    # The view names its ticket inside the signed token: asking for another ticket goes through the check again.
    assert client.get(view + "&ticket=4711").get_data(as_text=True).count("rude") == 1
    assert client.get(f"/sidebar/zendesk/ticket?viewer={viewer}&ticket=4711").status_code == 202
    run_jobs()
    assert client.get(f"/sidebar/zendesk/ticket?viewer={viewer}&ticket=4711").status_code == 403
    clock.advance(minutes=6)
    assert client.get(view).status_code == 401
    clock.advance(minutes=5)
    assert client.get(f"/sidebar/zendesk/ticket?viewer={viewer}&ticket=4712").status_code == 401


def test_the_old_page_signed_session_is_gone(client, installed):
    """Before: any JWT the page asked ZAF's proxy to sign (any ticket_id, any agent_email) opened a view."""
    token = jwt.encode({"iat": int(time.time()), "exp": int(time.time()) + 60, "ticket_id": "4712"}, "x" * 32)
    answer = client.post(
        f"/sidebar/zendesk/session?account={installed.key}", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code in (404, 405)
    assert client.get("/sidebar/zendesk").status_code == 401


def test_install_refuses_what_is_not_an_rsa_public_key(runner, installed, tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    result = runner.invoke(
        args=["sidebar", "zendesk-install", "--account", installed.key, "--subdomain", "acme",
              "--installation-id", "1", "--public-key-file", str(bad)]
    )  # fmt: skip
    assert result.exit_code != 0 and "RSA public key" in result.output
    with services().db.session() as session:
        assert session.get(Account, installed.id).platform == "zendesk"
