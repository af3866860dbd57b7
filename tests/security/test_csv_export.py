"""CSV exports (findings 5 and 10): no cell a spreadsheet would run as a formula, streamed, capped."""

from __future__ import annotations

import csv
import io

import pytest
from flask import g
from hypothesis import given
from hypothesis import strategies as st

from plugin import csv_export
from plugin.admin.users import create_admin
from plugin.models import Account
from plugin.services import services
from tests.admin.conftest import PASSWORD, add_survey, day, new_account, sign_in


@given(st.text(max_size=50))
def test_no_cell_starts_a_formula_and_nothing_else_changes(text):
    cell = csv_export.safe_cell(text)
    assert not cell.startswith(csv_export.FORMULA_STARTS)
    assert cell == text or (cell == "'" + text and text.startswith(csv_export.FORMULA_STARTS))


def _hostile_account(hostile: list[str]):
    """An account whose every text column (ticket, link, agent, team, brand, comment) starts a formula."""
    with services().db.session() as session:
        created = new_account(session, "Acme")
        for n, text in enumerate(hostile, 1):
            survey = add_survey(
                session,
                created.account,
                n,
                (text[:300], text[:100], text[:100], "en", "csat5", day(1, 5), 3, "counted", 1, text),
            )
            survey.ticket_id, survey.ticket_url = text[:100], text[:1000]
    return created


def _cells(body: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(body)) for cell in row]


# Every formula start, with the payloads of https://owasp.org/www-community/attacks/CSV_Injection.
HOSTILE_VALUES = [
    start + payload
    for start in csv_export.FORMULA_STARTS
    for payload in ('HYPERLINK("http://evil.test","click")', "cmd|' /C calc'!A0", "1+1")
]


def test_api_and_admin_exports_neutralise_every_text_cell(app, client):
    created = _hostile_account(HOSTILE_VALUES)
    api = client.get(
        "/api/v1/ratings.csv?since=2026-01-01", headers={"Authorization": f"Bearer {created.api_key}"}
    ).get_data(as_text=True)
    g.pop("account", None)  # the test's app context outlives each request: drop what the API request left on g
    with services().db.session() as session:
        create_admin(session, session.get(Account, created.account.id), "lead@acme.test", PASSWORD)
    assert sign_in(client, "lead@acme.test").status_code == 303
    admin_csv = client.get("/admin/ratings.csv?since=2026-01-01&until=2026-02-01").get_data(as_text=True)
    for body in (api, admin_csv):
        cells = _cells(body)
        assert len(cells) > len(HOSTILE_VALUES) * 5
        assert not [cell for cell in cells if cell.startswith(csv_export.FORMULA_STARTS)]
        assert "'=HYPERLINK" in body  # neutralised, not dropped


@pytest.fixture
def many(app):
    with services().db.session() as session:
        created = new_account(session, "Acme")
        for n in range(7):
            add_survey(
                session, created.account, n, ("a@acme.test", "T", "B", "en", "csat5", day(1, 5), 4, "counted", 1, "")
            )
    return created


def test_exports_are_streamed_in_batches(many, client, monkeypatch):
    monkeypatch.setattr(csv_export, "BATCH", 2)
    response = client.get("/api/v1/ratings.csv", headers={"Authorization": f"Bearer {many.api_key}"}, buffered=False)
    assert response.is_streamed
    chunks = list(response.response)
    assert len(chunks) == 4  # the header with the first two rows, then 2, 2 and 1 rows
    assert len(list(csv.reader(io.StringIO("".join(c if isinstance(c, str) else c.decode() for c in chunks))))) == 8


def test_an_export_over_the_cap_is_a_400_naming_the_fix(many, client, monkeypatch):
    monkeypatch.setattr(csv_export, "MAX_ROWS", 6)
    response = client.get("/api/v1/ratings.csv", headers={"Authorization": f"Bearer {many.api_key}"})
    assert response.status_code == 400 and "since and until" in response.get_json()["message"]
    monkeypatch.setattr(csv_export, "MAX_ROWS", 7)
    assert client.get("/api/v1/ratings.csv", headers={"Authorization": f"Bearer {many.api_key}"}).status_code == 200
