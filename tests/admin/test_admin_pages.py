"""/admin: sign-in, CSRF, the dashboard page, CSV export, settings, parked write-backs, flagged clicks, the CLI."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import select

from plugin import create_app
from plugin.admin.login_limit import PER_ADDRESS_AND_EMAIL
from plugin.admin.users import create_admin
from plugin.models import Account, AdminUser, Rating, WriteBack
from plugin.services import services
from tests.admin.conftest import JANUARY, PASSWORD, csrf_of, new_account, sign_in


@pytest.mark.parametrize("path", ["/admin/", "/admin/settings", "/admin/write-backs", "/admin/ratings.csv"])
def test_pages_need_a_signed_in_admin(client, admin, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login?next=")


def test_sign_in_goes_back_to_the_page_asked_for(client, admin):
    client.get("/admin/settings")
    token = csrf_of(client.get("/admin/login?next=/admin/settings").get_data(as_text=True))
    response = client.post(
        "/admin/login?next=/admin/settings", data={"csrf_token": token, "email": "LEAD@acme.test", "password": PASSWORD}
    )
    assert (response.status_code, response.headers["Location"]) == (303, "/admin/settings")
    assert client.get("/admin/settings").status_code == 200


@pytest.mark.parametrize("target", ["https://evil.test/admin", "//evil.test/admin", "/api/v1/ratings"])
def test_sign_in_never_redirects_off_admin(client, admin, target):
    token = csrf_of(client.get("/admin/login").get_data(as_text=True))
    response = client.post(
        f"/admin/login?next={target}", data={"csrf_token": token, "email": admin, "password": PASSWORD}
    )
    assert response.headers["Location"] == "/admin/"


@pytest.mark.parametrize(("email", "password"), [("lead@acme.test", "wrong password!"), ("nobody@acme.test", PASSWORD)])
def test_wrong_password_or_unknown_email_is_refused(client, admin, email, password):
    response = sign_in(client, email, password)
    assert response.status_code == 401
    assert "do not match" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_password_guessing_is_rate_limited_per_address(client, admin):
    allowed = PER_ADDRESS_AND_EMAIL.amount
    codes = [sign_in(client, admin, f"guess number {n}").status_code for n in range(allowed + 1)]
    assert codes == [401] * allowed + [429]
    assert sign_in(client, admin).status_code == 429  # even the right password waits out the minute
    assert client.get("/admin/login").status_code == 200  # the form itself is not limited


def test_password_is_stored_as_a_scrypt_hash(admin):
    with services().db.session() as session:
        stored = session.scalar(select(AdminUser.password_hash))
    assert stored.startswith("scrypt:") and PASSWORD not in stored


def test_forms_without_the_csrf_token_are_400(client, admin):
    client.get("/admin/login")
    assert client.post("/admin/login", data={"email": admin, "password": PASSWORD}).status_code == 400
    assert sign_in(client, admin).status_code == 303
    assert client.post("/admin/settings", data={"scale": "nps"}).status_code == 400
    assert client.post("/admin/settings", data={"scale": "nps", "csrf_token": "forged"}).status_code == 400
    assert client.post("/admin/logout").status_code == 400
    with services().db.session() as session:
        assert session.scalar(select(Account.scale).where(Account.name == "Acme")) == "csat5"


def test_session_cookie_flags(app_config):
    app_config["PUBLIC_URL"] = "https://csat.example"
    app = create_app(app_config)
    with app.app_context():
        with services().db.session() as session:
            create_admin(session, new_account(session, "Acme").account, "lead@acme.test", PASSWORD)
        client = app.test_client()
        response = sign_in(client, "lead@acme.test")
        cookie = response.headers["Set-Cookie"]
        services().db.engine.dispose()
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


def test_logout_ends_the_session(signed_in):
    token = csrf_of(signed_in.get("/admin/").get_data(as_text=True))
    assert signed_in.post("/admin/logout", data={"csrf_token": token}).status_code == 303
    assert signed_in.get("/admin/").status_code == 302


def test_dashboard_page_shows_the_figures_escaped(signed_in):
    response = signed_in.get("/admin/?since=2026-01-01&until=2026-02-01")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'data-figure="csat">75.0 %' in html and 'data-figure="response_rate">76.2 %' in html
    assert "16 of 21 surveys sent" in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "several scores, early click" in html  # flagged, with its reasons
    assert 'href="https://desk.test/t/21"' in html  # the comment links to its ticket
    assert "/static/vendor/chartjs/chart.umd.min.js" in html and "cdn" not in html.lower()
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_dashboard_defaults_to_the_last_30_days_and_reports_bad_filters(signed_in):
    html = signed_in.get("/admin/").get_data(as_text=True)
    assert 'name="since" type="date" value="20' in html
    html = signed_in.get("/admin/?since=soon&until=2026-02-01").get_data(as_text=True)
    assert "since must be an ISO-8601 date" in html


def test_static_chart_library_is_served_locally(client):
    response = client.get("/static/vendor/chartjs/chart.umd.min.js")
    assert response.status_code == 200 and b"Chart.js v4" in response.data[:200]
    response.close()


def test_csv_export_has_the_filtered_ratings(signed_in):
    response = signed_in.get("/admin/ratings.csv?since=2026-01-01&until=2026-02-01&agent=kim@acme.test")
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert [(r["ticket_id"], r["score"], r["status"]) for r in rows] == [
        ("T-11", "5", "counted"),
        ("T-12", "5", "counted"),
        ("T-13", "5", "counted"),
        ("T-14", "5", "counted"),
        ("T-15", "5", "counted"),
        ("T-16", "3", "counted"),
    ]
    assert rows[-1]["comment"] == '\'=HYPERLINK("http://x")'  # a spreadsheet shows it, never runs it
    assert rows[0]["team"] == "Tech" and rows[0]["ticket_url"] == "https://desk.test/t/11"


def test_settings_are_validated_then_saved(signed_in):
    token = csrf_of(signed_in.get("/admin/settings").get_data(as_text=True))
    form = {
        "csrf_token": token,
        "scale": "stars",
        "locale": "xx-nonsense",
        "delay_minutes": "-5",
        "throttle_days": "7",
        "settle_minutes": "10",
        "edit_days": "999",
    }
    response = signed_in.post("/admin/settings", data=form)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Choose one of csat5" in html and "supported languages" in html and "Use a whole number" in html
    assert "Use at most 365" in html and 'aria-invalid="true"' in html
    with services().db.session() as session:
        assert session.scalar(select(Account.delay_minutes).where(Account.name == "Acme")) == 0
    form.update(scale="nps", locale="pt-BR", delay_minutes="30", edit_days="14")
    response = signed_in.post("/admin/settings", data=form, follow_redirects=True)
    assert "Settings saved." in response.get_data(as_text=True)
    with services().db.session() as session:
        account = session.scalar(select(Account).where(Account.name == "Acme"))
    # pt-BR is served by the pt catalogue: the setting names the catalogue the emails will speak
    assert (account.scale, account.locale, account.delay_minutes, account.edit_days) == ("nps", "pt", 30, 14)


def _parked(reported) -> int:
    with services().db.session() as session:
        rating = session.scalar(select(Rating).where(Rating.account_id == reported.account.id).order_by(Rating.id))
        write_back = WriteBack(
            rating_id=rating.id,
            account_id=reported.account.id,
            version=1,
            status="parked",
            attempts=8,
            last_error="401 Unauthorized: token expired",
        )
        session.add(write_back)
        session.flush()
        return write_back.id


def test_parked_write_back_is_listed_replayed_and_delivered(signed_in, reported, http_recorder):
    write_back_id = _parked(reported)
    with services().db.session() as session:
        session.get(Account, reported.account.id).api_url = http_recorder.url + "/callback"  # the cause, fixed
    html = signed_in.get("/admin/write-backs").get_data(as_text=True)
    assert "401 Unauthorized: token expired" in html
    token = csrf_of(html)
    response = signed_in.post(f"/admin/write-backs/{write_back_id}/replay", data={"csrf_token": token})
    assert response.status_code == 303
    with services().db.session() as session:
        write_back = session.get(WriteBack, write_back_id)
    assert (write_back.status, write_back.attempts) == ("pending", 0)
    assert services().jobs.drain() == 1  # the replay enqueued its delivery
    with services().db.session() as session:
        assert session.get(WriteBack, write_back_id).status == "delivered"
    assert [r.path for r in http_recorder.requests] == ["/callback"]
    again = signed_in.post(f"/admin/write-backs/{write_back_id}/replay", data={"csrf_token": token})
    assert again.status_code == 404  # no longer parked


def test_an_admin_cannot_touch_another_accounts_rows(signed_in, reported):
    with services().db.session() as session:
        other = session.scalar(select(Rating).where(Rating.account_id == reported.other.id))
        write_back = WriteBack(rating_id=other.id, account_id=reported.other.id, version=1, status="parked")
        session.add(write_back)
        session.flush()
        ids = (write_back.id, other.id)
    token = csrf_of(signed_in.get("/admin/write-backs").get_data(as_text=True))
    assert signed_in.post(f"/admin/write-backs/{ids[0]}/replay", data={"csrf_token": token}).status_code == 404
    assert signed_in.post(f"/admin/flagged/{ids[1]}/count", data={"csrf_token": token}).status_code == 404


def test_a_flagged_click_can_be_counted_by_the_admin(signed_in, reported):
    html = signed_in.get("/admin/?since=2026-01-01&until=2026-02-01").get_data(as_text=True)
    with services().db.session() as session:
        flagged = session.scalar(select(Rating).where(Rating.status == "flagged"))
    response = signed_in.post(
        f"/admin/flagged/{flagged.id}/count", data={"csrf_token": csrf_of(html), "next": "/admin/?since=2026-01-01"}
    )
    assert (response.status_code, response.headers["Location"]) == (303, "/admin/?since=2026-01-01")
    with services().db.session() as session:
        rating = session.get(Rating, flagged.id)
        queued = session.scalar(select(WriteBack).where(WriteBack.rating_id == flagged.id))
    assert (rating.status, rating.version, queued.status) == ("counted", 2, "pending")
    html = signed_in.get("/admin/?since=2026-01-01&until=2026-02-01").get_data(as_text=True)
    assert 'data-figure="response_rate">81.0 %' in html  # 17 of 21 now


def test_cli_creates_an_admin_with_a_generated_password(runner, reported, client):
    result = runner.invoke(args=["admins", "create", "--account", reported.account.key, "--email", "Boss@Acme.test"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["email"] == "boss@acme.test" and len(printed["password"]) >= 20
    assert sign_in(client, "boss@acme.test", printed["password"]).status_code == 303
    listed = runner.invoke(args=["admins", "list", "--account", reported.account.key])
    assert [a["email"] for a in json.loads(listed.output)] == ["boss@acme.test"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--account", "nope", "--email", "a@b.test"], "no account"),
        (["--email", "not-an-email"], "is not an email"),
        (["--email", "a@b.test", "--password", "short"], "at least 12"),
    ],
)
def test_cli_refuses_bad_input(runner, reported, args, message):
    if "--account" not in args:
        args = ["--account", reported.account.key, *args]
    result = runner.invoke(args=["admins", "create", *args])
    assert result.exit_code != 0 and message in result.output


def test_cli_refuses_a_second_admin_with_the_same_email(runner, reported, admin):
    result = runner.invoke(args=["admins", "create", "--account", reported.account.key, "--email", admin])
    assert result.exit_code != 0 and "already exists" in result.output


def test_january_query_constant_matches_the_dashboard_link(signed_in):
    html = signed_in.get("/admin/?since=2026-01-01&until=2026-02-01").get_data(as_text=True)
    assert "/api/v1/summary?since={since}&amp;until={until}".format(**JANUARY) in html


def test_failed_surveys_are_listed_with_their_reason_and_replayable(signed_in, reported):
    from sqlalchemy import update

    from plugin.models import Survey

    with services().db.session() as session:
        survey_id = session.scalars(select(Survey.id).where(Survey.account_id == reported.account.id)).first()
        session.execute(
            update(Survey).where(Survey.id == survey_id).values(status="failed", attempts=6, reason="550 mailbox gone")
        )
    html = signed_in.get("/admin/write-backs").get_data(as_text=True)
    assert "Failed surveys" in html and "550 mailbox gone" in html
    token = csrf_of(html)
    assert signed_in.post(f"/admin/surveys/{survey_id}/replay", data={"csrf_token": token}).status_code == 303
    with services().db.session() as session:
        assert session.get(Survey, survey_id).status == "scheduled"
    assert signed_in.post(f"/admin/surveys/{survey_id}/replay", data={"csrf_token": token}).status_code == 404
