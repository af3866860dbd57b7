"""A national number ("020 7946 0018") reaches the customer by SMS once the account's phone region says whose it is.

Over HTTP: the helpdesk's signed ticket event in, the SMS at the Twilio emulator (or the survey by email, or
skipped with the number's problem when there is no email either).
"""

from __future__ import annotations

import json

import pytest

from tests.channels.conftest import api, post_event
from tests.conftest import run_jobs
from tests.support.cli import cli
from tests.support.sms import twilio_for


@pytest.fixture
def twilio(live, desk):
    with twilio_for(live[0], desk.account.key) as emulator:
        yield emulator


def _survey(desk, ticket_id: str) -> dict:
    [survey] = api(desk, f"/api/v1/surveys?ticket_id={ticket_id}")["surveys"]
    return survey


def test_national_number_goes_by_sms_with_the_accounts_region(live, desk, twilio):
    post_event(desk, "T-1", "020 7946 0018")
    run_jobs()
    assert twilio.messages == []  # no region yet: the number's country is unknown, the survey goes by email
    assert _survey(desk, "T-1")["channel"] == "email"
    out = json.loads(cli(live[0], "accounts", "update", "--account", desk.account.key, "--phone-region", "gb"))
    assert out["options"]["phone_region"] == "GB"
    post_event(desk, "T-2", "020 7946 0018")
    run_jobs()
    [sms] = twilio.messages
    assert sms["to"] == "+442079460018" and _survey(desk, "T-2")["channel"] == "sms"


def test_impossible_number_without_email_is_skipped_with_its_reason(live, desk, twilio):
    cli(live[0], "accounts", "update", "--account", desk.account.key, "--phone-region", "US")
    post_event(desk, "T-1", "555-01", email="")
    run_jobs()
    survey = _survey(desk, "T-1")
    assert (survey["status"], survey["reason"]) == (
        "skipped",
        "invalid_phone: not a possible number for its country (wrong length)",
    )
    assert twilio.messages == []


def test_phone_region_refuses_what_is_not_a_country(live, desk):
    app = live[0]
    result = app.test_cli_runner().invoke(
        args=["accounts", "update", "--account", desk.account.key, "--phone-region", "UK"]
    )
    assert result.exit_code == 2 and "ISO 3166" in result.output
    out = json.loads(cli(app, "accounts", "update", "--account", desk.account.key, "--phone-region", ""))
    assert "phone_region" not in out["options"]
