"""The admin's review screen: every click behind a flagged rating, its reasons in words, counting one."""

from __future__ import annotations

from sqlalchemy import select

from plugin.models import Click, Rating, Survey
from plugin.services import services
from tests.admin.conftest import csrf_of


def _flagged_click() -> tuple[int, int]:
    with services().db.session() as session:
        rating = session.scalar(select(Rating).where(Rating.status == "flagged"))
        click = session.scalar(select(Click).where(Click.survey_id == rating.survey_id))
        click.reasons = "several_scores,datacenter_network"
        return rating.id, click.id


def test_each_flagged_click_shows_its_reasons_in_words(signed_in):
    rating_id, click_id = _flagged_click()
    html = signed_in.get("/admin/review").get_data(as_text=True)
    assert f'data-rating="{rating_id}"' in html and f'data-click="{click_id}"' in html
    assert "part of a burst: the same source clicked different scores within seconds" in html
    assert "came from a cloud or hosting provider&#39;s network" in html
    assert "several_scores" not in html  # words, not identifiers
    assert "early click" in html  # a reason the code no longer gives is still shown, readably


def test_counting_one_click_from_the_review_screen(signed_in):
    rating_id, click_id = _flagged_click()
    csrf = csrf_of(signed_in.get("/admin/review").get_data(as_text=True))
    response = signed_in.post(f"/admin/clicks/{click_id}/restore", data={"csrf_token": csrf})
    assert response.status_code == 303
    with services().db.session() as session:
        assert session.get(Rating, rating_id).status == "counted"


def test_a_confirmed_rating_cannot_be_overridden_from_the_review_screen(signed_in):
    rating_id, click_id = _flagged_click()
    with services().db.session() as session:
        rating = session.get(Rating, rating_id)
        rating.confirmed_at, rating.status, score = rating.created_at, "counted", rating.score
        survey = session.get(Survey, rating.survey_id)
        session.add(Click(survey_id=survey.id, kind="click", score=1 if score != 1 else 2, method="GET"))
    with services().db.session() as session:
        other = session.scalar(select(Click.id).where(Click.survey_id == survey.id, Click.id != click_id))
    csrf = csrf_of(signed_in.get("/admin/review").get_data(as_text=True))
    page = signed_in.post(f"/admin/clicks/{other}/restore", data={"csrf_token": csrf}, follow_redirects=True)
    assert "only they can change it" in page.get_data(as_text=True)
    with services().db.session() as session:
        assert session.get(Rating, rating_id).score == score
