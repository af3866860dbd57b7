"""Closing the loop on a negative rating: the helpdesk reopens the ticket or gets a follow-up task (each adapter
against its emulator, which follows the vendor's documented endpoints), team leads move the follow-up status on the
dashboard, and the recovery rate counts the resolved ones."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from plugin.adapters import get_adapter
from plugin.adapters.base import AccountCredentials, RatingReport
from plugin.admin.users import create_admin
from plugin.models import Account, Alert, Rating
from plugin.services import services
from tests.admin.conftest import PASSWORD, csrf_of, sign_in
from tests.conftest import Helpdesk, outbox
from tests.emulators.chatwoot import ChatwootEmulator
from tests.emulators.freshdesk import FreshdeskEmulator
from tests.emulators.helpscout import HelpScoutEmulator
from tests.emulators.zammad import ZammadEmulator
from tests.emulators.zendesk import ZendeskEmulator
from tests.platforms.support import rate


def report(ticket_id: str, ticket_url: str | None = None) -> RatingReport:
    return RatingReport(
        ticket_id=ticket_id,
        ticket_url=ticket_url,
        agent_id="7",
        agent_email="alex@acme.test",
        agent_name="Alex Agent",
        scale="csat5",
        score=1,
        max_score=5,
        score_label="Very dissatisfied",
        comment="Nobody called back",
        status="counted",
        version=1,
        rated_at=datetime(2026, 1, 5, tzinfo=UTC),
        agent_responses_30d=3,
        agent_csat_30d=66.7,
        tag="csat_1_of_5",
    )


@pytest.fixture(autouse=True)
def _emulators_on_loopback(monkeypatch):
    """The adapters below run outside an app: the outbound policy reads the environment, as in a worker."""
    monkeypatch.setenv("OUTBOUND_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")


def credentials(url: str, **kwargs) -> AccountCredentials:
    return AccountCredentials(
        account_key="k", webhook_secret=None, api_url=url, api_user=None, api_token=None, **kwargs
    )


@pytest.mark.parametrize("action", ["reopen", "task"])
def test_zendesk_reopens_with_an_internal_note_and_assigns_the_group(action):
    with ZendeskEmulator() as zendesk:
        ticket = zendesk.add_ticket(4711, status="solved")
        creds = AccountCredentials(
            "k", None, zendesk.url, zendesk.email, zendesk.api_token, options={"follow_up_group_id": "360001"}
        )
        get_adapter("zendesk").follow_up(creds, report("4711"), action)
        assert ticket.status == ("open" if action == "reopen" else "solved")
        assert ticket.group_id == 360001
        assert [c["public"] for c in ticket.comments] == [False]
        assert "Nobody called back" in ticket.comments[0]["body"] and "get back to them" in ticket.comments[0]["body"]
        assert len(zendesk.calls_to("PUT")) == 1  # one update: status, note and group together


@pytest.mark.parametrize("action", ["reopen", "task"])
def test_freshdesk_reopens_then_adds_a_private_note(action):
    with FreshdeskEmulator(api_key="fd-key") as freshdesk:
        ticket = freshdesk.add_ticket(11, status=4)
        creds = AccountCredentials("k", None, freshdesk.url, None, "fd-key")
        get_adapter("freshdesk").follow_up(creds, report("11"), action)
        assert ticket.status == (2 if action == "reopen" else 4)
        assert [n["private"] for n in ticket.notes] == [True] and "Nobody called back" in ticket.notes[0]["body"]


@pytest.mark.parametrize("action", ["reopen", "task"])
def test_zammad_reopens_with_an_internal_article(action):
    with ZammadEmulator() as zammad:
        ticket = zammad.add_ticket(31)
        creds = AccountCredentials("k", None, zammad.url, None, zammad.token)
        get_adapter("zammad").follow_up(creds, report("31"), action)
        assert ticket.state == ("open" if action == "reopen" else "closed")
        assert [(a["internal"], a["type"]) for a in ticket.articles] == [(True, "note")]


@pytest.mark.parametrize("action", ["reopen", "task"])
def test_help_scout_adds_a_note_that_reopens(action):
    with HelpScoutEmulator() as helpscout:
        conversation = helpscout.add_conversation(2391938111)
        creds = AccountCredentials("k", None, helpscout.url, helpscout.client_id, helpscout.client_secret)
        get_adapter("helpscout").follow_up(creds, report("2391938111"), action)
        assert conversation.status == ("active" if action == "reopen" else "closed")
        assert len(conversation.notes) == 1 and "Nobody called back" in conversation.notes[0]["text"]


@pytest.mark.parametrize("action", ["reopen", "task"])
def test_chatwoot_toggles_open_and_adds_a_private_message(action):
    with ChatwootEmulator(account_id=1, token="cw-token") as chatwoot:
        conversation = chatwoot.add_conversation(10)
        creds = AccountCredentials("k", None, chatwoot.url, None, "cw-token", options={"account_id": "1"})
        get_adapter("chatwoot").follow_up(creds, report("10"), action)
        assert conversation.status == ("open" if action == "reopen" else "resolved")
        assert [m["private"] for m in conversation.messages] == [True]


@pytest.fixture
def desk(app, client, http_recorder):
    """A generic account that asks for a reopen on negative ratings; its callbacks land in the recorder."""
    return Helpdesk(app, client, http_recorder.url + "/callback", options={"negative_action": "reopen"})


def _callbacks(recorder, kind: str) -> list[dict]:
    return [r.json() for r in recorder.requests if r.json().get("type") == kind]


def test_a_negative_rating_reopens_once_opens_a_follow_up_and_counts_in_the_recovery_rate(
    app, client, desk, http_recorder
):
    for n in (1, 2):
        assert desk.post(desk.event(ticket_id=f"T-{n}", email=f"c{n}@customer.test")).status_code == 202
    desk.run_jobs()
    first, second = outbox(app)
    rate(client, first, 1, "Nobody called back")
    rate(client, second, 5, "")
    desk.run_jobs()
    assert [c["action"] for c in _callbacks(http_recorder, "rating.follow_up")] == ["reopen"]
    assert "Nobody called back" in _callbacks(http_recorder, "rating.follow_up")[0]["note"]
    rate(client, first, 2, "Still nobody")  # changed, still negative: the ticket is not reopened twice
    desk.run_jobs()
    assert len(_callbacks(http_recorder, "rating.follow_up")) == 1
    with services().db.session() as session:
        ratings = {r.survey.ticket_id: r for r in session.scalars(select(Rating))}
        assert (ratings["T-1"].follow_up, ratings["T-2"].follow_up) == ("open", None)
        assert session.scalar(select(Alert.status).where(Alert.channel == "helpdesk")) == "sent"
        negative_id, positive_id = ratings["T-1"].id, ratings["T-2"].id
        account = session.get(Account, desk.account.id)
        create_admin(session, account, "tl@acme.test", PASSWORD, role="team_lead", teams=("Support",))
        create_admin(session, account, "lead@acme.test", PASSWORD)

    lead = app.test_client()
    assert sign_in(lead, "lead@acme.test").status_code == 303
    html = lead.get("/admin/").get_data(as_text=True)
    assert f'data-follow-up="{negative_id}"' in html and f'data-follow-up="{positive_id}"' not in html
    assert 'data-figure="recovery_rate">0.0 %' in html and "0 of 1 negative ratings resolved" in html
    token = csrf_of(html)
    post = lambda rating_id, state: lead.post(  # noqa: E731
        f"/admin/ratings/{rating_id}/follow-up", data={"csrf_token": token, "state": state, "next": "/admin/"}
    )
    assert post(negative_id, "archived").status_code == 400
    assert post(positive_id, "resolved").status_code == 400  # only a negative rating has a follow-up
    assert post(negative_id, "contacted").status_code == 303
    assert post(negative_id, "resolved").status_code == 303
    with services().db.session() as session:
        rating = session.get(Rating, negative_id)
        assert (rating.follow_up, rating.follow_up_by) == ("resolved", "lead@acme.test")
        assert session.get(Rating, positive_id).follow_up is None
    html = lead.get("/admin/").get_data(as_text=True)
    assert 'data-figure="recovery_rate">100.0 %' in html and "1 of 1 negative ratings resolved" in html

    outsider = app.test_client()  # a team lead of another team cannot touch it
    assert sign_in(outsider, "tl@acme.test").status_code == 303
    outsider_token = csrf_of(outsider.get("/admin/").get_data(as_text=True))
    answer = outsider.post(
        f"/admin/ratings/{negative_id}/follow-up", data={"csrf_token": outsider_token, "state": "open"}
    )
    assert answer.status_code == 404


def test_liveagent_cannot_take_a_negative_action_and_the_settings_say_so(app, client):
    from plugin.accounts import create_account

    with services().db.session() as session:
        account = create_account(session, services().box, platform="liveagent", name="LA", webhook_secret="s").account
        create_admin(session, account, "la@acme.test", PASSWORD)
    assert sign_in(client, "la@acme.test").status_code == 303
    html = client.get("/admin/settings").get_data(as_text=True)
    form = {m[0]: m[1] for m in re.findall(r'name="([a-z_0-9]+)"[^>]*value="([^"]*)"', html)}
    form.update(csrf_token=csrf_of(html), negative_action="reopen", scale="csat5", locale="en")
    response = client.post("/admin/settings", data=form)
    assert response.status_code == 400 and "cannot reopen tickets" in response.get_data(as_text=True)
