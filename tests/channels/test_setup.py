"""Setting channels up: the CLI (secrets encrypted, never printed), the channel order, quiet hours, the SMS link."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from plugin.channels import delivery
from plugin.channels.phones import e164 as normalise_phone
from plugin.models import Survey
from plugin.services import services
from tests.conftest import Helpdesk
from tests.support.cli import add_channel, cli


@pytest.fixture
def key(app, client, http_recorder):
    return Helpdesk(app, client, http_recorder.url).account.key


def test_add_list_remove_and_secrets_only_encrypted(app, key):
    out = add_channel(app, key, "twilio", account_sid="AC9", auth_token="tok-SECRET-123", from_="+1 501 712 2661")
    assert out["from"] == "+15017122661" and out["secrets_set"] == ["auth_token"]
    assert out["inbound_url"] == f"http://opencsat.test/inbound/twilio/{key}"
    listed = cli(app, "channels", "list", "--account", key)
    assert "tok-SECRET-123" not in listed and json.loads(listed)["providers"][0]["provider"] == "twilio"
    with services().db.engine.connect() as connection:
        raw = connection.execute(text("SELECT secrets_encrypted FROM channel_configs")).scalar()
    assert "tok-SECRET-123" not in raw
    assert cli(app, "channels", "remove", "--account", key, "--provider", "twilio").strip() == "twilio removed"
    assert json.loads(cli(app, "channels", "list", "--account", key))["providers"] == []


@pytest.mark.parametrize(
    "args",
    [
        ["--provider", "twilio", "--account-sid", "AC9"],  # no token, no sender
        ["--provider", "whatsapp", "--phone-number-id", "1", "--access-token", "a"],
        ["--provider", "twilio", "--account-sid", "AC9", "--auth-token", "t", "--from", "+1 hello"],
        ["--provider", "vonage", "--api-key", "k", "--api-secret", "s", "--from", "+44", "--template", "x"],
        ["--provider", "chatwoot"],  # a generic account has no conversations to post into
    ],
)
def test_add_refuses_what_cannot_work(app, key, args):
    result = app.test_cli_runner().invoke(args=["channels", "add", "--account", key, *args])
    assert result.exit_code == 2 and "Error" in result.output
    assert json.loads(cli(app, "channels", "list", "--account", key))["providers"] == []


def test_channel_order(app, key):
    out = json.loads(cli(app, "accounts", "update", "--account", key, "--channels", "WhatsApp, sms,email"))
    assert out["options"]["channels"] == "whatsapp,sms,email"
    for bad in ("fax,email", "sms,sms", ""):
        result = app.test_cli_runner().invoke(args=["accounts", "update", "--account", key, "--channels", bad])
        assert result.exit_code == 2


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("+48 500 100 200", "+48500100200"),
        ("0048-500-100-200", "+48500100200"),
        ("(+1) 415.555.0100", "+14155550100"),
        ("500 100 200", None),
        ("+0123456789", None),
        ("+1234", None),
        ("", None),
        (None, None),
        (48500100200, None),
    ],
)
def test_phone_numbers_in_international_form_only(value, expected):
    assert normalise_phone(value) == expected


@pytest.mark.parametrize(
    ("hours", "local", "until"),
    [
        ("21:00-08:00", "2026-12-01T22:30", "2026-12-02T08:00"),
        ("21:00-08:00", "2026-12-01T07:59", "2026-12-01T08:00"),
        ("21:00-08:00", "2026-12-01T12:00", None),
        ("12:00-13:00", "2026-12-01T12:30", "2026-12-01T13:00"),
        ("", "2026-12-01T23:00", None),
        ("junk", "2026-12-01T23:00", None),
    ],
)
def test_quiet_hours_in_the_accounts_time_zone(hours, local, until):
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Europe/Warsaw")
    now = datetime.fromisoformat(local).replace(tzinfo=zone).astimezone(UTC)
    found = delivery.quiet_until({"quiet_hours": hours, "timezone": "Europe/Warsaw"}, now)
    assert (found.astimezone(zone).replace(tzinfo=None).isoformat(timespec="minutes") if found else None) == until


def test_the_sms_fallback_link_shows_the_scale_as_rating_links(app, client, key):
    from plugin.accounts import by_key

    s = services()
    with s.db.session() as session:
        account = by_key(session, key)
        survey = Survey(
            account_id=account.id,
            ticket_id="T-1",
            requester_email="",
            locale="de",
            scale="csat5",
            status="sent",
            scheduled_at=s.clock(),
            channel="sms",
            requester_phone="+491701234567",
        )
        session.add(survey)
        session.flush()
        survey_id = survey.id
    link = delivery.short_link(s.settings.secret_key, s.settings.public_url, survey_id)
    page = client.get(link.removeprefix(s.settings.public_url))
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and html.count("/r/") == 5 and "Sehr zufrieden" in html
    assert client.get("/c/MQ.forged").status_code == 404
    assert client.get(link.removeprefix(s.settings.public_url) + "x").status_code == 404


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("channels", "fax,email"),
        ("channels", "sms,sms"),
        ("quiet_hours", "9pm-8am"),
        ("quiet_hours", "25:00-08:00"),
        ("timezone", "Mars/Olympus"),
    ],
)
def test_the_settings_page_refuses_channel_values_the_code_could_not_use(field, value):
    from plugin.admin import account_settings

    form = {
        "scale": "csat5",
        "locale": "en",
        "delay_minutes": "0",
        "throttle_days": "7",
        "settle_minutes": "10",
        "edit_days": "7",
        field: value,
    }
    _, errors = account_settings.validate(form)
    assert set(errors) == {field}
