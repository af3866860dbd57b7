"""Admin sessions end when they should (finding 8) and sign-in guessing is limited for every worker (finding 12)."""

from __future__ import annotations

import pytest

from plugin import create_app
from plugin.admin.auth import ABSOLUTE_LIFETIME
from plugin.admin.login_limit import PER_ADDRESS_AND_EMAIL, PER_EMAIL
from plugin.admin.users import create_admin
from plugin.models import Account
from plugin.services import services
from tests.admin.conftest import PASSWORD, csrf_of, new_account, sign_in


def _captured(app, client):
    """A second browser holding a copy of `client`'s session cookie, as a thief would."""
    thief = app.test_client()
    cookie = client.get_cookie("session")
    thief.set_cookie("session", cookie.value)
    return thief


def test_a_captured_cookie_stops_working_when_the_admin_signs_out(app, signed_in):
    thief = _captured(app, signed_in)
    assert thief.get("/admin/").status_code == 200
    token = csrf_of(signed_in.get("/admin/").get_data(as_text=True))
    assert signed_in.post("/admin/logout", data={"csrf_token": token}).status_code == 303
    assert thief.get("/admin/").status_code == 302


def test_a_new_password_ends_every_session(app, signed_in, admin, runner):
    thief = _captured(app, signed_in)
    result = runner.invoke(args=["admins", "set-password", "--email", admin, "--password", "another long password"])
    assert result.exit_code == 0, result.output
    assert signed_in.get("/admin/").status_code == 302 and thief.get("/admin/").status_code == 302
    assert sign_in(signed_in, admin).status_code == 401  # the old password is gone
    assert sign_in(signed_in, admin, "another long password").status_code == 303


def test_a_busy_session_still_ends_at_the_absolute_timeout(signed_in, clock):
    hours = int(ABSOLUTE_LIFETIME.total_seconds() // 3600)
    for _ in range(hours - 1):  # active every hour: the idle timeout never strikes
        clock.advance(hours=1)
        assert signed_in.get("/admin/").status_code == 200
    clock.advance(hours=1, seconds=1)
    assert signed_in.get("/admin/").status_code == 302


def test_one_admin_cannot_be_guessed_from_many_addresses(client, admin):
    codes = [sign_in_from(client, f"198.51.100.{n}", admin, f"guess {n}") for n in range(PER_EMAIL.amount + 1)]
    assert codes == [401] * PER_EMAIL.amount + [429]
    assert sign_in_from(client, "203.0.113.9", "someone.else@acme.test", "guess") == 401  # others are not locked out


def sign_in_from(client, address: str, email: str, password: str) -> int:
    token = csrf_of(client.get("/admin/login").get_data(as_text=True))
    return client.post(
        "/admin/login",
        data={"csrf_token": token, "email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    ).status_code


@pytest.fixture
def two_workers(app_config, redis_url):
    """Two apps on one Redis, as two gunicorn workers are."""
    app_config["REDIS_URL"] = redis_url
    apps = [create_app(app_config), create_app(app_config)]
    with apps[0].app_context(), services().db.session() as session:
        create_admin(session, new_account(session, "Acme").account, "lead@acme.test", PASSWORD)
    yield apps
    for app in apps:
        app.extensions["opencsat"].db.engine.dispose()


def test_failed_sign_ins_count_across_workers(two_workers):
    allowed = PER_ADDRESS_AND_EMAIL.amount
    codes = []
    for n in range(allowed + 1):
        app = two_workers[n % 2]
        with app.app_context():
            codes.append(sign_in_from(app.test_client(), "192.0.2.7", "lead@acme.test", f"guess {n}"))
    assert codes == [401] * allowed + [429]
    with two_workers[0].app_context():
        assert services().db.session is not None
        with services().db.session() as session:
            assert session.query(Account).count() == 1
