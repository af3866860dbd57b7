"""What the customer is asked after answering, and what the team sees of it.

Each score band (negative / neutral / positive) has its own follow-up question; a negative answer may pick reason
tags from the account's list, in the customer's language; the API summary counts them per reason and per agent.
Also: the pages carry the account's brand, say until when the answer can be changed, and speak the customer's
language when the server refuses an answer.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from plugin.accounts import update_account
from plugin.admin import account_settings
from plugin.colours import DARK, LIGHT, contrast, palette
from plugin.models import Account, Rating
from plugin.services import services
from plugin.surveys import bands
from plugin.surveys.scales import SCALES, scale_for
from tests.conftest import PUBLIC_URL, nonce_of, outbox, person_opens, rating_links

REASONS = "Slow answer\nProblem not solved\nHad to repeat myself"
REASONS_PL = "Długie oczekiwanie\nProblem nie został rozwiązany\nTrzeba było powtarzać"


def _set_options(helpdesk, **options) -> None:
    s = services()
    with s.db.session() as session:
        account = session.get(Account, helpdesk.account.id)
        update_account(session, s.box, account, options=options)
        session.commit()


def _survey_links(app, helpdesk, *, locale: str = "en", ticket: str = "T-7", agent: str = "alex@acme.test"):
    event = helpdesk.event(ticket_id=ticket)
    event["requester"]["locale"] = locale
    event["requester"]["email"] = f"{ticket.lower()}@customer.test"
    event["assignee"]["email"] = agent
    assert helpdesk.post(event).status_code in (200, 202)
    helpdesk.run_jobs()
    message = outbox(app)[-1]
    return [link[len(PUBLIC_URL) :] for link in rating_links(message)]


def _rating() -> Rating:
    with services().db.session() as session:
        return session.scalar(select(Rating).order_by(Rating.id.desc()))


def test_every_score_falls_in_one_band_and_satisfied_answers_are_positive():
    for name in SCALES:
        for options in ({}, {"csat10_eight_is_satisfied": "true"}):
            counted = scale_for(name, options)
            found = [bands.band(counted, point.score) for point in counted.points]
            assert found[0] == bands.NEGATIVE and found[-1] == bands.POSITIVE
            assert [s for s, b in zip(counted.scores, found, strict=True) if b == bands.POSITIVE] == sorted(
                counted.satisfied
            )
            assert found == sorted(found, key=bands.BANDS.index)  # bands run low to high, never interleaved


@pytest.mark.parametrize(
    ("index", "question"),
    [(0, "What could we improve?"), (2, "What would have made it better?"), (4, "What did we do well?")],
)
def test_each_band_asks_its_own_question(app, helpdesk, client, clock, index, question):
    links = _survey_links(app, helpdesk)
    html = person_opens(client, clock, links[index]).get_data(as_text=True)
    assert question in html
    assert {q for q in bands.QUESTIONS.values() if q in html} == {question}
    assert f"Thanks! You rated {index + 1}\u00a0– " in html and "You can change your answer until " in html


def test_negative_answers_offer_the_accounts_reasons_in_the_customers_language_and_store_them(
    app, helpdesk, client, clock
):
    _set_options(helpdesk, reason_tags=REASONS, reason_tags_pl=REASONS_PL, followup_negative_pl="Co poszło nie tak?")
    links = _survey_links(app, helpdesk, locale="pl")
    page = person_opens(client, clock, links[1]).get_data(as_text=True)
    assert "Co poszło nie tak?" in page and ">Długie oczekiwanie</span>" in page and ">Slow answer</span>" not in page
    assert person_opens(client, clock, links[4]).get_data(as_text=True).count('name="reason"') == 0  # positive

    form = {"nonce": nonce_of(page), "score": "2", "reason": ["Slow answer", "Had to repeat myself", "<script>"]}
    saved = client.post(links[1], data=form)
    assert saved.status_code == 200
    assert _rating().reason_tags == ["Slow answer", "Had to repeat myself"]  # only the account's, in its order
    assert saved.get_data(as_text=True).count(" checked>") == 3  # the score and the two reasons stay ticked

    client.post(links[1], data={**form, "score": "5"})  # changed to a positive answer: no reasons stay
    assert _rating().reason_tags == []


def test_the_summary_counts_reasons_per_reason_and_per_agent(app, helpdesk, client, clock):
    _set_options(helpdesk, reason_tags=REASONS)
    picks = [
        ("T-1", "alex@acme.test", ["Slow answer", "Problem not solved"]),
        ("T-2", "alex@acme.test", ["Slow answer"]),
        ("T-3", "sam@acme.test", ["Slow answer"]),
    ]
    for ticket, agent, reasons in picks:
        links = _survey_links(app, helpdesk, ticket=ticket, agent=agent)
        page = person_opens(client, clock, links[0]).get_data(as_text=True)
        client.post(links[0], data={"nonce": nonce_of(page), "score": "1", "reason": reasons})
    summary = json.loads(helpdesk.api("/api/v1/summary").get_data(as_text=True))
    assert summary["reasons"] == [
        {
            "reason": "Slow answer",
            "count": 3,
            "agents": [{"agent_email": "alex@acme.test", "count": 2}, {"agent_email": "sam@acme.test", "count": 1}],
        },
        {"reason": "Problem not solved", "count": 1, "agents": [{"agent_email": "alex@acme.test", "count": 1}]},
    ]
    assert json.loads(helpdesk.api("/api/v1/summary?agent=sam@acme.test").get_data(as_text=True))["reasons"] == [
        {"reason": "Slow answer", "count": 1, "agents": [{"agent_email": "sam@acme.test", "count": 1}]}
    ]


def test_a_refused_answer_is_explained_in_the_customers_language(app, helpdesk, client, clock):
    links = _survey_links(app, helpdesk, locale="pl")
    nonce = nonce_of(person_opens(client, clock, links[0]).get_data(as_text=True))
    too_long = client.post(links[0], data={"nonce": nonce, "score": "1", "comment": "x" * 2001})
    assert too_long.status_code == 400
    assert "Komentarz jest za długi: może mieć najwyżej 2000 znaków." in too_long.get_data(as_text=True)
    off_scale = client.post(links[0], data={"nonce": nonce, "score": "9"})
    assert off_scale.status_code == 400 and "Wybierz jedną z odpowiedzi." in off_scale.get_data(as_text=True)


def test_pages_carry_the_accounts_brand_errors_and_unsubscribe_too(app, helpdesk, client, clock):
    _set_options(helpdesk, company_name="Nordlicht Support", accent_color="#7a1fa2")
    links = _survey_links(app, helpdesk, locale="de")
    page = person_opens(client, clock, links[0]).get_data(as_text=True)
    assert "Nordlicht Support" in page and "--bar: #7a1fa2" in page
    message = outbox(app)[-1]
    unsubscribe = message["List-Unsubscribe"].strip("<>").removeprefix(PUBLIC_URL)
    assert "Nordlicht Support" in client.get(unsubscribe).get_data(as_text=True)
    clock.advance(days=400)
    unanswered = _survey_links(app, helpdesk, locale="de", ticket="T-9")
    clock.advance(days=40)
    gone = client.get(unanswered[0])
    assert gone.status_code == 410
    html = gone.get_data(as_text=True)
    assert "Nordlicht Support" in html and "Diese Umfrage ist beendet" in html and "Gone" not in html


def test_the_settings_form_keeps_reason_lists_in_step():
    form = {name: "" for name in account_settings.FIELDS}
    form.update(scale="csat5", locale="en", delay_minutes="60", throttle_days="7", settle_minutes="10", edit_days="7")
    _, errors = account_settings.validate({**form, "reason_tags": REASONS, "reason_tags_pl": "Jeden\nDwa"})
    assert "reason_tags_pl" in errors and "3 lines" in errors["reason_tags_pl"]
    _, errors = account_settings.validate({**form, "reason_tags": "\n".join(f"r{i}" for i in range(13))})
    assert "reason_tags" in errors
    values, errors = account_settings.validate({**form, "reason_tags": REASONS, "reason_tags_pl": REASONS_PL})
    assert not errors and values["reason_tags_pl"] == REASONS_PL


@given(st.integers(0, 0xFFFFFF).map(lambda n: f"#{n:06x}"))
def test_any_accent_gives_readable_buttons_and_edges_in_light_and_dark(accent):
    colours = palette(accent)
    assert colours.bar == accent  # the brand's own colour stays on the bar
    for card, fill, ink, edge in (
        (LIGHT["card"], colours.button, colours.on_button, colours.accent),
        (DARK["card"], colours.button_dark, colours.on_button_dark, colours.accent_dark),
    ):
        assert contrast(ink, fill) >= 4.5  # the button's text (WCAG 1.4.3)
        assert contrast(fill, card) >= 3.0  # the button against the card (1.4.11)
        assert contrast(edge, card) >= 4.5  # links, the chosen option's edge, focus rings


def test_the_fixed_colours_meet_aa_in_both_schemes():
    for scheme in (LIGHT, DARK):
        assert contrast(scheme["fg"], scheme["card"]) >= 4.5 and contrast(scheme["fg"], scheme["bg"]) >= 4.5
        assert contrast(scheme["muted"], scheme["card"]) >= 4.5 and contrast(scheme["muted"], scheme["bg"]) >= 4.5
        assert contrast(scheme["line"], scheme["card"]) >= 3.0  # option borders
