"""The Slack alert's layout: the header, the agent line, then the customer's comment as a quote of its own lines.

Comments are generated (hypothesis): line breaks of every kind, blank lines, leading '>' and spaces, with and
without a team, so the quote can never run into the agent line nor leave a line unquoted.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from plugin import alerts
from plugin.models import Account, Rating, Survey

SENT = datetime(2026, 1, 5, tzinfo=UTC)


def _rating(comment: str, team: str | None) -> tuple[Account, Rating]:
    account = Account(name="Acme", key="k", platform="generic", locale="en", options={})
    survey = Survey(
        ticket_id="T-1",
        ticket_url="https://desk.test/t/1",
        requester_email="casey@customer.test",
        requester_name="Casey",
        agent_email="alex@acme.test",
        agent_name="Alex",
        team=team,
        scale="csat5",
        locale="en",
        sent_at=SENT,
    )
    return account, Rating(survey=survey, scale="csat5", score=1, comment=comment, version=1)


@settings(max_examples=150, deadline=None)
@given(
    comment=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200).filter(
        lambda c: c.strip()
    ),
    team=st.sampled_from([None, "", "Billing"]),
)
def test_the_comment_is_a_quote_on_its_own_lines(comment, team):
    account, rating = _rating(comment, team)
    text = alerts.slack_text(account, rating, "low_score")
    header, agent, *quote = text.split("\n")
    assert header.startswith(":warning: ") and agent == f"Agent: Alex{' (Billing)' if team else ''}"
    assert quote and all(line.startswith("> ") for line in quote), text
    expected = alerts.slack_escape(comment.strip()).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    assert [line[2:] for line in quote] == expected


def test_without_a_comment_there_is_no_quote():
    account, rating = _rating("", "Billing")
    assert alerts.slack_text(account, rating, "low_score").split("\n")[1:] == ["Agent: Alex (Billing)"]


def test_a_plain_comment_reads_as_slack_shows_it():
    account, rating = _rating("Nobody called back.\nTwice!", None)
    assert alerts.slack_text(account, rating, "low_score").split("\n")[1:] == [
        "Agent: Alex",
        "> Nobody called back.",
        "> Twice!",
    ]
