"""JSON API: Bearer auth, filters, paging, agent figures against hand-computed numbers, CSV."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import update

from plugin.db import utcnow
from plugin.models import Rating, Survey
from plugin.services import services
from tests.conftest import PUBLIC_URL, nonce_of, outbox, person_opens, rating_links


@pytest.fixture
def rated(app, helpdesk, client, clock):
    """Six surveys sent: alex rated 5, 4, 2 and one unanswered; sam rated 1 and one pending click."""

    def survey(ticket: str, agent: str):
        event = helpdesk.event(ticket_id=ticket, email=f"{ticket}@customer.test")
        event["assignee"] = {"id": agent, "email": f"{agent}@acme.test", "name": agent.title()}
        helpdesk.post(event)
        helpdesk.run_jobs()
        return [link[len(PUBLIC_URL) :] for link in rating_links(outbox(app)[-1])]

    def confirm(links, score, comment=""):
        nonce = nonce_of(client.get(links[score - 1]).get_data(as_text=True))
        client.post(links[score - 1], data={"nonce": nonce, "score": score, "comment": comment})

    confirm(survey("A1", "alex"), 5, "great")
    confirm(survey("A2", "alex"), 4)
    confirm(survey("A3", "alex"), 2, "slow")
    survey("A4", "alex")
    confirm(survey("S1", "sam"), 1)
    person_opens(client, clock, survey("S2", "sam")[3])  # a click still inside its settle window
    helpdesk.run_jobs()
    return helpdesk


def test_missing_or_wrong_key_is_401(client, helpdesk):
    assert client.get("/api/v1/ratings").status_code == 401
    response = client.get("/api/v1/ratings", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.get_json()["message"] == "unknown API key"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_ratings_and_their_filters(rated):
    everything = rated.api("/api/v1/ratings").get_json()
    assert [(r["ticket_id"], r["score"], r["status"]) for r in everything["ratings"]] == [
        ("A1", 5, "counted"),
        ("A2", 4, "counted"),
        ("A3", 2, "counted"),
        ("S1", 1, "counted"),
        ("S2", 4, "pending"),
    ]
    assert everything["next"] is None
    assert set(everything["ratings"][0]) >= {
        "ticket_id",
        "agent_email",
        "scale",
        "score",
        "comment",
        "status",
        "created_at",
        "updated_at",
    }
    by_agent = rated.api("/api/v1/ratings?agent=sam@acme.test&status=counted").get_json()["ratings"]
    assert [r["ticket_id"] for r in by_agent] == ["S1"]
    assert [r["comment"] for r in rated.api("/api/v1/ratings?ticket_id=A3").get_json()["ratings"]] == ["slow"]
    assert rated.api("/api/v1/ratings?since=2999-01-01").get_json()["ratings"] == []


def test_paging_follows_next(rated):
    first = rated.api("/api/v1/ratings?limit=2").get_json()
    second = rated.api(first["next"]).get_json()
    third = rated.api(second["next"]).get_json()
    tickets = [r["ticket_id"] for page in (first, second, third) for r in page["ratings"]]
    assert tickets == ["A1", "A2", "A3", "S1", "S2"]


@pytest.mark.parametrize("query", ["since=yesterday", "status=great", "limit=-1", "cursor=x"])
def test_bad_query_parameters_are_400(rated, query):
    response = rated.api(f"/api/v1/ratings?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.get_json()["message"]


def test_agent_figures_match_hand_computation(rated):
    agents = {a["email"]: a for a in rated.api("/api/v1/agents").get_json()["agents"]}
    alex, sam = agents["alex@acme.test"], agents["sam@acme.test"]
    # alex: 4 sent, 3 counted (5, 4, 2): 2 satisfied -> 66.7 %; Wilson(2, 3) lower bound = 20.8 %
    assert (alex["surveys_sent"], alex["responses"], alex["response_rate"], alex["csat"]) == (4, 3, 75.0, 66.7)
    assert alex["csat_lower_bound"] == pytest.approx(20.8, abs=0.1)
    # sam: 2 sent, 1 counted (1), the pending click does not count
    assert (sam["surveys_sent"], sam["responses"], sam["response_rate"], sam["csat"]) == (2, 1, 50.0, 0.0)
    assert list(agents) == ["alex@acme.test", "sam@acme.test"]  # ranked by lower bound


def test_agent_period_filters_numerator_and_denominator_alike(rated):
    with services().db.session() as session:
        session.execute(
            update(Survey).where(Survey.ticket_id.in_(["A1", "A4"])).values(sent_at=utcnow().replace(year=2020))
        )
    agents = {a["email"]: a for a in rated.api("/api/v1/agents?since=2021-01-01").get_json()["agents"]}
    assert (agents["alex@acme.test"]["surveys_sent"], agents["alex@acme.test"]["responses"]) == (2, 2)


def test_surveys_list(rated):
    surveys = rated.api("/api/v1/surveys?ticket_id=A4").get_json()["surveys"]
    assert [(s["ticket_id"], s["status"]) for s in surveys] == [("A4", "sent")]
    assert set(surveys[0]) >= {"ticket_id", "status", "reason", "scheduled_at", "sent_at"}
    assert rated.api("/api/v1/surveys?status=nope").status_code == 400


def test_csv_has_the_same_rows(rated):
    response = rated.api("/api/v1/ratings.csv?status=counted")
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["ticket_id"], r["score"], r["comment"]) for r in rows] == [
        ("A1", "5", "great"),
        ("A2", "4", ""),
        ("A3", "2", "slow"),
        ("S1", "1", ""),
    ]


def test_accounts_see_only_their_own_ratings(rated, app, client, http_recorder):
    from tests.conftest import Helpdesk

    other = Helpdesk(app, client, http_recorder.url)
    assert other.api("/api/v1/ratings").get_json()["ratings"] == []
    with services().db.session() as session:
        assert session.query(Rating).count() == 5
