"""Keys (finding 9): a key per purpose, rotation that keeps old links and secrets readable, short keys refused."""

from __future__ import annotations

import pytest
from itsdangerous import URLSafeTimedSerializer

from plugin import create_app
from plugin.admin.users import create_admin
from plugin.models import Account
from plugin.services import services
from plugin.settings import SettingsError
from tests.admin.conftest import PASSWORD, sign_in
from tests.conftest import PUBLIC_URL, Helpdesk, outbox, rating_links

OLD = "old-root-key-0123456789abcdef-0123456789"
NEW = "new-root-key-9876543210fedcba-9876543210"


@pytest.mark.parametrize("key", ["short", "x" * 31])
def test_a_short_secret_key_is_refused_at_start_with_how_to_make_one(app_config, key):
    with pytest.raises(SettingsError, match=r"at least 32 characters.*secrets\.token_urlsafe"):
        create_app({**app_config, "SECRET_KEY": key})


def test_the_embedded_default_key_is_long_enough(app_config, tmp_path):
    app = create_app({**app_config, "SECRET_KEY": None, "INSTANCE_PATH": tmp_path / "fresh"})
    assert len((tmp_path / "fresh" / "secret_key").read_text().strip()) >= 32
    app.extensions["opencsat"].db.engine.dispose()


def test_the_session_cookie_is_not_signed_with_the_root_key(app, client):
    """A cookie forged with SECRET_KEY itself (what every purpose shared before) opens nothing."""
    with services().db.session() as session:
        desk = Helpdesk(app, client, None)
        admin = create_admin(session, session.get(Account, desk.account.id), "lead@acme.test", PASSWORD).admin
        admin_id = admin.id
    forged = URLSafeTimedSerializer(
        app_config_key(app), salt="cookie-session", signer_kwargs={"key_derivation": "hmac", "digest_method": _sha1()}
    ).dumps({"admin_id": admin_id, "version": 0, "signed_in_at": 2**31, "_permanent": True})
    client.set_cookie("session", forged)
    assert client.get("/admin/").status_code == 302


def app_config_key(app) -> str:
    return app.extensions["opencsat"].settings.secret_key


def _sha1():
    import hashlib

    return hashlib.sha1


def _app(app_config, key: str, fallbacks: str | None = None):
    return create_app({**app_config, "SECRET_KEY": key, "SECRET_KEY_FALLBACKS": fallbacks})


def test_rotation_keeps_links_secrets_and_sessions_then_the_cli_reencrypts(app_config, runner):
    old = _app(app_config, OLD)
    with old.app_context():
        client = old.test_client()
        desk = Helpdesk(old, client, None)
        desk.post(desk.event())
        desk.run_jobs()
        link = rating_links(outbox(old)[-1])[3][len(PUBLIC_URL) :]
        with services().db.session() as session:
            create_admin(session, session.get(Account, desk.account.id), "lead@acme.test", PASSWORD)
        assert sign_in(client, "lead@acme.test").status_code == 303
        cookie = client.get_cookie("session").value
        old.extensions["opencsat"].db.engine.dispose()

    rotated = _app(app_config, NEW, OLD)
    with rotated.app_context():
        client = rotated.test_client()
        assert client.get(link).status_code == 200  # a link already in a mailbox still works
        client.set_cookie("session", cookie)
        assert client.get("/admin/").status_code == 200  # so does a session signed with the old key
        desk.client = client
        assert desk.post(desk.event(ticket_id="T-2")).status_code == 202  # the webhook secret still decrypts
        result = rotated.test_cli_runner().invoke(args=["keys", "rotate"])
        assert result.exit_code == 0 and '"accounts": 1' in result.output
        rotated.extensions["opencsat"].db.engine.dispose()

    retired = _app(app_config, NEW)
    with retired.app_context():
        client = retired.test_client()
        desk.client = client
        assert desk.post(desk.event(ticket_id="T-3")).status_code == 202  # re-encrypted: readable without OLD
        assert client.get(link).status_code == 404  # the retired key signs nothing any more
        client.set_cookie("session", cookie)
        assert client.get("/admin/").status_code == 302
        retired.extensions["opencsat"].db.engine.dispose()
