"""POST /webhooks/generic/<key>: every answer of the contract's table, and nothing half-written on rejection."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from plugin.models import Survey, WebhookEvent
from plugin.services import services
from tests.conftest import outbox


def _counts() -> tuple[int, int]:
    with services().db.session() as session:
        return session.scalar(select(func.count(WebhookEvent.id))), session.scalar(select(func.count(Survey.id)))


def test_solved_event_is_accepted_and_schedules_a_survey(helpdesk):
    response = helpdesk.post(helpdesk.event(ticket_id="T-9"))
    assert response.status_code == 202
    assert response.get_json()["status"] == "accepted"
    assert response.get_json()["survey"]["status"] == "scheduled"
    body = helpdesk.api("/api/v1/surveys?ticket_id=T-9").get_json()
    assert [s["status"] for s in body["surveys"]] == ["scheduled"]


def test_five_retries_of_one_event_send_one_email(app, helpdesk):
    event = helpdesk.event()
    answers = [helpdesk.post(event).status_code for _ in range(5)]
    helpdesk.run_jobs()
    helpdesk.run_jobs()
    assert answers == [202, 200, 200, 200, 200]
    assert _counts() == (1, 1)
    assert len(outbox(app)) == 1


def test_missing_fields_are_named(helpdesk):
    event = helpdesk.event()
    del event["event_id"]
    del event["ticket"]["id"]
    response = helpdesk.post(event)
    assert response.status_code == 400
    assert "event_id" in response.get_json()["message"] and "ticket.id" in response.get_json()["message"]
    assert _counts() == (0, 0)


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"text"'])
def test_malformed_json_is_400(helpdesk, body):
    response = helpdesk.post(body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad request"
    assert _counts() == (0, 0)


def test_wrong_secret_is_401(helpdesk):
    response = helpdesk.post(helpdesk.event(), secret="not-the-secret")
    assert response.status_code == 401
    assert "does not match" in response.get_json()["message"]
    assert _counts() == (0, 0)


def test_missing_signature_is_401(helpdesk):
    response = helpdesk.client.post(helpdesk.url, json=helpdesk.event())
    assert response.status_code == 401
    assert "X-OpenCSAT-Signature" in response.get_json()["message"]


@pytest.mark.parametrize("offset", [-301, 301])
def test_signature_more_than_five_minutes_off_is_401(helpdesk, offset):
    response = helpdesk.post(helpdesk.event(), timestamp=int(services().clock().timestamp()) + offset)
    assert response.status_code == 401
    assert "5 minutes" in response.get_json()["message"]
    assert _counts() == (0, 0)


def test_signature_within_the_window_is_accepted(helpdesk):
    assert helpdesk.post(helpdesk.event(), timestamp=int(services().clock().timestamp()) - 250).status_code == 202


def test_body_changed_after_signing_is_401(helpdesk):
    body = json.dumps(helpdesk.event()).encode()
    from plugin import signing

    header = signing.sign(helpdesk.secret, body)
    tampered = body.replace(b"casey@customer.test", b"mallory@evil.test")
    response = helpdesk.client.post(
        helpdesk.url, data=tampered, headers={"Content-Type": "application/json", signing.HEADER: header}
    )
    assert response.status_code == 401


def test_unknown_account_is_404(helpdesk):
    response = helpdesk.client.post("/webhooks/generic/no-such-account", json={})
    assert response.status_code == 404
    assert response.get_json()["message"]


def test_account_of_another_platform_is_404(helpdesk):
    response = helpdesk.client.post(f"/webhooks/zendesk/{helpdesk.account.key}", json={})
    assert response.status_code == 404


def test_unknown_platform_is_404(helpdesk):
    response = helpdesk.client.post(f"/webhooks/myspace/{helpdesk.account.key}", json={})
    assert response.status_code == 404
    assert "unknown platform" in response.get_json()["message"]


def test_too_large_is_413(helpdesk):
    event = helpdesk.event(padding="x" * (300 * 1024))
    response = helpdesk.post(event)
    assert response.status_code == 413
    assert response.get_json()["error"] == "request entity too large"
    assert _counts() == (0, 0)


def test_not_json_is_415(helpdesk):
    response = helpdesk.client.post(helpdesk.url, data="ticket=1", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert "application/json" in response.get_json()["message"]


def test_unknown_fields_are_ignored(helpdesk):
    assert helpdesk.post(helpdesk.event(extra={"nested": [1, 2]}, priority="high")).status_code == 202


def test_reopen_cancels_the_unsent_survey(app, client, http_recorder):
    from tests.conftest import Helpdesk

    helpdesk = Helpdesk(app, client, http_recorder.url, delay_minutes=60)
    helpdesk.post(helpdesk.event(ticket_id="T-5"))
    assert helpdesk.post(helpdesk.event("ticket.reopened", ticket_id="T-5")).status_code == 202
    helpdesk.run_jobs()
    surveys = helpdesk.api("/api/v1/surveys?ticket_id=T-5").get_json()["surveys"]
    assert [s["status"] for s in surveys] == ["cancelled"]
    assert "reopened" in surveys[0]["reason"]
    assert outbox(app) == []


def test_reopen_after_sending_changes_nothing(app, helpdesk):
    helpdesk.post(helpdesk.event(ticket_id="T-6"))
    helpdesk.run_jobs()
    helpdesk.post(helpdesk.event("ticket.reopened", ticket_id="T-6"))
    surveys = helpdesk.api("/api/v1/surveys?ticket_id=T-6").get_json()["surveys"]
    assert [s["status"] for s in surveys] == ["sent"]


def test_second_solve_inside_the_throttle_is_skipped_with_reason(helpdesk):
    helpdesk.post(helpdesk.event(ticket_id="T-7"))
    helpdesk.run_jobs()
    helpdesk.post(helpdesk.event(ticket_id="T-8"))
    surveys = helpdesk.api("/api/v1/surveys").get_json()["surveys"]
    assert {s["ticket_id"]: (s["status"], s["reason"]) for s in surveys} == {
        "T-7": ("sent", None),
        "T-8": ("skipped", "throttled"),
    }


def test_event_without_requester_email_is_recorded_as_skipped(helpdesk):
    event = helpdesk.event(ticket_id="T-3")
    event["requester"] = {"name": "No Mail"}
    assert helpdesk.post(event).status_code == 202
    surveys = helpdesk.api("/api/v1/surveys?ticket_id=T-3").get_json()["surveys"]
    assert (surveys[0]["status"], surveys[0]["reason"]) == ("skipped", "no_requester_email")


def test_tags_can_exclude_a_ticket_from_surveys(app, client, http_recorder):
    from tests.conftest import Helpdesk

    helpdesk = Helpdesk(app, client, http_recorder.url, options={"exclude_tags": "vip, legal"})
    assert helpdesk.post(helpdesk.event(ticket_id="T-20", tags=["Legal", "printer"])).status_code == 202
    assert helpdesk.post(helpdesk.event(ticket_id="T-21", email="b@customer.test", tags="printer")).status_code == 202
    assert helpdesk.post(helpdesk.event(ticket_id="T-22", tags=[1, 2])).status_code == 400
    surveys = {
        s["ticket_id"]: (s["status"], s["reason"]) for s in helpdesk.api("/api/v1/surveys").get_json()["surveys"]
    }
    assert surveys == {"T-20": ("skipped", "excluded_tag"), "T-21": ("scheduled", None)}
