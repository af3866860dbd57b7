"""LiveAgent: the rule's HTTP request in (secret header), API v3 out (tags by id, custom field, note)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from plugin.models import Survey
from plugin.services import services
from tests.emulators.liveagent import LiveAgentEmulator
from tests.platforms.support import (
    PlatformAccount,
    counts,
    fixture_loader,
    latest_write_back,
    make_write_backs_due,
    rate,
    run_jobs,
)
from tests.support.sms import twilio_for

SECRET = "la-webhook-secret-0123"
TICKET = "ab12cd34"
fixture = fixture_loader("liveagent")


@pytest.fixture
def desk():
    with LiveAgentEmulator(api_key="la-key") as emulator:
        vip = emulator.add_tag("vip")
        emulator.add_tag("csat_2_of_5")
        emulator.field_codes.add("csat")
        emulator.add_ticket(TICKET, owner_email="dana@customer.test", tags=[vip])
        emulator.agents["ag7"] = {"id": "ag7", "name": "Sam Agent", "email": "sam@acme.test", "role": "agent"}
        yield emulator


class Account(PlatformAccount):
    """One LiveAgent account pointed at the emulator; posts the rule's request with the secret header."""

    def __init__(self, client, desk, **settings) -> None:
        super().__init__(
            client,
            "liveagent",
            name="Acme",
            webhook_secret=SECRET,
            api_url=desk.url,
            **{"api_token": "la-key", "options": {"custom_field": "csat"}, **settings},
        )

    def post(self, payload: dict | str, secret: str | None = SECRET):
        body = json.dumps(payload) if isinstance(payload, dict) else payload
        headers = {"X-OpenCSAT-Secret": secret} if secret else {}
        return self.client.post(self.url, data=body, content_type="application/json", headers=headers)


@pytest.fixture
def account(app, client, desk):
    return Account(client, desk)


def solve_and_rate(account, smtp_server, score: int = 4, comment: str = "") -> None:
    assert account.post(fixture("ticket_resolved.json")).status_code == 202
    run_jobs()
    rate(account.client, smtp_server.messages[-1], score, comment)


def test_resolved_rule_request_is_accepted_and_schedules_a_survey(account):
    response = account.post(fixture("ticket_resolved.json"))
    assert response.status_code == 202
    assert response.get_json()["survey"]["status"] == "scheduled"
    with services().db.session() as session:
        survey = session.scalar(select(Survey))
        assert (survey.ticket_id, survey.requester_email, survey.agent_email, survey.team) == (
            TICKET,
            "dana@customer.test",
            "sam@acme.test",
            "Second line",
        )


@pytest.mark.parametrize("secret", [None, "wrong-secret"])
def test_missing_or_wrong_secret_header_is_401(account, secret):
    response = account.post(fixture("ticket_resolved.json"), secret=secret)
    assert response.status_code == 401
    assert "X-OpenCSAT-Secret" in response.get_json()["message"]
    assert counts() == (0, 0)


def test_missing_change_time_is_400_and_named(account):
    payload = fixture("ticket_resolved.json")
    del payload["date_changed"]
    response = account.post(payload)
    assert response.status_code == 400 and "date_changed" in response.get_json()["message"]


def test_other_statuses_are_ignored(account):
    response = account.post(fixture("ticket_resolved.json", status="B"))
    assert (response.status_code, response.get_json()["event"]) == (200, "ignored")


def test_a_repeated_request_is_a_duplicate_and_sends_one_survey(account, smtp_server):
    answers = [account.post(fixture("ticket_resolved.json")).status_code for _ in range(3)]
    run_jobs()
    run_jobs()
    assert answers == [202, 200, 200]
    assert counts() == (1, 1)
    assert len(smtp_server.messages) == 1


def test_reopen_cancels_the_unsent_survey(app, client, desk, smtp_server):
    account = Account(client, desk, delay_minutes=60)
    account.post(fixture("ticket_resolved.json"))
    assert account.post(fixture("ticket_reopened.json")).status_code == 202
    run_jobs()
    surveys = account.api(f"/api/v1/surveys?ticket_id={TICKET}").get_json()["surveys"]
    assert [s["status"] for s in surveys] == ["cancelled"]
    assert smtp_server.messages == []


def test_ids_only_request_reads_requester_and_agent_from_the_api(account, desk):
    assert account.post(fixture("ticket_closed_ids_only.json")).status_code == 202
    run_jobs()
    assert [(c.method, c.path) for c in desk.calls] == [
        ("GET", f"/api/v3/tickets/{TICKET}"),
        ("GET", "/api/v3/agents/ag7"),
    ]
    assert all(c.headers["apikey"] == "la-key" for c in desk.calls)
    with services().db.session() as session:
        survey = session.scalar(select(Survey))
        assert (survey.requester_email, survey.agent_email, survey.agent_name, survey.status) == (
            "dana@customer.test",
            "sam@acme.test",
            "Sam Agent",
            "sent",
        )


def test_write_back_makes_exactly_these_requests_and_keeps_other_tags(account, desk, smtp_server):
    solve_and_rate(account, smtp_server, 4, "Quick and kind")
    run_jobs()
    assert latest_write_back().status == "delivered"
    calls = [(c.method, c.path, c.body) for c in desk.calls]
    assert calls == [  # no note by default: API v3 has no endpoint that adds one
        ("GET", f"/api/v3/tickets/{TICKET}", None),
        ("GET", "/api/v3/tags", None),
        ("POST", "/api/v3/tags", {"name": "csat_4_of_5"}),
        ("PUT", f"/api/v3/tickets/{TICKET}", {"tags": ["t1", "t3"], "custom_fields": [{"code": "csat", "value": "4"}]}),
    ]
    assert all(c.headers["apikey"] == "la-key" for c in desk.calls)
    assert desk.tag_names(TICKET) == ["vip", "csat_4_of_5"]


def test_the_note_text_goes_to_a_custom_field_when_one_is_named(app, client, desk, smtp_server):
    desk.field_codes.add("csat_note")
    account = Account(client, desk, options={"custom_field": "csat", "note_field": "csat_note"})
    solve_and_rate(account, smtp_server, 4, "Quick and kind")
    run_jobs()
    assert latest_write_back().status == "delivered"
    fields = {f["code"]: f["value"] for f in desk.tickets[TICKET].custom_fields}
    assert fields["csat"] == "4"
    assert "Customer rating: 4/5" in fields["csat_note"] and "Quick and kind" in fields["csat_note"]
    assert "Sam Agent" in fields["csat_note"]
    assert not [c for c in desk.calls if c.path.endswith("/messages")]


def test_the_emulator_like_liveagent_has_no_post_for_ticket_messages(desk):
    """API v3 lists GET /tickets/{id}/messages only; a POST there is 404, which is why the adapter never sends one."""
    import requests

    headers = {"apikey": "la-key"}
    assert requests.get(f"{desk.url}/api/v3/tickets/{TICKET}/messages", headers=headers, timeout=5).status_code == 200
    answer = requests.post(
        f"{desk.url}/api/v3/tickets/{TICKET}/messages", json={"message": "x"}, headers=headers, timeout=5
    )
    assert answer.status_code == 404


def test_a_changed_rating_replaces_our_tag_only(account, desk, smtp_server):
    solve_and_rate(account, smtp_server, 4)
    run_jobs()
    rate(account.client, smtp_server.messages[-1], 2)
    run_jobs()
    assert desk.tag_names(TICKET) == ["vip", "csat_2_of_5"]
    assert desk.tickets[TICKET].custom_fields == [{"code": "csat", "value": "2"}]


def test_429_waits_at_least_retry_after_then_delivers(account, desk, smtp_server, clock):
    desk.fail_next(429, {"message": "Too many requests"}, {"Retry-After": "120"})
    solve_and_rate(account, smtp_server)
    run_jobs()
    wb = latest_write_back()
    assert (wb.status, wb.attempts) == ("pending", 1)
    assert wb.next_attempt_at >= clock() + timedelta(seconds=120)
    clock.advance(seconds=119)
    run_jobs()
    assert len(desk.calls) == 1  # not due yet
    clock.advance(seconds=2)
    run_jobs()
    assert latest_write_back().status == "delivered"
    assert desk.tag_names(TICKET) == ["vip", "csat_4_of_5"]


def test_500_is_retried_then_delivered(account, desk, smtp_server):
    desk.fail_next(500, {"message": "Internal error"})
    solve_and_rate(account, smtp_server)
    run_jobs()
    wb = latest_write_back()
    assert wb.status == "pending" and "HTTP 500" in wb.last_error
    make_write_backs_due()
    run_jobs()
    assert latest_write_back().status == "delivered"


def test_a_wrong_api_key_is_parked_with_liveagents_error(app, client, desk, smtp_server):
    account = Account(client, desk, api_token="not-the-key")
    solve_and_rate(account, smtp_server)
    run_jobs()
    parked = account.api("/api/v1/write-backs?status=parked").get_json()["write_backs"]
    assert len(parked) == 1 and "HTTP 401" in parked[0]["last_error"]  # never the body (security.md)
    assert len(desk.calls) == 1


def test_end_to_end_through_http_only(account, desk, smtp_server):
    response = account.post(fixture("ticket_resolved.json"))
    assert response.status_code == 202
    run_jobs()
    (mail,) = smtp_server.messages
    assert mail["To"] == "Dana Smith <dana@customer.test>"
    rate(account.client, mail, 5, comment=None)
    run_jobs()
    assert desk.tag_names(TICKET) == ["vip", "csat_5_of_5"]
    assert desk.tickets[TICKET].custom_fields == [{"code": "csat", "value": "5"}]
    ratings = account.api(f"/api/v1/ratings?ticket_id={TICKET}").get_json()["ratings"]
    assert [(r["score"], r["agent_email"], r["status"]) for r in ratings] == [(5, "sam@acme.test", "counted")]


def test_a_requester_with_a_phone_gets_the_survey_by_sms(app, account, desk):
    """The ticket's owner_contactid -> GET /contacts/{id} -> phones, asked only because the account sends SMS."""
    desk.add_contact("c1", "dana@customer.test", ["+48 500 100 200"], firstname="Dana")
    with twilio_for(app, account.key) as twilio:
        assert account.post(fixture("ticket_resolved.json")).status_code == 202
        run_jobs()
        with services().db.session() as session:
            survey = session.scalar(select(Survey))
            assert (survey.channel, survey.requester_phone, survey.status) == ("sms", "+48500100200", "sent")
        assert [m["to"] for m in twilio.messages] == ["+48500100200"]
    assert ("GET", "/api/v3/contacts/c1") in [(c.method, c.path) for c in desk.calls]
