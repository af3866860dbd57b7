"""Report numbers against hand-computed figures from tests/admin/conftest.py's ROWS, and the API giving the same."""

from __future__ import annotations

import pytest

from plugin import dashboard
from plugin.services import services
from plugin.surveys.metrics import wilson_lower_bound
from tests.admin.conftest import JANUARY


def board(reported, bucket: str = "week", **args) -> dashboard.Dashboard:
    filters, errors = dashboard.parse_filters({**JANUARY, **args})
    assert errors == {}
    with services().db.session() as session:
        return dashboard.build(session, reported.account.id, filters, bucket)


def pick(row: dict, *names: str) -> tuple:
    return tuple(row[name] for name in names)


FIGS = ("surveys_sent", "responses", "satisfied", "response_rate", "csat")


def test_totals_for_january(reported):
    totals = board(reported).totals
    # sent: alex 6 + sam 4 + kim 7 + lee 4 = 21 (kim's December survey and the skipped one are out);
    # counted: alex 5 + sam 2 (flagged and pending do not count) + kim 6 + lee 3 = 16; satisfied 4 + 1 + 5 + 2 = 12.
    assert pick(totals, *FIGS) == (21, 16, 12, 76.2, 75.0)
    # NPS from lee's 10, 9, 3: (2 promoters - 1 detractor) / 3 = 33.3
    assert (totals["nps"], totals["nps_responses"]) == (33.3, 3)


def test_agents_ranked_by_wilson_lower_bound_with_minimum_sample(reported):
    agents = board(reported).agents
    assert [(a["email"], a["rank"]) for a in agents] == [
        ("kim@acme.test", 1),  # 5 of 6 satisfied: lower bound 43.6
        ("alex@acme.test", 2),  # 4 of 5: lower bound 37.6
        ("lee@acme.test", None),  # 3 responses: below the minimum sample of 5, unranked
        ("sam@acme.test", None),  # 2 responses
    ]
    by_email = {a["email"]: a for a in agents}
    assert pick(by_email["kim@acme.test"], *FIGS) == (7, 6, 5, 85.7, 83.3)
    assert pick(by_email["alex@acme.test"], *FIGS) == (6, 5, 4, 83.3, 80.0)
    assert pick(by_email["sam@acme.test"], *FIGS) == (4, 2, 1, 50.0, 50.0)
    assert pick(by_email["lee@acme.test"], *FIGS) == (4, 3, 2, 75.0, 66.7)
    assert by_email["kim@acme.test"]["csat_lower_bound"] == pytest.approx(43.6, abs=0.05)
    assert by_email["alex@acme.test"]["csat_lower_bound"] == pytest.approx(37.6, abs=0.05)
    assert by_email["alex@acme.test"]["csat_lower_bound"] == round(wilson_lower_bound(4, 5), 1)


def test_per_agent_response_rate_uses_the_same_filters_above_and_below_the_line(reported):
    # From Jan 15, alex has the surveys of Jan 20, 21 and 22: 2 counted (4 and 2) of 3 sent. The Jan 7 survey rated on
    # Jan 16 stays out: a rating belongs to the period its survey was sent in.
    alex = next(a for a in board(reported, since="2026-01-15").agents if a["email"] == "alex@acme.test")
    assert pick(alex, *FIGS) == (3, 2, 1, 66.7, 50.0)
    # Language de is only sam's: both counts narrow together.
    only = board(reported, language="de").agents
    assert [pick(a, "email", *FIGS) for a in only] == [("sam@acme.test", 4, 2, 1, 50.0, 50.0)]
    # Brand Beta and scale csat5: kim without lee's NPS surveys.
    beta = board(reported, brand="Beta", scale="csat5").agents
    assert [pick(a, "email", *FIGS) for a in beta] == [("kim@acme.test", 7, 6, 5, 85.7, 83.3)]


def test_teams(reported):
    teams = {t["team"]: t for t in board(reported).teams}
    # Billing = alex + sam: 10 sent, 7 counted, 5 satisfied; Tech = kim + lee: 11 sent, 9 counted, 7 satisfied
    assert pick(teams["Billing"], *FIGS) == (10, 7, 5, 70.0, 71.4)
    assert pick(teams["Tech"], *FIGS) == (11, 9, 7, 81.8, 77.8)
    assert [t["team"] for t in board(reported).teams] == ["Tech", "Billing"]  # by lower bound
    assert [t["team"] for t in board(reported, team="Tech").teams] == ["Tech"]


def test_over_time_by_week_fills_empty_weeks(reported):
    weeks = board(reported, "week").over_time
    assert [pick(w, "period", "surveys_sent", "responses", "satisfied") for w in weeks] == [
        ("2025-12-29", 0, 0, 0),  # the ISO week holding Jan 1
        ("2026-01-05", 5, 5, 4),  # alex 5, 5, 4; sam 5, 1
        ("2026-01-12", 7, 5, 5),  # kim 5 x 5; sam's flagged and pending clicks do not count
        ("2026-01-19", 3, 2, 1),  # alex 4, 2, and one unanswered
        ("2026-01-26", 6, 4, 2),  # kim 3 and one unanswered; lee 10, 9, 3 and one unanswered
    ]
    assert weeks[-1]["nps"] == 33.3 and weeks[0]["csat"] is None
    months = board(reported, "month").over_time
    assert [pick(m, "period", "surveys_sent", "responses") for m in months] == [("2026-01-01", 21, 16)]
    days = board(reported, "day").over_time
    assert len(days) == 31 and pick(days[4], "period", "surveys_sent") == ("2026-01-05", 1)
    assert sum(d["surveys_sent"] for d in days) == 21


def test_distribution_of_counted_scores(reported):
    dist = {d["scale"]: {p["score"]: p["count"] for p in d["points"]} for d in board(reported).distribution}
    assert dist["csat5"] == {1: 1, 2: 1, 3: 1, 4: 2, 5: 8}
    assert dist["nps"] == {**dict.fromkeys(range(11), 0), 3: 1, 9: 1, 10: 1}


def test_comments_and_flagged(reported):
    b = board(reported)
    assert [c["ticket_id"] for c in b.comments] == ["T-21", "T-16", "T-5", "T-8", "T-2"]  # newest first
    assert all(c["ticket_url"].startswith("https://desk.test/t/") for c in b.comments)
    assert [(f["agent_email"], f["reasons"]) for f in b.flagged] == [
        ("sam@acme.test", ["several_scores", "early_click"])
    ]
    assert [c["ticket_id"] for c in board(reported, agent="ALEX@acme.test").comments] == ["T-5", "T-2"]


def test_filter_menus_list_what_the_period_holds(reported):
    options = board(reported, team="Tech").options
    assert options["agent"] == ["alex@acme.test", "kim@acme.test", "lee@acme.test", "sam@acme.test"]
    assert (options["team"], options["language"], options["scale"]) == (
        ["Billing", "Tech"],
        ["de", "en"],
        ["csat5", "nps"],
    )


def test_bad_filters_are_reported_and_left_out():
    filters, errors = dashboard.parse_filters({"since": "yesterday", "scale": "stars", "until": "2026-01-01"})
    assert set(errors) == {"since", "scale"}
    assert filters == dashboard.Filters(until=filters.until)
    _, errors = dashboard.parse_filters({"since": "2026-02-01", "until": "2026-01-01"})
    assert set(errors) == {"until"}


def test_api_summary_and_teams_give_the_dashboard_numbers(reported, client):
    b = board(reported, team="Billing")
    summary = reported.api(client, "/api/v1/summary?since=2026-01-01&until=2026-02-01&team=Billing").get_json()
    assert summary["totals"] == b.totals
    assert summary["over_time"] == b.over_time
    assert summary["distribution"] == b.distribution
    assert summary["filters"] == {**JANUARY, "team": "Billing"}
    teams = reported.api(client, "/api/v1/teams?since=2026-01-01&until=2026-02-01").get_json()["teams"]
    assert [pick(t, "team", *FIGS) for t in teams] == [pick(t, "team", *FIGS) for t in board(reported).teams]


def test_api_agents_agree_with_the_dashboard(reported, client):
    api = {
        a["email"]: a
        for a in reported.api(client, "/api/v1/agents?since=2026-01-01&until=2026-02-01").get_json()["agents"]
    }
    for row in board(reported).agents:
        names = ("surveys_sent", "responses", "response_rate", "csat", "csat_lower_bound")
        assert pick(api[row["email"]], *names) == pick(row, *names)


@pytest.mark.parametrize("query", ["since=soon", "scale=stars", "bucket=year", "until=2025-01-01&since=2026-01-01"])
def test_api_report_filters_are_checked(reported, client, query):
    response = reported.api(client, f"/api/v1/summary?{query}")
    assert response.status_code == 400
    assert (
        query.split("=")[0].split("&")[0] in response.get_json()["message"] or "until" in response.get_json()["message"]
    )


def test_other_accounts_never_show(reported, client):
    with services().db.session() as session:
        empty = dashboard.build(session, reported.other.id + 1000, dashboard.Filters())
        acme = dashboard.build(session, reported.account.id, dashboard.Filters())
    assert empty.totals["surveys_sent"] == 0 and empty.agents == []
    assert "zed@other.test" not in [a["email"] for a in acme.agents]
    assert acme.totals["surveys_sent"] == 22  # all time: January's 21 and kim's December survey


@pytest.mark.parametrize(("option", "satisfied"), [("true", True), ("", False)])
def test_a_csat10_eight_is_satisfied_only_when_the_account_says_so(reported, option, satisfied):
    from plugin.models import Account
    from tests.admin.conftest import add_survey, day

    row = ("eve@acme.test", "Tech", "Beta", "en", "csat10", day(1, 10), 8, "counted", 1, "Fine")
    with services().db.session() as session:
        add_survey(session, reported.account, 500, row)
        session.get(Account, reported.account.id).options = {"csat10_eight_is_satisfied": option} if option else {}
    built = board(reported, agent="eve@acme.test")
    assert pick(built.totals, "responses", "satisfied", "csat") == (1, int(satisfied), 100.0 if satisfied else 0.0)
    assert [a["satisfied"] for a in built.agents] == [int(satisfied)]
    assert [t["satisfied"] for t in built.teams] == [int(satisfied)]
    eight = next(p for d in built.distribution for p in d["points"] if d["scale"] == "csat10" and p["score"] == 8)
    assert eight == {"score": 8, "label": "8", "satisfied": satisfied, "count": 1}
    assert [c["satisfied"] for c in built.comments] == [satisfied]
