"""The weekly digest, rendered and sent by the worker's sweep to a real SMTP server on loopback (aiosmtpd).

Two weeks of hand-made ratings (February 2026) on top of the January ROWS: the digest sent on Monday 16 February
covers the week of 9 February and compares it with the week of 2 February. Figures are computed by hand below.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from plugin.admin.users import create_admin
from plugin.models import Account, AdminUser, DigestSend
from plugin.services import services
from tests.admin.conftest import add_survey, day
from tests.conftest import run_jobs

WEEK1 = {  # agent: (team, scores) in the week of 2 February
    "ann@acme.test": ("Billing", [5, 5, 5, 5, 5, 2]),  # 5/6 satisfied
    "bob@acme.test": ("Tech", [5, 4, 1, 1, 2, 2]),  # 2/6
}
WEEK2 = {  # ... and in the week of 9 February
    "ann@acme.test": ("Billing", [5, 4, 2, 1, 1, 1]),  # 2/6: the worst mover
    "bob@acme.test": ("Tech", [5, 5, 5, 4, 4, 5]),  # 6/6: the best mover (lower bound 61.0 %)
    "cy@acme.test": ("Billing", [5, 5]),  # too few to be a mover
}
COMPLAINT = "Still broken after two weeks"


@pytest.fixture
def february(app, reported):
    with services().db.session() as session:
        account = session.get(Account, reported.account.id)
        n = 500
        for first_day, week in ((2, WEEK1), (9, WEEK2)):
            for agent, (team, scores) in week.items():
                for i, score in enumerate(scores):
                    n += 1
                    comment = COMPLAINT if (agent, first_day, i) == ("ann@acme.test", 9, 3) else ""
                    row = (agent, team, "Acme", "en", "csat5", day(2, first_day + i % 5), score, "counted", 0, comment)
                    add_survey(session, account, n, row)
        flagged = ("ann@acme.test", "Billing", "Acme", "en", "csat5", day(2, 12), 1, "flagged", 0, "")
        add_survey(session, account, 600, flagged)
        tech_flagged = ("bob@acme.test", "Tech", "Acme", "en", "csat5", day(2, 12), 1, "flagged", 0, "")
        add_survey(session, account, 601, tech_flagged)
        people = [
            ("lead@acme.test", {"role": "admin"}, 0, 8, None),  # Monday 08:00 UTC
            ("tl@acme.test", {"role": "team_lead", "teams": ("Billing",)}, 0, 8, "de"),
            ("quiet@acme.test", {"role": "admin"}, None, 8, None),  # not opted in
            ("kim@acme.test", {"role": "agent"}, None, 8, None),
        ]
        for email, role, weekday, hour, locale in people:
            person = create_admin(session, account, email, invited=True, **role).admin
            person.digest_weekday, person.digest_hour, person.locale = weekday, hour, locale
    return reported


def _plain(message) -> str:
    return message.get_body(("plain",)).get_content()


def _html(message) -> str:
    return message.get_body(("html",)).get_content()


def test_the_digest_is_sent_at_the_chosen_hour_once_per_person_and_week(app_config, february, smtp_server, clock):
    services().mailer = _smtp(smtp_server)
    clock.now = day(2, 16).replace(hour=7, minute=59)  # Monday, one minute early
    run_jobs()
    assert smtp_server.messages == []
    clock.now = day(2, 16).replace(hour=8, minute=0)
    run_jobs()
    by_recipient = {m["To"].addresses[0].addr_spec: m for m in smtp_server.messages}
    assert set(by_recipient) == {"lead@acme.test", "tl@acme.test"}  # opted in; not the quiet admin nor the agent
    for hour in (8, 9, 23):  # later sweeps the same week send nothing more
        clock.now = day(2, 16).replace(hour=hour, minute=30)
        run_jobs()
    clock.now = day(2, 17).replace(hour=10)
    run_jobs()
    assert len(smtp_server.messages) == 2
    with services().db.session() as session:
        sends = session.scalars(select(DigestSend)).all()
    assert [(s.status, s.period_start.date().isoformat()) for s in sends] == [("sent", "2026-02-09")] * 2

    admin = by_recipient["lead@acme.test"]
    assert admin.get_content_type() == "multipart/alternative"
    text, html = _plain(admin), _html(admin)
    assert "2026-02-09" in admin["Subject"] and "2026-02-15" in admin["Subject"]
    # Billing: ann 2/6 + cy 2/2 = 4/8 = 50.0 %, the week before 5/6 = 83.3 % -> -33.3; Tech: 6/6 against 2/6
    assert "Billing: 50.0 % (−33.3), 8 responses" in text
    assert "Tech: 100.0 % (+66.7), 6 responses" in text
    assert "- bob@acme.test: 61.0 % (+51.3)" in text.split("Most declined")[0].split("Most improved")[1]
    assert "ann@acme.test" in text.split("Most declined")[1].split("New negative comments")[0]
    assert "cy@acme.test" not in text  # two responses: no mover
    assert f"  > {COMPLAINT}" in text and f">{COMPLAINT}</blockquote>" in html
    assert "3 flagged clicks await review" in text  # ann's and bob's, and sam's from January (within 30 days)
    assert 'data-mover="best"' in html and 'lang="en"' in html


def test_a_team_leads_digest_covers_their_teams_in_their_language(app_config, february, smtp_server, clock):
    services().mailer = _smtp(smtp_server)
    clock.now = day(2, 16).replace(hour=8, minute=5)
    run_jobs()
    lead = next(m for m in smtp_server.messages if m["To"].addresses[0].addr_spec == "tl@acme.test")
    text, html = _plain(lead), _html(lead)
    assert lead["Content-Language"] == "de" and 'lang="de"' in html
    assert "Billing" in text and "Tech" not in text and "bob@acme.test" not in text
    assert "2 markierte Klicks warten auf Prüfung" in text  # Billing's (ann's and sam's), in the lead's German
    assert COMPLAINT in text


def test_the_preferences_page_opts_in_and_out(signed_in, admin):
    from tests.admin.conftest import csrf_of

    token = csrf_of(signed_in.get("/admin/preferences").get_data(as_text=True))
    form = {"csrf_token": token, "name": "Lea Lead", "locale": "el", "digest_weekday": "4", "digest_hour": "17"}
    assert signed_in.post("/admin/preferences", data=form).status_code == 303
    with services().db.session() as session:
        person = session.scalar(select(AdminUser).where(AdminUser.email == admin))
        assert (person.digest_weekday, person.digest_hour, person.locale, person.name) == (4, 17, "el", "Lea Lead")
    bad = signed_in.post("/admin/preferences", data={**form, "digest_hour": "24", "digest_weekday": "7"})
    assert bad.status_code == 400
    with services().db.session() as session:
        assert session.scalar(select(AdminUser.digest_hour).where(AdminUser.email == admin)) == 17
    off = signed_in.post("/admin/preferences", data={**form, "digest_weekday": ""})
    assert off.status_code == 303
    with services().db.session() as session:
        assert session.scalar(select(AdminUser.digest_weekday).where(AdminUser.email == admin)) is None


def _smtp(server):
    from plugin.channels.email import make_mailer

    return make_mailer(server.url, services().settings.outbox_path)
