"""Roles: admin (everything), team lead (their teams), agent (their own ratings); every /admin route checks the role.

The route test is parametrised over the app's url_map, so a route added later is checked too: a route nobody listed
below is for admins only, and the test expects exactly that.
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from plugin import create_app
from plugin.admin.users import HASH_METHOD, create_admin
from plugin.models import Account, AdminUser, Rating, Survey
from plugin.services import services
from tests.admin.conftest import PASSWORD, csrf_of, sign_in

ROLES = ("admin", "team_lead", "agent")
PUBLIC = {"admin.login", "admin.logout", "admin.accept_invite"}
# Routes open to more than admins; every other /admin route must answer 403 to a team lead and an agent.
SHARED = {
    "admin.dashboard_page": {"team_lead", "agent"},
    "admin.ratings_csv": {"team_lead", "agent"},
    "admin.preferences_page": {"team_lead", "agent"},
    "admin.count_flagged": {"team_lead"},
    "admin.set_follow_up": {"team_lead"},
}
PEOPLE = {
    "admin": ("lead@acme.test", {}),
    "team_lead": ("tl@acme.test", {"teams": ("Billing",)}),
    "agent": ("kim@acme.test", {}),
}
JAN = "since=2026-01-01&until=2026-02-01"


def _admin_routes() -> list[tuple[str, str, str]]:
    app = create_app({"DATABASE_URL": "sqlite://", "SECRET_KEY": "x" * 32, "START_JOBS_THREAD": False})
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/admin") and rule.endpoint not in PUBLIC:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                path = rule.rule
                for argument in rule.arguments:
                    path = re.sub(rf"<(?:[a-z]+:)?{argument}>", "1", path)
                routes.append((rule.endpoint, method, path))
    return routes


ROUTES = _admin_routes()


@pytest.fixture(scope="module")
def password_hash() -> str:
    """PASSWORD's scrypt hash, made once: each hash costs a third of a second on purpose."""
    return generate_password_hash(PASSWORD, method=HASH_METHOD)


@pytest.fixture
def people(app, reported, password_hash):
    """Acme's admin (lead@), a team lead of Billing (tl@) and the agent kim@ (team Tech), all with PASSWORD."""
    with services().db.session() as session:
        account = session.get(Account, reported.account.id)
        for role, (email, extra) in PEOPLE.items():
            created = create_admin(session, account, email, role=role, invited=True, **extra)
            created.admin.password_hash = password_hash
    return PEOPLE


def signed_in_as(app, role: str, *, through_the_form: bool = False):
    """A client signed in as the role's person: through the login form, or (cheaper) with the session it makes."""
    client = app.test_client()
    if through_the_form:
        assert sign_in(client, PEOPLE[role][0]).status_code == 303
        return client
    with services().db.session() as session:
        person = session.scalar(select(AdminUser).where(AdminUser.email == PEOPLE[role][0]))
        person_id, version = person.id, person.session_version
    with client.session_transaction() as cookie:
        cookie["admin_id"], cookie["csrf_token"] = person_id, f"token-{role}"
        cookie["version"], cookie["signed_in_at"] = version, int(services().clock().timestamp())
    return client


def test_every_admin_route_is_listed_by_the_route_walk():
    endpoints = {endpoint for endpoint, _, _ in ROUTES}
    assert {"admin.dashboard_page", "admin.settings_page", "admin.people_page"} <= endpoints
    assert set(SHARED) <= endpoints


@pytest.mark.parametrize(("endpoint", "method", "path"), ROUTES, ids=[f"{m} {p}" for _, m, p in ROUTES])
def test_every_admin_route_checks_the_role(app, people, endpoint, method, path):
    for role in ROLES:
        client = signed_in_as(app, role)
        form = {"csrf_token": f"token-{role}"} if method == "POST" else None
        response = client.open(path, method=method, data=form)
        allowed = role == "admin" or role in SHARED.get(endpoint, ())
        if allowed:
            assert response.status_code != 403, (endpoint, role)
            assert "/admin/login" not in response.headers.get("Location", "")
            assert response.status_code < 500
        else:
            assert response.status_code == 403, (endpoint, role, response.status_code)


def test_nobody_signed_in_is_sent_to_the_login_page(client, people):
    for endpoint, method, path in ROUTES:
        response = client.open(path, method=method)
        assert response.status_code in (302, 400), (endpoint, response.status_code)  # 400: a POST without a form token


def _agents_on(html: str) -> set[str]:
    return set(re.findall(r'data-agent="([^"]+)"', html))


def test_a_team_lead_sees_only_their_teams(app, people):
    client = signed_in_as(app, "team_lead", through_the_form=True)
    html = client.get(f"/admin/?{JAN}").get_data(as_text=True)
    assert _agents_on(html) == {"alex@acme.test", "sam@acme.test"}
    assert "Took three days to answer" in html and "<script>" not in html and "Tech" not in html
    widened = client.get(f"/admin/?{JAN}&team=Tech").get_data(as_text=True)
    assert _agents_on(widened) == set()
    rows = list(csv.DictReader(io.StringIO(client.get(f"/admin/ratings.csv?{JAN}").get_data(as_text=True))))
    assert rows and {r["team"] for r in rows} == {"Billing"}


def test_an_agent_sees_only_their_own_ratings(app, people):
    client = signed_in_as(app, "agent")
    html = client.get(f"/admin/?{JAN}").get_data(as_text=True)
    assert _agents_on(html) == {"kim@acme.test"}
    assert "Took three days to answer" not in html and "Nobody read my question" not in html
    assert _agents_on(client.get(f"/admin/?{JAN}&agent=alex@acme.test").get_data(as_text=True)) == set()
    csv_text = client.get(f"/admin/ratings.csv?{JAN}&agent=alex@acme.test").get_data(as_text=True)
    assert list(csv.DictReader(io.StringIO(csv_text.lstrip("\ufeff")))) == []
    rows = list(csv.DictReader(io.StringIO(client.get(f"/admin/ratings.csv?{JAN}").get_data(as_text=True))))
    assert rows and {r["agent_email"] for r in rows} == {"kim@acme.test"}


def test_a_team_lead_cannot_review_a_flagged_click_outside_their_teams(app, people, reported):
    with services().db.session() as session:
        flagged = session.scalar(select(Rating).where(Rating.status == "flagged"))  # sam's, Billing
        tech = session.scalar(select(Survey).where(Survey.team == "Tech", Survey.ticket_id == "T-11"))
        tech_rating = session.scalar(select(Rating).where(Rating.survey_id == tech.id))
        tech_rating.status = "flagged"
        ids = (flagged.id, tech_rating.id)
    client = signed_in_as(app, "team_lead")
    token = csrf_of(client.get("/admin/").get_data(as_text=True))
    assert client.post(f"/admin/flagged/{ids[1]}/count", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/admin/flagged/{ids[0]}/count", data={"csrf_token": token}).status_code == 303


def test_an_admin_invites_a_team_lead_who_signs_in_with_the_same_login(app, people):
    signed_in = signed_in_as(app, "admin")
    token = csrf_of(signed_in.get("/admin/people").get_data(as_text=True))
    form = {"csrf_token": token, "email": "New.Lead@acme.test", "role": "team_lead", "teams": "Tech\nBilling"}
    html = signed_in.post("/admin/people", data=form).get_data(as_text=True)
    link = re.search(r'(/admin/invite/[A-Za-z0-9_.\-]+)"', html).group(1)
    with services().db.session() as session:
        person = session.scalar(select(AdminUser).where(AdminUser.email == "new.lead@acme.test"))
    assert (person.role, person.teams) == ("team_lead", "Tech\nBilling")
    assert sign_in(app.test_client(), "new.lead@acme.test", "").status_code == 401  # no password until accepted

    invited = app.test_client()
    page = invited.get(link)
    assert page.status_code == 200
    short = invited.post(link, data={"csrf_token": csrf_of(page.get_data(as_text=True)), "password": "short"})
    assert short.status_code == 400
    accepted = invited.post(link, data={"csrf_token": csrf_of(page.get_data(as_text=True)), "password": PASSWORD})
    assert accepted.status_code == 303
    assert "Took three days" in invited.get(f"/admin/?{JAN}").get_data(as_text=True)
    assert app.test_client().get(link).status_code == 404  # used once
    assert sign_in(app.test_client(), "new.lead@acme.test").status_code == 303
    assert sign_in(app.test_client(), "new.lead@acme.test", "wrong password!").status_code == 401


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"email": "nope", "role": "agent"}, "is not an email"),
        ({"email": "x@acme.test", "role": "owner"}, "role"),
        ({"email": "x@acme.test", "role": "team_lead", "teams": ""}, "team"),
        ({"email": "tl@acme.test", "role": "agent"}, "already exists"),
    ],
)
def test_a_bad_invitation_is_400_and_creates_nobody(app, people, form, message):
    signed_in = signed_in_as(app, "admin")
    with services().db.session() as session:
        before = session.scalar(select(AdminUser.id).order_by(AdminUser.id.desc()).limit(1))
    token = csrf_of(signed_in.get("/admin/people").get_data(as_text=True))
    response = signed_in.post("/admin/people", data={"csrf_token": token, **form})
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    with services().db.session() as session:
        assert session.scalar(select(AdminUser.id).order_by(AdminUser.id.desc()).limit(1)) == before


def test_a_forged_invite_link_is_404(client, people):
    assert client.get("/admin/invite/not-a-token").status_code == 404


def test_the_cli_creates_a_team_lead_with_teams(runner, reported, client):
    args = ["admins", "create", "--account", reported.account.key, "--email", "tl2@acme.test", "--role", "team_lead"]
    refused = runner.invoke(args=args)
    assert refused.exit_code != 0 and "team" in refused.output
    result = runner.invoke(args=[*args, "--team", "Billing", "--team", "Tech", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    listed = runner.invoke(args=["admins", "list", "--account", reported.account.key]).output
    assert '"role": "team_lead"' in listed and '"Billing"' in listed and '"Tech"' in listed
