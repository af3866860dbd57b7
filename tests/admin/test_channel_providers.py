"""/admin/settings: the account's messaging providers listed, added, edited and removed as `channels add` does it.

Over HTTP with the test client (CSRF as the page sends it); the stored row is read back from the database and
through the CLI's `channels list`, so the page and the CLI are shown to be one definition.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import text

from plugin.services import services
from tests.admin.conftest import PASSWORD, csrf_of
from tests.support.browser import requires_chromium
from tests.support.servers import serving

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
TWILIO = {
    "from": "+1 501 712 2661",
    "account_sid": "AC0123456789abcdef0123456789abcdef",
    "auth_token": "tok-SECRET-123",
}


@pytest.fixture
def page(signed_in):
    return signed_in


def _post(client, path: str, form: dict):
    token = csrf_of(client.get("/admin/settings").get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **form})


def _listed(app, key: str) -> dict:
    result = app.test_cli_runner().invoke(args=["channels", "list", "--account", key])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _raw_secrets() -> list[str]:
    with services().db.engine.connect() as connection:
        return list(connection.execute(text("SELECT secrets_encrypted FROM channel_configs")).scalars())


def test_add_twilio_then_listed_on_the_page_and_by_the_cli(app, page, reported):
    answer = _post(page, "/admin/settings/channels/twilio", TWILIO)
    assert answer.status_code == 303 and answer.location.endswith("/admin/settings#providers")
    html = page.get("/admin/settings").get_data(as_text=True)
    assert 'data-provider="twilio"' in html and "+15017122661" in html
    assert f"/inbound/twilio/{reported.account.key}" in html
    assert "Not used: add sms to the channel order" in html  # the order is still email only
    assert "tok-SECRET-123" not in html
    [listed] = _listed(app, reported.account.key)["providers"]
    assert (listed["provider"], listed["from"], listed["secrets_set"]) == ("twilio", "+15017122661", ["auth_token"])
    assert listed["account_sid"] == TWILIO["account_sid"]
    assert all("tok-SECRET-123" not in raw for raw in _raw_secrets())  # encrypted at rest


def test_edit_keeps_a_secret_left_empty_and_never_shows_it(app, page, reported):
    _post(page, "/admin/settings/channels/twilio", TWILIO)
    form = page.get("/admin/settings/channels/twilio").get_data(as_text=True)
    assert "tok-SECRET-123" not in form and "leave empty to keep it" in form and "+15017122661" in form
    answer = _post(page, "/admin/settings/channels/twilio", {**TWILIO, "from": "+14155550100", "auth_token": ""})
    assert answer.status_code == 303
    s = services()
    with s.db.session() as session:
        from plugin.accounts import by_key
        from plugin.channels import configs

        account = by_key(session, reported.account.key)
        loaded = configs.load(session, s.box, account, "twilio", s.settings.public_url)
    assert loaded.sender == "+14155550100" and loaded.secrets["auth_token"] == "tok-SECRET-123"


@pytest.mark.parametrize(
    ("provider", "form", "message"),
    [
        ("twilio", {"from": "+15017122661", "account_sid": "AC1"}, "twilio needs --auth-token"),
        ("twilio", {"account_sid": "AC1", "auth_token": "t"}, "twilio needs --from (or messaging-service-sid)"),
        ("twilio", {**TWILIO, "from": "+1 hello"}, "--from must be a number in E.164"),
        ("twilio", {**TWILIO, "api_url": "ftp://x"}, "--api-url must be an http(s) URL"),
        ("twilio", {**TWILIO, "api_url": "http://169.254.169.254/"}, "--api-url cannot be used"),
        ("whatsapp", {"phone_number_id": "1", "access_token": "a"}, "whatsapp needs --app-secret"),
        ("vonage", {"api_key": "k", "api_secret": "s", "from": "+44"}, "--from must be a number"),
        ("twilio", {**TWILIO, "from": "A" * 101}, "--from: too long (at most 100 characters)"),
        ("twilio", {**TWILIO, "auth_token": "x" * 2001}, "--auth-token: too long"),
        ("twilio", {**TWILIO, "account_sid": "AC1\x07"}, "--account-sid: use one line of text"),
        (
            "whatsapp",
            {
                "phone_number_id": "1",
                "access_token": "a",
                "app_secret": "s",
                "verify_token": "v",
                "template": "csat\nsurvey",
            },
            "--template: use one line of text",
        ),
    ],
)
def test_what_cannot_work_is_a_400_naming_it_and_nothing_is_stored(app, page, reported, provider, form, message):
    answer = _post(page, f"/admin/settings/channels/{provider}", form)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 400 and "Nothing was saved" in html and message in html
    assert _listed(app, reported.account.key)["providers"] == []
    assert 'value="a"' not in html  # a secret typed is not echoed back either


def test_a_failed_edit_leaves_the_stored_provider_as_it_was(app, page, reported):
    _post(page, "/admin/settings/channels/twilio", TWILIO)
    answer = _post(page, "/admin/settings/channels/twilio", {**TWILIO, "from": "+1 hello"})
    assert answer.status_code == 400
    [listed] = _listed(app, reported.account.key)["providers"]
    assert listed["from"] == "+15017122661"


def test_remove_and_unknown_providers(app, page, reported):
    _post(page, "/admin/settings/channels/twilio", TWILIO)
    assert _post(page, "/admin/settings/channels/twilio/remove", {}).status_code == 303
    assert _listed(app, reported.account.key)["providers"] == []
    assert _post(page, "/admin/settings/channels/twilio/remove", {}).status_code == 404
    assert page.get("/admin/settings/channels/fax").status_code == 404
    assert page.get("/admin/settings/channels/chatwoot").status_code == 404  # a generic account: no conversations
    assert _post(page, "/admin/settings/channels/fax/remove", {}).status_code == 404


def test_without_the_csrf_token_nothing_is_stored(app, page, reported):
    answer = page.post("/admin/settings/channels/twilio", data=TWILIO)
    assert answer.status_code in (400, 403)
    assert _listed(app, reported.account.key)["providers"] == []


def test_status_follows_the_channel_order(app, page, reported):
    _post(page, "/admin/settings/channels/twilio", TWILIO)
    _post(page, "/admin/settings/channels/vonage", {"api_key": "k", "api_secret": "s", "from": "+447700900123"})
    app.test_cli_runner().invoke(args=["accounts", "update", "--account", reported.account.key, "--channels", "sms"])
    html = page.get("/admin/settings").get_data(as_text=True)
    assert "In use for sms (position 1 of the channel order)." in html
    assert "Standby: twilio carries sms for this account." in html


@requires_chromium
def test_admin_adds_twilio_in_a_real_browser_and_the_cli_lists_it(app, browser, reported, admin):
    """Headless Chromium: sign in, Settings, add Twilio, see it listed; then `channels list` shows the same row."""
    with serving(app) as url, browser.new_context(viewport={"width": 1280, "height": 900}) as context:
        page = context.new_page()
        page.goto(f"{url}/admin/settings")
        page.fill("#email", admin)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/admin/settings")
        assert "No provider yet" in page.locator("#providers").inner_text()
        page.click("#providers >> text=Twilio SMS")
        page.wait_for_url("**/admin/settings/channels/twilio")
        assert (
            page.locator("[data-inbound-url]").inner_text()
            == f"http://opencsat.test/inbound/twilio/{reported.account.key}"
        )
        page.fill("#from", TWILIO["from"])
        page.fill("#account_sid", TWILIO["account_sid"])
        page.fill("#auth_token", TWILIO["auth_token"])
        assert page.get_attribute("#auth_token", "type") == "password"
        page.click("text=Add Twilio SMS")
        page.wait_for_url("**/admin/settings#providers")
        row = page.locator('table[data-table=providers] tr[data-provider="twilio"]').inner_text()
        assert "Twilio SMS" in row and "+15017122661" in row and f"/inbound/twilio/{reported.account.key}" in row
        assert "tok-SECRET-123" not in page.content()
        page.locator("#providers").screenshot(path=str(DOCS_IMG / "admin-channel-providers.png"))
    [listed] = _listed(app, reported.account.key)["providers"]
    assert (listed["provider"], listed["from"], listed["secrets_set"]) == ("twilio", "+15017122661", ["auth_token"])


@pytest.mark.skipif(
    os.environ.get("OPENCSAT_TEST_DATABASE", "sqlite") != "postgresql", reason="two writers at once need PostgreSQL"
)
def test_two_admins_adding_at_once_one_wins_and_the_other_gets_a_409(app, page, reported):
    """The other admin's add commits between our delete and our insert: the unique (account, provider) decides."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from plugin.models import ChannelConfig

    token = csrf_of(page.get("/admin/settings").get_data(as_text=True))
    raced = []

    def other_admin_first(session, flush_context, instances) -> None:
        mine = [row for row in session.new if isinstance(row, ChannelConfig)]
        if mine and not raced:
            raced.append(True)
            with services().db.session() as other:
                other.add(ChannelConfig(account_id=mine[0].account_id, provider="twilio", sender="+14155550100"))

    event.listen(Session, "before_flush", other_admin_first)
    try:
        answer = page.post("/admin/settings/channels/twilio", data={"csrf_token": token, **TWILIO})
    finally:
        event.remove(Session, "before_flush", other_admin_first)
    assert raced and answer.status_code == 409
    assert "just saved by someone else" in answer.get_data(as_text=True)
    [listed] = _listed(app, reported.account.key)["providers"]
    assert listed["from"] == "+14155550100"  # the other admin's, untouched


@pytest.mark.parametrize(
    ("provider", "form", "sender", "secrets"),
    [
        (
            "whatsapp",
            {
                "phone_number_id": "106540352242922",
                "access_token": "EAAG-Z9q7tok",
                "app_secret": "appsec-Z9q7",
                "verify_token": "verify-Z9q7",
                "template": "csat_survey",
                "template_language": "en_US",
            },
            "106540352242922",
            ["access_token", "app_secret", "verify_token"],
        ),
        (
            "vonage",
            {"api_key": "a1b2c3", "api_secret": "s3cr3t-Z9q7", "signature_secret": "sig-Z9q7", "from": "AcmeHelp"},
            "AcmeHelp",
            ["api_secret", "signature_secret"],
        ),
    ],
)
def test_whatsapp_and_vonage_take_the_cli_fields(app, page, reported, provider, form, sender, secrets):
    assert _post(page, f"/admin/settings/channels/{provider}", form).status_code == 303
    [listed] = _listed(app, reported.account.key)["providers"]
    assert (listed["provider"], listed["from"], listed["secrets_set"]) == (provider, sender, secrets)
    html = page.get(f"/admin/settings/channels/{provider}").get_data(as_text=True)
    assert all(form[name] not in html for name in secrets)  # never shown back
