"""GET/POST /r/<token>: clicks are recorded, the page confirms or changes, settling counts a lone click."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from plugin.models import Click, Rating, WriteBack
from plugin.services import services
from tests.conftest import PUBLIC_URL, nonce_of, outbox, person_opens, rating_links


@pytest.fixture
def links(app, helpdesk):
    """The five rating links of one sent csat5 survey (paths, for the test client)."""
    helpdesk.post(helpdesk.event(ticket_id="T-100"))
    helpdesk.run_jobs()
    (message,) = outbox(app)
    return [link[len(PUBLIC_URL) :] for link in rating_links(message)]


def _rating() -> Rating | None:
    with services().db.session() as session:
        return session.scalar(select(Rating))


def _count(model) -> int:
    with services().db.session() as session:
        return session.scalar(select(func.count(model.id)))


def test_email_has_one_link_per_score(links):
    assert len(links) == 5
    assert len(set(links)) == 5


def test_click_records_and_shows_the_chosen_score(client, clock, links):
    page = person_opens(client, clock, links[3])
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'value="4" checked' in html
    assert "What did we do well?" in html  # 4 of 5 is a positive answer
    rating = _rating()
    assert (rating.score, rating.status) == (4, "pending")
    assert rating.settles_at is not None
    assert _count(Click) == 1


def _kinds() -> list[str]:
    with services().db.session() as session:
        return list(session.scalars(select(Click.kind).order_by(Click.id)))


def test_head_is_kept_as_an_event_and_never_rates(client, links):
    assert client.head(links[0]).status_code == 200
    assert _kinds() == ["head"]
    assert _rating() is None


def test_prefetch_is_kept_as_an_event_and_never_rates(client, links):
    assert client.get(links[0], headers={"Sec-Purpose": "prefetch;prerender"}).status_code == 200
    assert _kinds() == ["prefetch"]
    assert _rating() is None


def test_a_prefetch_after_an_answer_shows_the_answer_as_it_stands(client, clock, links):
    page = person_opens(client, clock, links[3])
    client.post(links[3], data={"nonce": nonce_of(page.get_data(as_text=True)), "score": "4", "comment": "Quick fix"})
    for prefetch in (client.head(links[0]), client.get(links[0], headers={"Sec-Purpose": "prefetch"})):
        assert prefetch.status_code == 200
    html = client.get(links[0], headers={"Sec-Purpose": "prefetch"}).get_data(as_text=True)
    assert "You can change your answer until " in html  # the deadline of the rating that exists
    assert ">Quick fix</textarea>" in html
    assert (_rating().score, _rating().comment) == (4, "Quick fix")  # a prefetch never rates
    assert _kinds() == ["click", "confirm", "head", "prefetch", "prefetch"]


@pytest.mark.parametrize(
    "mangle", [lambda t: t[:-2] + "xx", lambda t: "WzEsNV0.forged", lambda t: "", lambda t: t + "a"]
)
def test_tampered_token_is_a_404_page(client, links, mangle):
    token = links[4].removeprefix("/r/")
    response = client.get("/r/" + mangle(token))
    assert response.status_code == 404
    assert "text/html" in response.content_type
    assert _count(Click) == 0


def test_token_for_another_survey_cannot_be_made_up(client, links):
    tokens = services().tokens
    assert client.get(f"/r/{tokens.rating(999, 5)}").status_code == 404
    assert client.get(f"/r/{tokens.rating(1, 9)}").status_code == 404  # no score 9 on csat5


def test_lone_click_counts_after_the_settle_window(helpdesk, http_recorder, client, clock, links):
    person_opens(client, clock, links[1])
    clock.advance(minutes=9)
    helpdesk.run_jobs()
    assert _rating().status == "pending"
    clock.advance(minutes=2)  # the 10-minute settle window passes
    helpdesk.run_jobs()
    assert _rating().status == "counted"
    (callback,) = http_recorder.requests
    assert callback.json()["rating"]["score"] == 2


def test_different_scores_within_seconds_wait_for_a_person(helpdesk, client, clock, links):
    person_opens(client, clock, links[0])
    person_opens(client, clock, links[4], after_minutes=0.1)
    rating = _rating()
    assert (rating.status, rating.reasons) == ("flagged", "several_scores")
    clock.advance(days=1)
    helpdesk.run_jobs()
    assert _rating().status == "flagged"


def test_a_later_change_of_mind_restarts_the_settle_window(helpdesk, client, clock, links):
    person_opens(client, clock, links[0])
    person_opens(client, clock, links[4], after_minutes=8)
    rating = _rating()
    assert (rating.score, rating.status) == (5, "pending")
    clock.advance(minutes=5)
    helpdesk.run_jobs()
    assert _rating().status == "pending"  # the window restarted with the second click
    clock.advance(minutes=6)
    helpdesk.run_jobs()
    assert (_rating().score, _rating().status) == (5, "counted")


def test_confirm_counts_at_once_and_writes_back(helpdesk, http_recorder, client, links):
    page = client.get(links[2])
    response = client.post(
        links[2], data={"nonce": nonce_of(page.get_data(as_text=True)), "score": "5", "comment": "Fast & kind"}
    )
    assert response.status_code == 200
    assert "Your rating is saved" in response.get_data(as_text=True)
    rating = _rating()
    assert (rating.score, rating.status, rating.comment, rating.version) == (5, "counted", "Fast & kind", 1)
    helpdesk.run_jobs()
    (callback,) = http_recorder.requests
    body = callback.json()["rating"]
    assert (body["score"], body["comment"], body["ticket_id"], body["agent_email"]) == (
        5,
        "Fast & kind",
        "T-100",
        "alex@acme.test",
    )


def test_changing_the_rating_keeps_history_and_writes_back_again(helpdesk, http_recorder, client, links):
    nonce = nonce_of(client.get(links[4]).get_data(as_text=True))
    client.post(links[4], data={"nonce": nonce, "score": "5"})
    helpdesk.run_jobs()
    client.post(links[4], data={"nonce": nonce, "score": "2", "comment": "Actually it broke again"})
    helpdesk.run_jobs()
    assert [r.json()["rating"]["score"] for r in http_recorder.requests] == [5, 2]
    assert _rating().version == 2
    with services().db.session() as session:
        kinds = session.execute(select(Click.kind, Click.score).order_by(Click.id)).all()
        assert [tuple(k) for k in kinds] == [("click", 5), ("confirm", 5), ("confirm", 2)]
        assert session.scalar(select(func.count(WriteBack.id)).where(WriteBack.status == "delivered")) == 2


def test_post_without_a_valid_nonce_is_refused(client, links):
    assert client.post(links[0], data={"score": "1"}).status_code == 400
    assert client.post(links[0], data={"score": "1", "nonce": "forged"}).status_code == 400
    assert _rating() is None


def test_nonce_of_another_survey_is_refused(client, links):
    other = services().tokens.form_nonce(12345)
    assert client.post(links[0], data={"score": "1", "nonce": other}).status_code == 400


def test_comment_is_stored_as_text_and_escaped(client, links):
    nonce = nonce_of(client.get(links[0]).get_data(as_text=True))
    script = "<script>alert('x')</script>"
    html = client.post(links[0], data={"nonce": nonce, "score": "1", "comment": script}).get_data(as_text=True)
    assert script not in html
    assert "&lt;script&gt;" in html
    assert _rating().comment == script


def test_too_long_comment_is_400_and_keeps_the_old_answer(client, clock, links):
    nonce = nonce_of(person_opens(client, clock, links[0]).get_data(as_text=True))
    response = client.post(links[0], data={"nonce": nonce, "score": "1", "comment": "x" * 2001})
    assert response.status_code == 400
    assert "at most 2000 characters" in response.get_data(as_text=True)
    assert _rating().status == "pending"


def test_score_off_the_scale_is_400(client, links):
    nonce = nonce_of(client.get(links[0]).get_data(as_text=True))
    assert client.post(links[0], data={"nonce": nonce, "score": "7"}).status_code == 400
    assert client.post(links[0], data={"nonce": nonce, "score": "five"}).status_code == 400


def test_after_the_edit_window_the_rating_is_final(client, clock, links):
    nonce = nonce_of(client.get(links[3]).get_data(as_text=True))
    client.post(links[3], data={"nonce": nonce, "score": "4"})
    clock.advance(days=8)
    response = client.post(links[3], data={"nonce": nonce, "score": "1"})
    assert response.status_code == 409
    assert "final" in response.get_data(as_text=True)
    assert _rating().score == 4
    assert "final" in client.get(links[0]).get_data(as_text=True)


def test_unanswered_survey_links_expire_with_a_410_page(client, clock, links):
    clock.advance(days=31)
    response = client.get(links[0])
    assert response.status_code == 410
    assert "closed" in response.get_data(as_text=True)
    assert _rating() is None


def test_survey_not_sent_has_no_rating_page(app, client, http_recorder):
    from tests.conftest import Helpdesk

    helpdesk = Helpdesk(app, client, http_recorder.url, delay_minutes=60)
    helpdesk.post(helpdesk.event())
    assert client.get(f"/r/{services().tokens.rating(1, 5)}").status_code == 404
