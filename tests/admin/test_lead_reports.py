"""What the team lead reads: agents by name, small samples marked, deltas against the previous period, the admin in
the account's language, and a CSV Excel opens with the columns a 1:1 needs. Figures are computed by hand from ROWS
in tests/admin/conftest.py (January 2026 against the 31 days before it)."""

from __future__ import annotations

import csv
import io
import json
import re

from sqlalchemy import update

from plugin.models import Account, AdminUser, Survey
from plugin.services import services

JAN = "since=2026-01-01&until=2026-02-01"


def _dashboard(client, query: str = JAN) -> str:
    response = client.get(f"/admin/?{query}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _data(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', html, re.S)[1])


def _name(email: str, name: str) -> None:
    with services().db.session() as session:
        session.execute(update(Survey).where(Survey.agent_email == email).values(agent_name=name))


def test_agents_are_shown_by_name_with_the_email_on_hover(signed_in):
    _name("alex@acme.test", "Alex Ångström")
    html = _dashboard(signed_in)
    assert re.search(r'<a href="[^"]*agent=alex(@|%40)acme.test[^"]*" title="alex@acme.test">Alex Ångström</a>', html)
    assert ">sam@acme.test</a>" in html  # no name from the helpdesk: the address it is
    assert '<td><span title="alex@acme.test">Alex Ångström</span></td>' in html  # beside their comments too


def test_a_period_with_few_responses_shows_its_count_and_a_muted_point(signed_in):
    html = _dashboard(signed_in, f"{JAN}&bucket=week")
    weeks = {row["period"]: row for row in _data(html)["over_time"]}
    # week of 12 January: kim's five counted ratings; week of 26 January: kim 3, lee 10, 9, 3 -> 4 responses
    assert (weeks["2026-01-12"]["responses"], weeks["2026-01-12"]["small_sample"]) == (5, False)
    assert (weeks["2026-01-26"]["responses"], weeks["2026-01-26"]["small_sample"]) == (4, True)
    row = re.search(r'<tr class="small-sample"[^>]*>\s*<th scope="row">2026-01-26</th>(.*?)</tr>', html, re.S)
    assert row and "4 responses" in row[1]
    assert not re.search(r'<tr class="small-sample"[^>]*>\s*<th scope="row">2026-01-12</th>', html)


def test_every_figure_has_its_change_against_the_previous_period(signed_in):
    html = _dashboard(signed_in)
    # December 1-31: kim's one rating (1 of 5, not satisfied) on one survey sent -> CSAT 0 %, response rate 100 %
    assert re.search(r'data-delta="csat"[^>]*>\+75\.0', html)
    assert re.search(r'data-delta="response_rate"[^>]*>−23\.8', html)
    assert "previous 31 days" in html
    board = _data(html)
    kim = next(a for a in board["agents"] if a["email"] == "kim@acme.test")
    alex = next(a for a in board["agents"] if a["email"] == "alex@acme.test")
    assert (kim["previous"]["csat"], kim["delta"]["csat"]) == (0.0, 83.3)  # 5 of 6 satisfied in January
    assert alex["previous"]["responses"] == 0 and alex["delta"]["csat"] is None
    assert re.search(r'data-agent="kim@acme.test".*?data-delta="csat"[^>]*>\+83\.3', html, re.S)


def test_the_admin_speaks_the_accounts_language_or_the_persons(signed_in, reported, admin):
    with services().db.session() as session:
        session.get(Account, reported.account.id).locale = "de"
    html = _dashboard(signed_in)
    assert '<html lang="de" dir="ltr">' in html
    assert "Bearbeiter" in html  # "Agent" from the German catalogue
    with services().db.session() as session:
        session.execute(update(AdminUser).where(AdminUser.email == admin).values(locale="ar"))
    assert '<html lang="ar" dir="rtl">' in _dashboard(signed_in)


def test_csv_has_a_bom_and_the_columns_a_one_to_one_needs(signed_in):
    _name("kim@acme.test", "Kim Kowalska")
    with services().db.session() as session:
        session.execute(update(Survey).where(Survey.ticket_id == "T-16").values(requester_name="Zoë Customer"))
    body = signed_in.get(f"/admin/ratings.csv?{JAN}&agent=kim@acme.test").get_data()
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel opens it as UTF-8
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    last = rows[-1]
    assert (last["agent_name"], last["agent_email"], last["customer"]) == (
        "Kim Kowalska",
        "kim@acme.test",
        "Zoë Customer",
    )
    assert (last["subject"], last["channel"], last["reasons"]) == ("Printer jammed", "email", "")
    assert rows[0]["customer"] == "customer11@example.test"  # no name: the address
