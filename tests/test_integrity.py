"""Ratings people can trust, through the HTTP routes: marks, beacons, review, attribution, rate limits."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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
    assert {"several_scores", "too_soon_after_arrival", "known_scanner_network"} <= set(rating.reasons.split(","))


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
    assert "too_soon_after_arrival" in clicks[0]["reasons"] and clicks[0]["seconds_since_sent"] == 4.0

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


def test_rate_limit_is_per_link_and_client_and_refused_requests_are_kept(app_config, clock, http_recorder):
    from plugin import create_app
    from tests.conftest import Helpdesk

    app = create_app({**app_config, "RATING_RATE_LIMIT": "5 per minute"})
    with app.app_context():
        services().clock = clock
        client = app.test_client()
        helpdesk = Helpdesk(app, client, http_recorder.url)
        helpdesk.post(helpdesk.event())
        helpdesk.post(helpdesk.event(ticket_id="T-2", email="kim@customer.test"))
        helpdesk.run_jobs()
        first, second = (rating_links(mail)[0][len(PUBLIC_URL) :] for mail in outbox(app))
        office = {"REMOTE_ADDR": "198.51.100.1"}  # one company address, many readers
        codes = [client.get(first, headers=BROWSER_HEADERS, environ_base=office).status_code for _ in range(7)]
        assert codes == [200] * 5 + [429, 429]
        # Another reader behind the same address, on their own link, is not in that bucket.
        assert client.get(second, headers=BROWSER_HEADERS, environ_base=office).status_code == 200
        assert client.get(first, environ_base={"REMOTE_ADDR": "198.51.100.2"}).status_code == 200
        with services().db.session() as session:
            kinds = session.scalars(select(Click.kind).order_by(Click.id)).all()
        assert kinds == ["click"] * 5 + ["limited"] * 2 + ["click", "click"]  # refused requests are kept too


def test_rate_limit_is_counted_once_for_every_web_process_sharing_redis(app_config, clock, http_recorder, redis_url):
    """Two apps on one Redis stand for two gunicorn workers: a link's requests count in one bucket, whichever
    process answers them."""
    from plugin import create_app
    from plugin.surveys import sending
    from tests.conftest import Helpdesk

    config = {**app_config, "REDIS_URL": redis_url, "RATING_RATE_LIMIT": "5 per minute"}
    first_worker, second_worker = create_app(config), create_app(config)
    with second_worker.app_context():
        services().clock = clock
    with first_worker.app_context():
        services().clock = clock
        helpdesk = Helpdesk(first_worker, first_worker.test_client(), http_recorder.url)
        assert helpdesk.post(helpdesk.event()).status_code == 202
        s = services()
        with s.db.session() as session:
            sending.mark_sent(session, 1, "<m@test>", s.clock())  # as the worker would (its job is in RQ)
        link = f"/r/{s.tokens.rating(1, 5)}"
        clients = [first_worker.test_client(), second_worker.test_client()]
        codes = [clients[n % 2].get(link, headers=BROWSER_HEADERS).status_code for n in range(7)]
    assert codes == [200] * 5 + [429, 429]


def test_every_limit_of_several_in_the_setting_is_enforced(app_config, clock, http_recorder):
    from plugin import create_app
    from tests.conftest import Helpdesk

    app = create_app({**app_config, "RATING_RATE_LIMIT": "100 per hour;3 per minute"})
    with app.app_context():
        services().clock = clock
        client = app.test_client()
        helpdesk = Helpdesk(app, client, http_recorder.url)
        helpdesk.post(helpdesk.event())
        helpdesk.run_jobs()
        link = rating_links(outbox(app)[0])[0][len(PUBLIC_URL) :]
        answers = [client.get(link, headers=BROWSER_HEADERS) for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 3 + [429, 429]
    assert "3 per 1 minute" in answers[-1].get_data(as_text=True)  # the page names the limit reached


# The rating follows the person (docs/integrity.md, "Counting a rating").

LATER = dict(headers=BROWSER_HEADERS, environ_base={"REMOTE_ADDR": "203.0.113.5"})


def _counted(helpdesk, clock, minutes: float = 11) -> Rating:
    clock.advance(minutes=minutes)
    helpdesk.run_jobs()
    return _rating()


def _write_backs(http_recorder) -> list[int]:
    return [r.json()["rating"]["score"] for r in http_recorder.requests if r.method != "GET"]


def test_a_change_of_mind_from_the_email_counts_without_confirming(helpdesk, http_recorder, client, clock, links):
    person_opens(client, clock, links[0], after_minutes=12)
    person_opens(client, clock, links[3], after_minutes=0.5)  # thirty seconds later, another link in the email
    rating = _counted(helpdesk, clock)
    assert (rating.score, rating.status) == (4, "counted")
    assert _write_backs(http_recorder) == [4]


def test_a_later_clean_click_replaces_a_settled_rating_and_is_written_back(
    helpdesk, http_recorder, client, clock, links
):
    person_opens(client, clock, links[1], after_minutes=30)
    assert _counted(helpdesk, clock).score == 2
    person_opens(client, clock, links[4], after_minutes=60 * 24)  # the next day, from the email again
    assert _rating().status == "pending"
    rating = _counted(helpdesk, clock)
    assert (rating.score, rating.status, rating.version) == (5, "counted", 2)
    assert _write_backs(http_recorder) == [2, 5]


def test_a_scanner_rechecking_links_after_the_person_changes_nothing(helpdesk, http_recorder, client, clock, links):
    person_opens(client, clock, links[2], after_minutes=20)
    clock.advance(minutes=2)
    _scanner_sweep(client, links)  # the company's scanner re-checks every link of the email
    assert (_rating().score, _rating().status, _rating().reasons) == (3, "pending", "")
    assert (_counted(helpdesk, clock).score, _rating().status) == (3, "counted")
    _scanner_sweep(client, links)  # and again once it counted
    assert (_rating().score, _rating().status, _rating().version) == (3, "counted", 1)


def test_a_confirmation_is_final_until_changed_on_the_page(helpdesk, client, clock, links):
    page = person_opens(client, clock, links[1], after_minutes=15)
    client.post(links[1], data={"nonce": nonce_of(page.get_data(as_text=True)), "score": "2"}, headers=BROWSER_HEADERS)
    person_opens(client, clock, links[4], after_minutes=60)  # a click from the email is not a change on the page
    _counted(helpdesk, clock)
    assert (_rating().score, _rating().status, _rating().version) == (2, "counted", 1)


def test_an_admin_cannot_restore_an_older_click_over_a_confirmed_rating(helpdesk, client, clock, links):
    clock.advance(seconds=4)
    _scanner_sweep(client, links)
    page = person_opens(client, clock, links[1], after_minutes=15)
    client.post(links[1], data={"nonce": nonce_of(page.get_data(as_text=True)), "score": "2"}, headers=BROWSER_HEADERS)
    with services().db.session() as session:
        scanner_click = session.scalar(select(Click.id).where(Click.score == 5, Click.kind == "click"))
    response = helpdesk.client.post(
        f"/api/v1/clicks/{scanner_click}/restore", headers={"Authorization": f"Bearer {helpdesk.api_key}"}
    )
    assert response.status_code == 409
    assert (_rating().score, _rating().version) == (2, 1)


def test_a_person_behind_a_company_scanner_counts_with_their_own_score(helpdesk, http_recorder, client, clock, links):
    clock.advance(seconds=3)
    # The company's gateway opens every link, in a browser-like way, from an address on no list.
    _scanner_sweep(client, links, headers=BROWSER_HEADERS, ip="192.0.2.77")
    assert _rating().status == "flagged"  # the burst re-marks its own first click too
    person_opens(client, clock, links[3], after_minutes=7)
    assert (_counted(helpdesk, clock).score, _rating().status) == (4, "counted")
    assert _write_backs(http_recorder) == [4]


def test_timing_counts_from_the_first_request_not_from_sending(helpdesk, client, clock, links):
    clock.advance(minutes=40)  # greylisted: the email arrives forty minutes after we sent it
    client.head(links[0], environ_base={"REMOTE_ADDR": "192.0.2.9"})  # the gateway's check on arrival
    clock.advance(seconds=20)
    client.get(links[2], **LATER)  # a sandbox in a browser, twenty seconds after arrival
    assert (_rating().status, _rating().reasons) == ("flagged", "too_soon_after_arrival")


def _beacon(client, link: str, page, **fields) -> None:
    html = page.get_data(as_text=True)
    click = html.split('data-click="')[1].split('"')[0]
    client.post(f"{link}/signal", data={"nonce": nonce_of(html), "click": click, **fields}, **LATER)


def test_a_datacenter_click_counts_once_the_person_uses_the_page(helpdesk, client, clock, links):
    clock.advance(minutes=25)
    cloud_desktop = dict(headers=BROWSER_HEADERS, environ_base={"REMOTE_ADDR": "3.120.1.1"})
    page = client.get(links[3], **cloud_desktop)
    _beacon(client, links[3], page, signal="visible", webdriver="0", window="1280x800")
    assert (_rating().status, _rating().reasons) == ("flagged", "datacenter_network")
    _beacon(client, links[3], page, signal="interaction")
    assert (_counted(helpdesk, clock).score, _rating().status) == (4, "counted")


def test_a_browser_under_automation_stays_marked_even_if_it_moves(helpdesk, client, clock, links):
    clock.advance(minutes=5)
    page = client.get(links[0], **LATER)
    _beacon(client, links[0], page, signal="visible", webdriver="1", window="1280x800", renderer="SwiftShader")
    _beacon(client, links[0], page, signal="interaction")
    assert _counted(helpdesk, clock).status == "flagged"
    with services().db.session() as session:
        click = session.scalar(select(Click))
    assert set(click.reasons.split(",")) == {"automated_browser", "software_renderer"}
    assert "webdriver=1" in click.signals


def test_a_beacon_with_an_absurd_click_id_is_400_not_500(client, clock, links):
    page = person_opens(client, clock, links[0])
    nonce = nonce_of(page.get_data(as_text=True))
    for click in ("1" * 25, "-1", "1e3", "²"):
        response = client.post(f"{links[0]}/signal", data={"nonce": nonce, "click": click, "signal": "visible"})
        assert response.status_code == 400, click


def test_a_database_hiccup_during_a_click_is_retried_and_the_click_kept(client, clock, links, monkeypatch):
    """A later click (the survey has had a request) is one transaction: one that loses its connection after writing
    rolls back whole and is run again, so the click is kept once."""
    from sqlalchemy.exc import OperationalError

    from plugin.surveys import counting

    person_opens(client, clock, links[2])  # the survey's first request
    real, failures = counting.record_click, []

    def flaky(session, *args, **kwargs):
        if not failures:  # the first attempt loses its connection half-way, after writing
            real(session, *args, **kwargs)
            failures.append(1)
            raise OperationalError("INSERT ...", {}, Exception("server closed the connection unexpectedly"))
        return real(session, *args, **kwargs)

    monkeypatch.setattr(counting, "record_click", flaky)
    response = person_opens(client, clock, links[3], after_minutes=20)
    assert response.status_code == 200 and failures == [1]
    with services().db.session() as session:
        assert session.scalars(select(Click.score).where(Click.kind == "click")).all() == [3, 4]  # once each
    assert (_rating().score, _rating().status) == (4, "pending")


def test_a_first_click_whose_statement_fails_is_retried_and_kept(client, clock, links, monkeypatch):
    """A survey's first click is one statement on PostgreSQL (its own transaction): when the database refuses it
    (here: a dropped connection), nothing was written and the request runs it again."""
    from sqlalchemy.exc import OperationalError

    from plugin.surveys import counting

    real, failures = counting.record_first_click, []

    def flaky(session, *args, **kwargs):
        if not failures:
            failures.append(1)
            raise OperationalError("INSERT ...", {}, Exception("server closed the connection unexpectedly"))
        return real(session, *args, **kwargs)

    monkeypatch.setattr(counting, "record_first_click", flaky)
    response = person_opens(client, clock, links[2])
    assert response.status_code == 200 and failures == [1]
    with services().db.session() as session:
        assert session.scalars(select(Click.score).where(Click.kind == "click")).all() == [3]
    assert (_rating().score, _rating().status) == (3, "pending")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    signal=st.sampled_from(["visible", "interaction", "", "other"]) | st.text(max_size=20),
    click=st.text(max_size=30),
    fields=st.dictionaries(
        st.sampled_from(["webdriver", "headless", "window", "renderer", "focus", "extra"]), st.text(max_size=300)
    ),
)
def test_hostile_beacons_answer_4xx_or_204_never_500(client, clock, links, signal, click, fields):
    page = person_opens(client, clock, links[1], after_minutes=0, beacon=None)
    html = page.get_data(as_text=True)
    real_click = html.split('data-click="')[1].split('"')[0]
    for click_field in (click, real_click):
        data = {"nonce": nonce_of(html), "click": click_field, "signal": signal, **fields}
        assert client.post(f"{links[1]}/signal", data=data).status_code in (204, 400, 404)


def test_a_first_click_that_finds_the_rating_created_meanwhile_is_judged_against_the_history(client, clock, links):
    """Two first clicks race: both read the survey before either wrote. The one that loses the race to create the
    rating must be judged like any later click (here: two scores from one source seconds apart, a burst), not as
    the survey's first request."""
    from plugin.models import Survey
    from plugin.surveys import counting

    clock.advance(minutes=30)
    client.get(links[0], **LATER)  # the winner: score 1, the survey's first request
    late = counting.LinkRequest(
        "GET", BROWSER_HEADERS["User-Agent"], "203.0.113.5", clock.now + timedelta(seconds=2), BROWSER_HEADERS
    )
    survey_id = _rating().survey_id
    with services().db.statement_session() as session:  # as the route does: its read saw no request before
        rating, click = counting.record_first_click(session, session.get(Survey, survey_id), 4, late)
    assert rating is None  # the winner's rating was there: this click is stored, the rating left alone
    with services().db.session() as session:  # then, in a transaction, judged against the history
        counting.record_click(session, session.get(Survey, survey_id), 4, late, own_click=click)
    with services().db.session() as session:
        clicks = session.scalars(select(Click).order_by(Click.id)).all()
    assert [(c.score, c.reasons) for c in clicks] == [(1, "several_scores"), (4, "several_scores")]
    assert (_rating().status, _rating().reasons, _rating().last_click_id) == ("flagged", "several_scores", clicks[1].id)
