"""Signature links: the CLI snippet, the signed agent, the redirect to /r/, and the same counting rules."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from plugin import signature
from plugin.models import Click, Rating, Survey
from plugin.services import services
from tests.conftest import BROWSER_HEADERS, Helpdesk, nonce_of, person_opens

AGENT = "alex@acme.test"


def _links(helpdesk, agent: str = AGENT) -> list[str]:
    """The signature links with the ticket placeholder as the helpdesk would fill it in (path only)."""
    s = services()
    urls = signature.links(helpdesk.account, agent, s.tokens, s.settings.public_url, "{ticket_id}")
    return [url.removeprefix("http://opencsat.test") for _, url in urls]


def _fill(url: str, ticket: str) -> str:
    return url.replace("{ticket_id}", ticket)


def _helpdesk_names(helpdesk, *tickets: str) -> None:
    """The helpdesk says these tickets exist and are the agent's (an update event), so their ratings may count."""
    for ticket in tickets:
        assert helpdesk.post(helpdesk.event("ticket.updated", ticket_id=ticket)).status_code in (200, 202)


@pytest.mark.parametrize(
    ("platform", "placeholder"),
    [("zendesk", "{{ticket.id}}"), ("helpscout", "{%conversation.number%}"), ("zammad", "#{ticket.number}")],
)
def test_the_cli_prints_html_and_text_with_the_platforms_placeholder(runner, helpdesk, platform, placeholder):
    result = runner.invoke(
        args=["signature", "--account", helpdesk.account.key, "--agent", "Alex@Acme.test", "--platform", platform]
    )
    assert result.exit_code == 0, result.output
    html, _, text = result.output.partition("-- plain text --")
    hrefs = re.findall(r'href="([^"]+)"', html)
    assert len(hrefs) == 5 and all(h.endswith(f"?ticket={placeholder}") for h in hrefs)
    assert "Very satisfied" in html and "How would you rate the support you received?" in text
    assert [u for u in re.findall(r"(http://\S+)", text)] == hrefs
    token = hrefs[0].split("/s/")[1].split("/")[0]
    assert services().tokens.read_signature_agent(token) == (helpdesk.account.id, "alex@acme.test")


def test_the_cli_refuses_unknown_accounts_and_bad_agents(runner, helpdesk):
    assert runner.invoke(args=["signature", "--account", "nope", "--agent", AGENT]).exit_code != 0
    assert runner.invoke(args=["signature", "--account", helpdesk.account.key, "--agent", "alex"]).exit_code != 0


def test_nps_snippet_is_a_row_of_numbers_in_the_accounts_language(app, client, http_recorder):
    helpdesk = Helpdesk(app, client, http_recorder.url, scale="nps", locale="de")
    s = services()
    block = signature.snippet(helpdesk.account, AGENT, s.tokens, s.settings.public_url, "freshdesk")
    assert block.placeholder == "{{ticket.id}}" and len(re.findall(r"href=", block.html)) == 11
    assert "Überhaupt nicht wahrscheinlich" in block.text and "Äußerst wahrscheinlich" in block.html


def test_a_click_redirects_to_the_tickets_rating_link(helpdesk, client):
    page = client.get(_fill(_links(helpdesk)[4], "12345"), headers=BROWSER_HEADERS)
    assert page.status_code == 303 and page.headers["Location"].startswith("/r/")
    link = services().tokens.read_rating(page.headers["Location"].removeprefix("/r/"))
    with services().db.session() as session:
        survey = session.get(Survey, link.survey_id)
    assert link.score == 5
    assert (survey.channel, survey.status, survey.sent_at, survey.ticket_id, survey.agent_email) == (
        "signature",
        "sent",
        None,
        "12345",
        AGENT,
    )


def test_one_survey_per_ticket_and_agent_and_the_latest_answer_counts(helpdesk, client, clock):
    links = _links(helpdesk)
    _helpdesk_names(helpdesk, "777")
    first = client.get(_fill(links[1], "777"), headers=BROWSER_HEADERS).headers["Location"]
    clock.advance(minutes=5)
    page = client.get(first, headers=BROWSER_HEADERS)
    client.post(first, data={"nonce": nonce_of(page.get_data(as_text=True)), "score": "2"}, headers=BROWSER_HEADERS)
    clock.advance(hours=3)
    second = client.get(_fill(links[4], "777"), headers=BROWSER_HEADERS).headers["Location"]
    page = client.get(second, headers=BROWSER_HEADERS)
    client.post(second, data={"nonce": nonce_of(page.get_data(as_text=True)), "score": "5"}, headers=BROWSER_HEADERS)
    other_ticket = client.get(_fill(links[0], "778"), headers=BROWSER_HEADERS).headers["Location"]
    other_agent = client.get(_fill(_links(helpdesk, "sam@acme.test")[0], "777"), headers=BROWSER_HEADERS)
    with services().db.session() as session:
        assert session.scalar(select(func.count()).select_from(Survey)) == 3
        ratings = {r.survey.ticket_id + r.survey.agent_email: r for r in session.scalars(select(Rating))}
    assert ratings["777" + AGENT].score == 5 and ratings["777" + AGENT].status == "counted"
    assert other_ticket != second and other_agent.status_code == 303


def test_signature_clicks_follow_the_same_counting_rules(helpdesk, client, clock):
    links = _links(helpdesk)
    # A scanner opening every link within seconds: all kept as clicks, nothing counts.
    for url in links:
        location = client.get(_fill(url, "900"), headers=BROWSER_HEADERS).headers["Location"]
        client.get(location, headers=BROWSER_HEADERS)
    with services().db.session() as session:
        rating = session.scalar(select(Rating))
        assert rating.status == "flagged" and "several_scores" in rating.reasons
        assert session.scalar(select(func.count()).select_from(Click)) == 5
    # A person's single click later settles after the window, with no confirmation needed.
    _helpdesk_names(helpdesk, "901")
    clock.advance(hours=1)
    location = client.get(_fill(links[3], "901"), headers=BROWSER_HEADERS).headers["Location"]
    person_opens(client, clock, location, after_minutes=0)
    clock.advance(minutes=11)
    helpdesk.run_jobs()
    with services().db.session() as session:
        settled = session.scalar(select(Rating).join(Survey).where(Survey.ticket_id == "901"))
        assert (settled.status, settled.score, settled.reasons) == ("counted", 4, "")


def test_a_tampered_agent_token_is_404(helpdesk, client):
    url = _fill(_links(helpdesk)[0], "1")
    token = url.split("/s/")[1].split("/")[0]
    forged = services().tokens.signature_agent(helpdesk.account.id, "eve@evil.test").split(".")[0]
    for bad in (token[:-2] + "xx", forged + "." + token.split(".")[1]):
        assert client.get(url.replace(token, bad), headers=BROWSER_HEADERS).status_code == 404
    with services().db.session() as session:
        assert session.scalar(select(func.count()).select_from(Survey)) == 0


@pytest.mark.parametrize("ticket", ["", "{{ticket.id}}", "#{ticket.number}", "a b", "x" * 65, "1;drop", "é"])
def test_a_missing_or_unfilled_ticket_id_is_refused(helpdesk, client, ticket):
    url = _links(helpdesk)[0].split("?")[0]
    page = client.get(url, query_string={"ticket": ticket}, headers=BROWSER_HEADERS)
    assert page.status_code == 400 and "no ticket number" in page.get_data(as_text=True)


def test_a_score_off_the_accounts_scale_is_404(helpdesk, client):
    url = _fill(_links(helpdesk)[0], "5").replace("/1?", "/9?")
    assert client.get(url, headers=BROWSER_HEADERS).status_code == 404


def test_signature_surveys_show_in_the_api_with_their_rating(helpdesk, client, clock):
    _helpdesk_names(helpdesk, "42")
    location = client.get(_fill(_links(helpdesk)[4], "42"), headers=BROWSER_HEADERS).headers["Location"]
    clock.advance(minutes=2)
    page = client.get(location, headers=BROWSER_HEADERS)
    client.post(location, data={"nonce": nonce_of(page.get_data(as_text=True)), "score": "5"}, headers=BROWSER_HEADERS)
    ratings = helpdesk.api("/api/v1/ratings?ticket_id=42").get_json()["ratings"]
    assert [(r["score"], r["status"], r["agent_email"]) for r in ratings] == [(5, "counted", AGENT)]
    assert json.dumps(helpdesk.api("/api/v1/surveys?ticket_id=42").get_json()).count('"sent"') == 1


def test_signature_ratings_stay_out_of_response_rates(helpdesk, client, clock):
    helpdesk.post(helpdesk.event(ticket_id="E-1"))  # one emailed survey for the same agent, never answered
    helpdesk.run_jobs()
    location = client.get(_fill(_links(helpdesk)[4], "42"), headers=BROWSER_HEADERS).headers["Location"]
    page = client.get(location, headers=BROWSER_HEADERS)
    client.post(location, data={"nonce": nonce_of(page.get_data(as_text=True)), "score": "5"}, headers=BROWSER_HEADERS)
    (agent,) = helpdesk.api("/api/v1/agents").get_json()["agents"]
    assert (agent["email"], agent["surveys_sent"], agent["responses"], agent["response_rate"]) == (AGENT, 1, 0, 0.0)
