"""Ratings people can trust, through the HTTP routes: marks, beacons, review, attribution, rate limits."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from plugin.models import Click, Rating
from plugin.services import services
from tests.conftest import BROWSER_HEADERS, PUBLIC_URL, nonce_of, outbox, person_opens, rating_links


@pytest.fixture
def links(app, helpdesk):
    helpdesk.post(helpdesk.event(ticket_id="T-1"))
    helpdesk.run_jobs()
    return [link[len(PUBLIC_URL) :] for link in rating_links(outbox(app)[-1])]


def _rating() -> Rating | None:
    with services().db.session() as session:
        return session.scalar(select(Rating))


def _scanner_sweep(client, links, *, headers=None, ip="40.107.1.1") -> None:
    """A scanner opening every link within seconds of delivery."""
    for link in links:
        client.get(link, headers=headers or {"User-Agent": "Mozilla/5.0"}, environ_base={"REMOTE_ADDR": ip})


def test_a_scanner_sweep_never_counts(helpdesk, client, clock, links):
    clock.advance(seconds=4)
    _scanner_sweep(client, links)
    clock.advance(days=2)
    helpdesk.run_jobs()
    rating = _rating()
    assert rating.status == "flagged"
    assert {"several_scores", "too_soon_after_delivery", "known_scanner_network"} <= set(rating.reasons.split(","))


def test_a_person_after_a_scanner_sweep_still_counts_with_one_click(helpdesk, http_recorder, client, clock, links):
    clock.advance(seconds=4)
    _scanner_sweep(client, links)
    person_opens(client, clock, links[1], after_minutes=45)
    clock.advance(minutes=11)
    helpdesk.run_jobs()
    assert (_rating().score, _rating().status) == (2, "counted")
    assert http_recorder.requests[-1].json()["rating"]["score"] == 2


def test_a_page_never_rendered_does_not_settle(helpdesk, client, clock, links):
    person_opens(client, clock, links[3], beacon=None)  # fetched, never shown
    clock.advance(minutes=11)
    helpdesk.run_jobs()
    assert (_rating().status, _rating().reasons) == ("flagged", "never_rendered")


def test_rendered_check_can_be_turned_off_per_account(app, client, clock, http_recorder):
    from tests.conftest import Helpdesk

    helpdesk = Helpdesk(app, client, http_recorder.url)
    with services().db.session() as session:
        session.merge(helpdesk.account).options = {"require_rendered_page": "false"}
    helpdesk.post(helpdesk.event())
    helpdesk.run_jobs()
    link = rating_links(outbox(app)[-1])[3][len(PUBLIC_URL) :]
    person_opens(client, clock, link, beacon=None)
    clock.advance(minutes=11)
    helpdesk.run_jobs()
    assert _rating().status == "counted"


def test_interaction_lifts_only_a_timing_mark(helpdesk, client, clock, links):
    person_opens(client, clock, links[4], after_minutes=0.5, beacon="interaction")  # a very quick reader
    assert _rating().status == "pending"
    clock.advance(minutes=11)
    helpdesk.run_jobs()
    assert _rating().status == "counted"


def test_interaction_does_not_lift_a_scanner_network_mark(helpdesk, client, clock, links):
    clock.advance(minutes=5)
    page = client.get(links[4], headers=BROWSER_HEADERS, environ_base={"REMOTE_ADDR": "40.107.1.1"})
    html = page.get_data(as_text=True)
    click_id = html.split('data-click="')[1].split('"')[0]
    client.post(f"{links[4]}/signal", data={"nonce": nonce_of(html), "click": click_id, "signal": "interaction"})
    clock.advance(days=1)
    helpdesk.run_jobs()
    assert (_rating().status, _rating().reasons) == ("flagged", "known_scanner_network")


def test_signal_for_a_click_of_another_survey_is_404(helpdesk, client, clock, links, app):
    page = person_opens(client, clock, links[0])
    helpdesk.post(helpdesk.event(ticket_id="T-2", email="other@customer.test"))
    helpdesk.run_jobs()
    other = rating_links(outbox(app)[-1])[0][len(PUBLIC_URL) :]
    other_page = client.get(other, headers=BROWSER_HEADERS).get_data(as_text=True)
    click_of_first = page.get_data(as_text=True).split('data-click="')[1].split('"')[0]
    response = client.post(
        f"{other}/signal", data={"nonce": nonce_of(other_page), "click": click_of_first, "signal": "interaction"}
    )
    assert response.status_code == 404
    assert client.post(f"{other}/signal", data={"nonce": nonce_of(other_page), "click": "x"}).status_code == 400


def test_admin_lists_flagged_clicks_with_reasons_and_restores_one(helpdesk, http_recorder, client, clock, links):
    clock.advance(seconds=4)
    _scanner_sweep(client, links)
    flagged = helpdesk.api("/api/v1/flagged").get_json()["flagged"]
    assert len(flagged) == 1 and flagged[0]["ticket_id"] == "T-1"
    clicks = flagged[0]["clicks"]
    assert [c["score"] for c in clicks] == [1, 2, 3, 4, 5]
    assert "too_soon_after_delivery" in clicks[0]["reasons"] and clicks[0]["seconds_since_sent"] == 4.0

    response = helpdesk.client.post(
        f"/api/v1/clicks/{clicks[2]['id']}/restore", headers={"Authorization": f"Bearer {helpdesk.api_key}"}
    )
    assert response.status_code == 200 and response.get_json()["score"] == 3
    helpdesk.run_jobs()
    assert (_rating().score, _rating().status) == (3, "counted")
    assert http_recorder.requests[-1].json()["rating"]["score"] == 3
    assert helpdesk.api("/api/v1/flagged").get_json()["flagged"] == []


def test_cli_lists_and_restores(helpdesk, runner, client, clock, links):
    clock.advance(seconds=4)
    _scanner_sweep(client, links[:2])
    listed = json.loads(runner.invoke(args=["clicks", "flagged", "--account", helpdesk.account.key]).output)
    click_id = listed[0]["clicks"][0]["id"]
    result = runner.invoke(args=["clicks", "restore", "--account", helpdesk.account.key, str(click_id)])
    assert result.exit_code == 0 and "score 1" in result.output
    assert _rating().status == "counted"


def test_restore_of_another_accounts_click_is_refused(app, helpdesk, client, clock, links, http_recorder):
    from tests.conftest import Helpdesk

    clock.advance(seconds=4)
    _scanner_sweep(client, links[:2])
    other = Helpdesk(app, client, http_recorder.url)
    response = other.client.post("/api/v1/clicks/1/restore", headers={"Authorization": f"Bearer {other.api_key}"})
    assert response.status_code == 404
    assert _rating().status == "flagged"


def test_head_never_changes_a_rating(client, clock, links):
    nonce = nonce_of(person_opens(client, clock, links[4]).get_data(as_text=True))
    client.post(links[4], data={"nonce": nonce, "score": "5"})
    for link in links:
        client.head(link)
    assert (_rating().score, _rating().version) == (5, 1)
    with services().db.session() as session:
        assert session.scalars(select(Click.kind).where(Click.kind == "head")).all() == ["head"] * 5


def test_rating_belongs_to_the_assignee_at_solve_time(helpdesk, http_recorder, client, clock, links):
    reassigned = helpdesk.event(ticket_id="T-1")
    reassigned["assignee"] = {"id": "99", "email": "newcomer@acme.test", "name": "Newcomer"}
    helpdesk.post(helpdesk.event("ticket.reopened", ticket_id="T-1"))
    helpdesk.post(reassigned)
    nonce = nonce_of(person_opens(client, clock, links[0]).get_data(as_text=True))
    client.post(links[0], data={"nonce": nonce, "score": "1"})
    helpdesk.run_jobs()
    assert _rating().agent_email == "alex@acme.test"
    assert http_recorder.requests[-1].json()["rating"]["agent_email"] == "alex@acme.test"
    agents = {a["email"]: a for a in helpdesk.api("/api/v1/agents").get_json()["agents"]}
    assert agents["alex@acme.test"]["responses"] == 1 and "newcomer@acme.test" not in agents


def test_rating_routes_are_rate_limited_per_client(app_config, clock, http_recorder):
    from plugin import create_app
    from tests.conftest import Helpdesk

    app = create_app({**app_config, "RATING_RATE_LIMIT": "5 per minute"})
    with app.app_context():
        services().clock = clock
        client = app.test_client()
        helpdesk = Helpdesk(app, client, http_recorder.url)
        helpdesk.post(helpdesk.event())
        helpdesk.run_jobs()
        link = rating_links(outbox(app)[-1])[0][len(PUBLIC_URL) :]
        codes = [client.get(link, environ_base={"REMOTE_ADDR": "198.51.100.1"}).status_code for _ in range(7)]
        assert codes == [200] * 5 + [429, 429]
        assert client.get(link, environ_base={"REMOTE_ADDR": "198.51.100.2"}).status_code == 200
        with services().db.session() as session:
            assert len(session.scalars(select(Click)).all()) == 6  # refused requests record nothing
