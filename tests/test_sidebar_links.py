"""Sidebar links for helpdesks without a signed app request: one per agent, short-lived, revocable, rate-limited."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from itsdangerous import URLSafeSerializer

from plugin.db import utcnow
from tests.conftest import PUBLIC_URL, SECRET_KEY
from tests.test_sidebar import accounts_with_ratings  # noqa: F401 (the same hand-computed fixture)

KEY = "key-generic"


def _issue(runner, agent: str, *extra: str) -> dict:
    result = runner.invoke(args=["sidebar", "issue", "--account", KEY, "--agent", agent, *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _open(client, link: dict, ticket: str = "T2"):
    return client.get(link["url"].removeprefix(PUBLIC_URL) + f"&ticket={ticket}")


def _cells(html: str, name: str) -> list[str]:
    return re.findall(rf'<td class="{name}">([^<]+)</td>', html)


def test_an_agents_link_shows_the_ticket_and_their_own_figures_only(runner, client, accounts_with_ratings):  # noqa: F811
    sam = _issue(runner, "sam@acme.test")
    page = _open(client, sam)  # T2 is Alex's ticket
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "slow" in html
    assert _cells(html, "csat") == ["0%", "0%", "0%"]  # Sam's own: S1, one rating of 1
    assert _cells(html, "team-csat") == [] and "75%" not in html
    # Asking for a colleague by name changes nothing.
    assert _cells(_open(client, sam, "T2&agent=alex@acme.test").get_data(as_text=True), "csat") == ["0%"] * 3


def test_a_team_leads_link_shows_the_tickets_agent_and_team(runner, client, accounts_with_ratings):  # noqa: F811
    html = _open(client, _issue(runner, "lead@acme.test", "--lead")).get_data(as_text=True)
    assert _cells(html, "csat") == ["50%", "67%", "75%"] and _cells(html, "team-csat") == ["33%", "50%", "60%"]


def test_links_expire_are_revoked_and_a_new_one_replaces_the_old(runner, client, clock, accounts_with_ratings):  # noqa: F811
    first = _issue(runner, "sam@acme.test", "--days", "2")
    assert _open(client, first).status_code == 200
    second = _issue(runner, "sam@acme.test")
    assert _open(client, first).status_code == 401 and _open(client, second).status_code == 200
    listed = json.loads(runner.invoke(args=["sidebar", "links", "--account", KEY]).output)
    assert [(row["agent_email"], row["revoked"]) for row in listed] == [
        ("sam@acme.test", False),
        ("sam@acme.test", True),
    ]
    assert runner.invoke(args=["sidebar", "revoke", "--account", KEY, "--agent", "sam@acme.test"]).exit_code == 0
    assert _open(client, second).status_code == 401
    third = _issue(runner, "sam@acme.test", "--days", "1")
    clock.advance(days=1, minutes=1)
    assert _open(client, third).status_code == 401


def test_long_or_account_wide_links_are_refused(runner, client, accounts_with_ratings):  # noqa: F811
    assert (
        runner.invoke(
            args=["sidebar", "issue", "--account", KEY, "--agent", "sam@acme.test", "--days", "365"]
        ).exit_code
        != 0
    )
    # The old account-wide token (any ticket, any agent=, a year long) opens nothing any more.
    old = URLSafeSerializer(SECRET_KEY, salt="sidebar-account").dumps(
        [KEY, int((utcnow() + timedelta(days=365)).timestamp())]
    )
    assert client.get(f"/sidebar/generic?token={old}&ticket=T2&agent=alex@acme.test").status_code == 401


def test_the_api_issues_lists_and_revokes(client, app, accounts_with_ratings):  # noqa: F811
    from plugin.accounts import create_account
    from plugin.services import services

    s = services()
    with s.db.session() as session:
        created = create_account(session, s.box, platform="freshdesk", name="Acme FD")
    auth = {"Authorization": f"Bearer {created.api_key}"}
    issued = client.post("/api/v1/sidebar-links", json={"agent_email": "kim@acme.test", "days": 7}, headers=auth)
    assert issued.status_code == 201, issued.get_json()
    link = issued.get_json()
    assert link["url"].startswith(f"{PUBLIC_URL}/sidebar/freshdesk?token=")
    assert client.get(link["url"].removeprefix(PUBLIC_URL) + "&ticket=9").status_code == 200
    bad = client.post("/api/v1/sidebar-links", json={"agent_email": "kim", "days": 99}, headers=auth)
    assert bad.status_code == 400
    listed = client.get("/api/v1/sidebar-links", headers=auth).get_json()["links"]
    assert [row["id"] for row in listed] == [link["id"]] and "token" not in listed[0]
    assert client.delete(f"/api/v1/sidebar-links/{link['id']}", headers=auth).status_code == 200
    assert client.get(link["url"].removeprefix(PUBLIC_URL) + "&ticket=9").status_code == 401


@pytest.fixture
def app_config(app_config):
    app_config["RATING_RATE_LIMIT"] = "5 per minute"
    return app_config


def test_sidebar_requests_are_rate_limited_per_client(runner, client, accounts_with_ratings):  # noqa: F811
    link = _issue(runner, "sam@acme.test")
    codes = [_open(client, link).status_code for _ in range(7)]
    assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]


def test_the_admin_page_issues_shows_once_and_revokes(client, app, accounts_with_ratings):  # noqa: F811
    from plugin.admin.users import create_admin
    from plugin.models import Account
    from plugin.services import services
    from tests.admin.conftest import PASSWORD, csrf_of, sign_in

    with services().db.session() as session:
        account = session.query(Account).filter_by(key=KEY).one()
        create_admin(session, account, "boss@acme.test", PASSWORD)
    sign_in(client, "boss@acme.test")
    page = client.get("/admin/sidebar").get_data(as_text=True)
    issued = client.post(
        "/admin/sidebar/links",
        data={"csrf_token": csrf_of(page), "agent_email": "kim@acme.test", "days": "3"},
        follow_redirects=True,
    ).get_data(as_text=True)
    url = re.search(r"(http://opencsat\.test/sidebar/generic\?token=sl_[\w-]+)", issued).group(1)
    assert client.get(url.removeprefix(PUBLIC_URL) + "&ticket=T1").status_code == 200
    again = client.get("/admin/sidebar").get_data(as_text=True)
    assert "kim@acme.test" in again and "token=sl_" not in again  # shown once only
    link_id = re.search(r"/admin/sidebar/links/(\d+)/revoke", again).group(1)
    assert client.post(f"/admin/sidebar/links/{link_id}/revoke", data={"csrf_token": csrf_of(again)}).status_code == 303
    assert client.get(url.removeprefix(PUBLIC_URL) + "&ticket=T1").status_code == 401
    refused = client.post(f"/admin/sidebar/links/{link_id}/revoke", data={})
    assert refused.status_code in (400, 403)  # no CSRF token, nothing changes


def test_help_scouts_servers_are_not_throttled_as_one_client(client, accounts_with_ratings):  # noqa: F811
    from plugin.sidebar.auth import helpscout_signature, shared_secret
    from tests.test_sidebar import _helpscout_body

    body = _helpscout_body()
    signature = helpscout_signature(shared_secret(SECRET_KEY, "key-helpscout"), body)
    codes = [
        client.post(
            "/sidebar/helpscout?account=key-helpscout",
            data=body,
            content_type="application/json",
            headers={"X-HelpScout-Signature": signature},
        ).status_code
        for _ in range(7)
    ]
    assert codes == [200] * 7


def test_pages_may_be_framed_by_their_helpdesk_only(runner, client, accounts_with_ratings):  # noqa: F811
    from plugin.models import Account
    from plugin.services import services

    with services().db.session() as session:
        session.query(Account).filter_by(key="key-chatwoot").one().api_url = "https://chat.acme.test/api"
    link = json.loads(
        runner.invoke(args=["sidebar", "issue", "--account", "key-chatwoot", "--agent", "dash@acme.test"]).output
    )
    page = client.get(link["url"].removeprefix(PUBLIC_URL))

    def ancestors(response) -> str:
        return response.headers["Content-Security-Policy"].split("frame-ancestors ", 1)[1].split(";")[0]

    assert ancestors(page) == "https://app.chatwoot.com https://chat.acme.test"
    assert "script-src 'self' 'nonce-" in page.headers["Content-Security-Policy"]  # the whole policy, not framing only
    refused = client.get("/sidebar/generic?token=sl_nope&ticket=1")
    assert refused.status_code == 401 and "frame-ancestors" in refused.headers["Content-Security-Policy"]
    assert ancestors(client.get("/sidebar/zendesk")) == "https://*.zendesk.com"
    assert ancestors(client.get("/api/v1/sidebar-links")) == "'none'"
