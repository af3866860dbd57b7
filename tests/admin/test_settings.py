"""/admin/settings: branding, question, languages, delivery rules, counting, alerts; stored as the CLI does."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from plugin.admin import account_settings
from plugin.models import Account
from plugin.services import services
from plugin.surveys import bands
from tests.admin.conftest import csrf_of, new_account

COLUMNS = {
    "scale": "csat10",
    "locale": "de",
    "delay_minutes": "30",
    "throttle_days": "7",
    "settle_minutes": "10",
    "edit_days": "7",
}
OPTIONS = {
    "sender_name": "Acme Support",
    "sender_address": "support@acme.test",
    "reply_to": "help@acme.test",
    "company_name": "Acme Ltd",
    "logo_url": "https://cdn.acme.test/logo.png",
    "accent_color": "#c0ffee",
    "footer": "Acme Ltd, 1 Main Street\nRegistered in Nowhere",
    "question": "How did we do on your order?",
    "question_de": "Wie war unser Support?",
    "internal_domains": "acme.test, acme.io",
    "exclude_tags": "vip, no-survey",
    "sample_percent": "25",
    "negative_action": "task",
    "follow_up_group_id": "360001",
    "alert_threshold": "6",
    "alert_slack_url": "https://hooks.slack.test/services/T000/B000/XXXX",
    "alert_emails": "lead@acme.test, QA Team <qa@acme.test>",
    "channels": "sms,email",
    "quiet_hours": "21:00-08:00",
    "timezone": "Europe/Warsaw",
    "phone_region": "GB",
}
CHECKED = {"csat10_eight_is_satisfied": "true", "alert_on_comment": "true"}  # require_rendered_page left unchecked


def _readable(options: dict) -> dict:
    """Options with the encrypted Slack URL decrypted."""
    options = dict(options)
    sealed = options.pop("alert_slack_url_encrypted", None)
    if sealed:
        options["alert_slack_url"] = services().box.decrypt(sealed)
    return options


def _form(client, **changes) -> dict:
    token = csrf_of(client.get("/admin/settings").get_data(as_text=True))
    return {"csrf_token": token, **COLUMNS, **OPTIONS, **CHECKED, **changes}


def _account(name: str = "Acme") -> Account:
    with services().db.session() as session:
        return session.scalar(select(Account).where(Account.name == name))


def test_saving_sets_the_options_exactly_as_accounts_update_does(signed_in, runner):
    with services().db.session() as session:
        twin = new_account(session, "Twin").account.key
    response = signed_in.post("/admin/settings", data=_form(signed_in), follow_redirects=True)
    assert response.status_code == 200 and "Settings saved." in response.get_data(as_text=True)

    cli_options = {**OPTIONS, **CHECKED, "require_rendered_page": "false"}
    args = ["accounts", "update", "--account", twin, "--scale", "csat10", "--locale", "de", "--delay-minutes", "30"]
    for key, value in cli_options.items():
        args += ["--option", f"{key}={value}"]
    assert runner.invoke(args=args).exit_code == 0

    saved, by_cli = _account(), _account("Twin")
    assert _readable(saved.options) == _readable(by_cli.options) == cli_options
    assert "alert_slack_url" not in saved.options  # stored encrypted only
    assert (saved.scale, saved.locale, saved.delay_minutes) == ("csat10", "de", 30)


def test_the_page_shows_what_is_stored_and_clearing_a_field_removes_its_option(signed_in):
    with services().db.session() as session:
        account = session.scalar(select(Account).where(Account.name == "Acme"))
        account.options = {"custom_field_id": "123", "require_rendered_page": "false", "csat10_eight_is_satisfied": "1"}
    signed_in.post("/admin/settings", data=_form(signed_in))
    html = signed_in.get("/admin/settings").get_data(as_text=True)
    assert 'value="Acme Support"' in html and "Registered in Nowhere</textarea>" in html
    assert re.search(r'id="csat10_eight_is_satisfied"[^>]*checked', html)
    assert not re.search(r'id="require_rendered_page"[^>]*checked', html)
    assert "<details open>" in html  # a per-language question is set, so that part is shown

    form = _form(signed_in, sender_name="", question_de="", alert_emails="")
    del form["alert_on_comment"]
    form["require_rendered_page"] = "true"
    assert signed_in.post("/admin/settings", data=form).status_code == 303
    options = _account().options
    assert options["custom_field_id"] == "123"  # an option the page does not show is left alone
    for removed in ("sender_name", "question_de", "alert_emails", "alert_on_comment", "require_rendered_page"):
        assert removed not in options
    assert options["csat10_eight_is_satisfied"] == "true"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sender_address", "support at acme", "Use one email address"),
        ("reply_to", "a@b", "Use one email address"),
        ("logo_url", "javascript:alert(1)", "starting with https://"),
        ("logo_url", "http://cdn.acme.test/logo.png", "starting with https://"),
        ("accent_color", "blue", "#rgb or #rrggbb"),
        ("accent_color", "#0969da0", "#rgb or #rrggbb"),
        ("sender_name", "x" * 201, "at most 200 characters"),
        ("footer", "x" * 1001, "at most 1000 characters"),
        ("question", "x" * 301, "at most 300 characters"),
        ("question_zh_Hant", "x" * 301, "at most 300 characters"),
        ("locale", "klingon", "supported languages"),
        ("internal_domains", "acme.test, http://acme.io", "Not a domain: http://acme.io"),
        ("sample_percent", "150", "from 0 to 100"),
        ("sample_percent", "half", "from 0 to 100"),
        ("sample_percent", "nan", "from 0 to 100"),
        ("alert_threshold", "11", "from 0 to 10"),
        ("alert_threshold", "two", "from 0 to 10"),
        ("alert_slack_url", "hooks.slack.test/services/T000", "starting with https://"),
        ("alert_slack_url", "ftp://hooks.slack.test/x", "starting with https://"),
        ("alert_emails", "lead@acme.test, nobody", "Not an email address: nobody"),
        ("phone_region", "UK", "two-letter country code such as GB"),
    ],
)
def test_an_invalid_value_is_shown_next_to_its_field_and_nothing_is_saved(signed_in, field, value, message):
    before = _account()
    response = signed_in.post("/admin/settings", data=_form(signed_in, **{field: value}))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Nothing was saved" in html
    error = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', html)
    assert error and message in error.group(1)
    assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', html)
    assert len(re.findall(r'class="field-error"', html)) == 1  # only that field is marked
    after = _account()
    assert (after.options, after.scale, after.delay_minutes) == (before.options, before.scale, before.delay_minutes)


def test_the_threshold_is_bounded_by_the_scale_chosen(signed_in):
    response = signed_in.post("/admin/settings", data=_form(signed_in, scale="csat5", alert_threshold="6"))
    assert response.status_code == 400 and "from 0 to 5" in response.get_data(as_text=True)


def test_a_post_without_the_csrf_token_is_400_and_saves_nothing(signed_in):
    form = _form(signed_in)
    del form["csrf_token"]
    assert signed_in.post("/admin/settings", data=form).status_code == 400
    assert signed_in.post("/admin/settings", data={**form, "csrf_token": "forged"}).status_code == 400
    assert _account().options == {}


def test_every_field_of_the_page_is_a_known_setting():
    assert set(account_settings.FIELDS) == {
        *COLUMNS,
        *OPTIONS,
        *CHECKED,
        "require_rendered_page",
        *(f"question_{code}" for code in account_settings.LANGUAGE_NAMES),
        "followup_negative",
        "followup_neutral",
        "followup_positive",
        "reason_tags",
        *(f"reason_tags_{code}" for code in account_settings.LANGUAGE_NAMES),
        *(f"followup_{band}_{code}" for band in bands.BANDS for code in account_settings.LANGUAGE_NAMES),
    }
