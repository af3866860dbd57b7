"""Sidebar: each platform's authentication (valid, forged, expired) and the numbers against a hand-computed fixture."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from plugin.db import utcnow
from plugin.models import Account, Click, Rating, Survey
from plugin.services import services
from plugin.sidebar import links
from plugin.sidebar import view as sidebar
from plugin.sidebar.auth import helpscout_signature, shared_secret
from tests.conftest import SECRET_KEY

AGENT = "alex@acme.test"


def make_account(session, platform: str, key: str) -> Account:
    account = Account(key=key, name="Acme", platform=platform, api_key_hash=key * 4, options={})
    session.add(account)
    session.flush()
    return account


def make_survey(
    session,
    account,
    ticket,
    *,
    sent_days,
    score=None,
    status="counted",
    comment="",
    agent=AGENT,
    team="Billing",
    now=None,
):
    """A sent survey (and its rating when `score` is given), sent `sent_days` ago."""
    now = now or utcnow()
    sent = now - timedelta(days=sent_days)
    survey = Survey(
        account_id=account.id,
        ticket_id=ticket,
        ticket_url=f"https://desk.test/t/{ticket}",
        requester_email=f"{ticket}@customer.test",
        locale="en",
        agent_email=agent,
        team=team,
        scale="csat5",
        status="sent",
        scheduled_at=sent,
        sent_at=sent,
        created_at=sent,
    )
    session.add(survey)
    session.flush()
    if score is not None:
        session.add(
            Rating(
                survey_id=survey.id,
                account_id=account.id,
                agent_email=agent,
                scale="csat5",
                score=score,
                comment=comment,
                status=status,
                counted_at=sent if status == "counted" else None,
                version=1,
                created_at=sent,
                updated_at=sent + timedelta(hours=1),
            )
        )
    return survey


@pytest.fixture
def accounts_with_ratings(app):
    """One account per auth scheme, each holding the same hand-computed ratings.

    alex (team Billing): T1 2d 5 "great"; T2 5d 2 "slow" (clicked 4, then confirmed 2); T3 6d unanswered;
    T4 20d 4; T5 25d 1 pending (not counted); T6 60d 5; T7 100d 1 (outside 90 days).
    sam (team Billing): S1 3d 1.
    """
    now = utcnow()
    keys = {}
    with services().db.session() as session:
        for platform in ("zendesk", "helpscout", "generic", "chatwoot"):
            account = make_account(session, platform, f"key-{platform}")
            keys[platform] = account.key
            make_survey(session, account, "T1", sent_days=2, score=5, comment="great", now=now)
            t2 = make_survey(session, account, "T2", sent_days=5, score=2, comment="slow", now=now)
            make_survey(session, account, "T3", sent_days=6, now=now)
            make_survey(session, account, "T4", sent_days=20, score=4, now=now)
            make_survey(session, account, "T5", sent_days=25, score=1, status="pending", now=now)
            make_survey(session, account, "T6", sent_days=60, score=5, now=now)
            make_survey(session, account, "T7", sent_days=100, score=1, now=now)
            make_survey(session, account, "S1", sent_days=3, score=1, agent="sam@acme.test", now=now)
            clicked = t2.sent_at + timedelta(minutes=30)
            session.add_all(
                [
                    Click(survey_id=t2.id, kind="click", score=4, method="GET", at=clicked),
                    Click(survey_id=t2.id, kind="confirm", score=2, method="POST", at=clicked + timedelta(minutes=1)),
                ]
            )
    return keys


def test_agent_and_team_windows_match_the_hand_computed_figures(accounts_with_ratings):
    with services().db.session() as session:
        account = session.query(Account).filter_by(key=accounts_with_ratings["generic"]).one()
        agent = sidebar.agent_rolling(session, account.id, AGENT, utcnow())
        team = sidebar.team_rolling(session, account.id, "Billing", utcnow())
    # (days, sent, responses, satisfied): T7 is outside 90 days, T5 is pending so not a response.
    assert [(w.days, w.sent, w.responses, w.satisfied) for w in agent.windows] == [
        (7, 3, 2, 1),
        (30, 5, 3, 2),
        (90, 6, 4, 3),
    ]
    assert [(w.csat, w.response_rate) for w in agent.windows] == [(50.0, 66.7), (66.7, 60.0), (75.0, 66.7)]
    assert [(w.sent, w.responses, w.satisfied) for w in team.windows] == [(4, 3, 1), (6, 4, 2), (7, 5, 3)]
    # Weekly trend, oldest first: week 0 (T1, T2) 50 %, week 2 (T4) 100 %, week 8 (T6) 100 %.
    by_week = {sidebar.TREND_WEEKS - 1 - i: p for i, p in enumerate(agent.trend)}
    assert (by_week[0].responses, by_week[0].csat) == (2, 50.0)
    assert (by_week[2].responses, by_week[2].csat) == (1, 100.0)
    assert (by_week[8].responses, by_week[8].csat) == (1, 100.0)
    assert sum(p.responses for p in agent.trend) == 4


def test_ticket_panel_has_the_rating_comment_and_history(accounts_with_ratings):
    with services().db.session() as session:
        account = session.query(Account).filter_by(key=accounts_with_ratings["generic"]).one()
        [entry] = sidebar.ticket_ratings(session, account.id, "T2")
    assert (entry.score, entry.max_score, entry.label, entry.comment, entry.rating_status) == (
        2,
        5,
        "Dissatisfied",
        "slow",
        "counted",
    )
    assert [(h.kind, h.score) for h in entry.history] == [("click", 4), ("confirm", 2)]


def _token(key: str, days: int = 7, agent: str = "lead@acme.test", lead: bool = True) -> str:
    """A team lead's sidebar link token (plugin/sidebar/links.py): it shows the ticket agent's and team's figures."""
    with services().db.session() as session:
        account = session.query(Account).filter_by(key=key).one()
        return links.issue(session, account, agent, utcnow(), days=days, lead=lead).token


def test_token_sidebar_shows_the_panels(client, accounts_with_ratings):
    response = client.get(f"/sidebar/generic?token={_token(accounts_with_ratings['generic'])}&ticket=T2")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "2/5" in html and "slow" in html and "Dissatisfied" in html
    assert re.findall(r'<td class="csat">([^<]+)</td>', html) == ["50%", "67%", "75%"]
    assert re.findall(r'<td class="responses">([^<]+)</td>', html) == ["2", "3", "4"]
    assert re.findall(r'<td class="rate">([^<]+)</td>', html) == ["67%", "60%", "67%"]
    assert re.findall(r'<td class="team-csat">([^<]+)</td>', html) == ["33%", "50%", "60%"]
    assert "<polyline" in html and "Weekly CSAT" in html


@pytest.mark.parametrize("case", ["forged", "other_platform", "missing"])
def test_token_sidebar_refuses_bad_tokens(client, accounts_with_ratings, case):
    key = accounts_with_ratings["generic"]
    token = {
        "forged": _token(key)[:-4] + "AAAA",
        "other_platform": _token(accounts_with_ratings["chatwoot"]),
        "missing": "",
    }[case]
    response = client.get(f"/sidebar/generic?token={token}&ticket=T2")
    assert response.status_code == 401
    assert "slow" not in response.get_data(as_text=True)


def test_chatwoot_without_a_ticket_waits_for_the_app_context(client, accounts_with_ratings):
    response = client.get(f"/sidebar/chatwoot?token={_token(accounts_with_ratings['chatwoot'])}")
    assert response.status_code == 200
    assert "appContext" in response.get_data(as_text=True)


def _helpscout_body() -> bytes:
    return json.dumps(
        {
            "ticket": {"id": "T2", "number": 2, "subject": "Printer"},
            "customer": {"email": "c@x.test"},
            "user": {"id": 1, "email": "lead@acme.test", "role": "admin"},
            "mailbox": {"id": 3},
        }
    ).encode()


def test_helpscout_signed_request_gets_html(client, accounts_with_ratings):
    key = accounts_with_ratings["helpscout"]
    body = _helpscout_body()
    response = client.post(
        f"/sidebar/helpscout?account={key}",
        data=body,
        content_type="application/json",
        headers={"X-HelpScout-Signature": helpscout_signature(shared_secret(SECRET_KEY, key), body)},
    )
    assert response.status_code == 200
    html = response.get_json()["html"]
    assert "slow" in html and re.findall(r'<td class="csat">([^<]+)</td>', html) == ["50%", "67%", "75%"]


@pytest.mark.parametrize("case", ["forged", "tampered_body", "missing", "wrong_account"])
def test_helpscout_refuses_bad_signatures(client, accounts_with_ratings, case):
    key = accounts_with_ratings["helpscout"]
    body = _helpscout_body()
    signature = helpscout_signature(shared_secret(SECRET_KEY, key), body)
    headers = {"X-HelpScout-Signature": helpscout_signature("guess", body) if case == "forged" else signature}
    if case == "missing":
        headers = {}
    if case == "tampered_body":
        body = body.replace(b'"T2"', b'"T1"')
    target = accounts_with_ratings["generic"] if case == "wrong_account" else key
    response = client.post(
        f"/sidebar/helpscout?account={target}", data=body, content_type="application/json", headers=headers
    )
    assert response.status_code == 401
    assert "html" not in response.get_json()


def test_helpscout_secret_fits_its_forty_character_field():
    assert len(shared_secret(SECRET_KEY, "any-account")) == 40
    assert shared_secret(SECRET_KEY, "a") != shared_secret(SECRET_KEY, "b")


def test_cli_prints_the_helpscout_secret(runner, accounts_with_ratings):
    key = accounts_with_ratings["generic"]
    secret = json.loads(runner.invoke(args=["sidebar", "secret", "--account", key]).output)["shared_secret"]
    assert secret == shared_secret(SECRET_KEY, key)


@pytest.mark.parametrize(("options", "satisfied"), [({"csat10_eight_is_satisfied": "true"}, 1), ({}, 0)])
def test_a_csat10_eight_is_satisfied_only_when_the_account_says_so(app, options, satisfied):
    now = utcnow()
    with services().db.session() as session:
        account = make_account(session, "generic", "key-csat10")
        account.options = options
        survey = make_survey(session, account, "E1", sent_days=2, score=8, now=now)
        survey.scale = "csat10"
        session.flush()
        session.query(Rating).filter_by(survey_id=survey.id).update({"scale": "csat10"})
        agent = sidebar.agent_rolling(session, account.id, AGENT, now)
        team = sidebar.team_rolling(session, account.id, "Billing", now)
    assert [(w.responses, w.satisfied) for w in agent.windows] == [(1, satisfied)] * 3
    assert [(w.responses, w.satisfied) for w in team.windows] == [(1, satisfied)] * 3
    assert agent.trend[-1].csat == 100.0 * satisfied


def test_a_survey_with_many_clicks_shows_the_latest_few_and_the_count(client, accounts_with_ratings):
    """Many clicks on one survey (a scanner farm, a script): the panel keeps to the last few and says how many."""
    total = 3000
    with services().db.session() as session:
        account = session.query(Account).filter_by(key=accounts_with_ratings["generic"]).one()
        survey = session.query(Survey).filter_by(account_id=account.id, ticket_id="T1").one()
        start = survey.sent_at
        session.execute(
            Click.__table__.insert(),
            [
                {
                    "survey_id": survey.id,
                    "kind": "click",
                    "score": 1 + n % 5,
                    "method": "GET",
                    "user_agent": "",
                    "client_ip": "",
                    "reasons": "burst",
                    "at": start + timedelta(seconds=n),
                }
                for n in range(total)
            ],
        )
    with services().db.session() as session:
        [entry] = sidebar.ticket_ratings(session, account.id, "T1")
    assert entry.history_total == total
    assert len(entry.history) == sidebar.HISTORY_SHOWN < total
    assert [h.at for h in entry.history] == [
        start + timedelta(seconds=n) for n in range(total - len(entry.history), total)
    ]
    html = client.get(f"/sidebar/generic?token={_token(accounts_with_ratings['generic'])}&ticket=T1").get_data(
        as_text=True
    )
    assert html.count("<li>") == sidebar.HISTORY_SHOWN and f"{total}" in html
