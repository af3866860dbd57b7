"""Nothing lost, nothing 500 (docs/reliability.md): jobs that raise or die, Redis away, the database dropping us.

The whole production topology under the same faults is tests/faults/; these are the same rules, one at a time.
"""

from __future__ import annotations

import logging
import os

import pytest
from redis import Redis
from rq import SimpleWorker
from rq.job import Job, JobStatus
from sqlalchemy import select

from plugin import create_app, signing
from plugin.jobs.sweep import sweep
from plugin.models import Survey, WebhookEvent
from plugin.services import services
from plugin.surveys import sending
from tests.conftest import BROWSER_HEADERS, Helpdesk, nonce_of, outbox
from tests.support.servers import SMTPServer, free_port

POSTGRESQL = os.environ.get("OPENCSAT_TEST_DATABASE", "sqlite") == "postgresql"


@pytest.fixture
def rq_config(app_config, redis_url, smtp_server):
    """Production parts for the `app` fixture: RQ on real Redis, real SMTP."""
    app_config.update(REDIS_URL=redis_url, SMTP_URL=smtp_server.url)
    return app_config


def work() -> None:
    """The sweep, then one burst of a real RQ worker."""
    s = services()
    with s.db.session() as session:
        sweep(session, s.jobs, s.clock())
    SimpleWorker([s.jobs.queue], connection=s.jobs.redis).work(burst=True)


def survey(survey_id: int = 1) -> Survey:
    with services().db.session() as session:
        return session.get(Survey, survey_id)


class FlakyMailer:
    """The real mailer behind a switch: while `error` is set, every send raises it (not a MailError)."""

    def __init__(self, mailer) -> None:
        self.mailer, self.error = mailer, None

    def send(self, message) -> None:
        if self.error is not None:
            raise self.error
        self.mailer.send(message)


def test_a_job_that_raised_runs_again_after_its_backoff(rq_config, app, client, http_recorder, clock, smtp_server):
    helpdesk = Helpdesk(app, client, http_recorder.url)
    mailer = services().mailer = FlakyMailer(services().mailer)
    mailer.error = RuntimeError("the unexpected")
    assert helpdesk.post(helpdesk.event()).status_code == 202
    work()
    retrying = survey()
    assert (retrying.status, retrying.attempts) == ("scheduled", 1)
    assert "RuntimeError: the unexpected" in retrying.reason
    mailer.error = None
    clock.advance(minutes=sending.LEASE.total_seconds() / 60 + 30)
    work()
    assert survey().status == "sent" and len(smtp_server.messages) == 1


def test_a_job_left_started_by_a_dead_worker_does_not_block_the_survey(
    rq_config, app, client, http_recorder, clock, smtp_server
):
    helpdesk = Helpdesk(app, client, http_recorder.url)
    assert helpdesk.post(helpdesk.event()).status_code == 202
    s = services()
    # What a worker killed mid-send leaves: the row claimed (leased), its job record `started`, nothing queued.
    with s.db.session() as session:
        assert sending.claim(session, 1, clock()) is not None
    for job_id in s.jobs.queue.job_ids:
        job = Job.fetch(job_id, connection=s.jobs.redis)
        s.jobs.queue.remove(job)
        job.set_status(JobStatus.STARTED)
        s.jobs.started(*job.args)  # what the job does first, before the kill
    work()
    assert smtp_server.messages == []  # leased: the dead worker might still be sending
    clock.advance(seconds=sending.LEASE.total_seconds() + 1)
    work()
    assert survey().status == "sent" and len(smtp_server.messages) == 1


def test_any_exception_is_recorded_then_failed_and_replayable(app, helpdesk, clock, monkeypatch, runner):
    from plugin.channels import email as email_channel  # the email channel's provider builds the message

    real_build = email_channel.build_survey_email

    def broken(*args, **kwargs):
        raise KeyError("template variable")

    monkeypatch.setattr(email_channel, "build_survey_email", broken)
    assert helpdesk.post(helpdesk.event()).status_code == 202
    for attempt in range(1, sending.MAX_ATTEMPTS + 1):
        helpdesk.run_jobs()
        row = survey()
        assert row.attempts == attempt and "KeyError" in row.reason
        assert row.status == ("failed" if attempt == sending.MAX_ATTEMPTS else "scheduled")
        clock.advance(days=1)
    listed = helpdesk.api("/api/v1/surveys?status=failed").get_json()["surveys"]
    assert [(r["id"], r["status"], r["attempts"]) for r in listed] == [(1, "failed", sending.MAX_ATTEMPTS)]
    assert "KeyError" in listed[0]["reason"]
    cli = runner.invoke(args=["surveys", "list", "--account", helpdesk.account.key, "--status", "failed"])
    assert cli.exit_code == 0 and "KeyError" in cli.output

    monkeypatch.setattr(email_channel, "build_survey_email", real_build)
    replay = helpdesk.client.post("/api/v1/surveys/1/replay", headers={"Authorization": f"Bearer {helpdesk.api_key}"})
    assert replay.status_code == 202
    helpdesk.run_jobs()
    assert survey().status == "sent"
    again = runner.invoke(args=["surveys", "replay", "--account", helpdesk.account.key, "1"])
    assert again.exit_code != 0 and "no failed survey" in again.output  # only a failed survey replays


@pytest.mark.parametrize(
    ("email", "reason"),
    [
        ("a@b.test\r\nBcc: victim@else.test", "invalid_address"),
        ("a@b.test\nx", "invalid_address"),
        ("not an address@x.test", "invalid_address"),
        ("a" * 65 + "@b.test", "invalid_address"),
        ("a@" + "b" * 250 + ".test", "invalid_address"),
        ("a@-b.test", "invalid_address"),
    ],
)
def test_an_unusable_address_is_skipped_at_intake_with_its_reason(helpdesk, email, reason):
    answer = helpdesk.post(helpdesk.event(email=email))
    assert answer.status_code == 202
    assert answer.get_json()["survey"]["status"] == "skipped"
    assert answer.get_json()["survey"]["reason"].startswith(reason)


@pytest.mark.parametrize("smtputf8", [True, False])
def test_an_internationalised_address_is_sent_with_smtputf8_or_skipped(
    app_config, redis_url, http_recorder, clock, smtputf8
):
    server = SMTPServer(smtputf8=smtputf8).start()
    try:
        app = create_app({**app_config, "SMTP_URL": server.url})
        with app.app_context():
            services().clock = clock
            helpdesk = Helpdesk(app, app.test_client(), http_recorder.url)
            assert helpdesk.post(helpdesk.event(email="dänä@exämple.example")).status_code == 202
            assert helpdesk.post(helpdesk.event(ticket_id="T-2", email="dana@exämple.example")).status_code == 202
            helpdesk.run_jobs()
            first, second = survey(1), survey(2)
            assert second.status == "sent"  # a non-ASCII domain alone goes out as its IDNA (xn--) form
            if smtputf8:
                assert first.status == "sent"
                assert any("<dänä@" in str(m["To"]) for m in server.messages)
            else:
                assert (first.status, first.reason.split(":")[0]) == ("skipped", "smtputf8_not_offered")
                assert len(server.messages) == 1
            services().db.engine.dispose()
    finally:
        server.stop()


def test_the_date_header_is_the_time_of_sending(app, helpdesk, clock):
    from email.utils import parsedate_to_datetime

    assert helpdesk.post(helpdesk.event()).status_code == 202
    clock.advance(minutes=1)
    helpdesk.run_jobs()
    (message,) = outbox(app)
    assert abs((parsedate_to_datetime(message["Date"]) - clock()).total_seconds()) < 1


# --- Redis unreachable ---------------------------------------------------------------------------------------------


@pytest.fixture
def redis_down(app_config):
    """Redis configured but nobody listening there."""
    app_config.update(REDIS_URL=f"redis://127.0.0.1:{free_port()}/2")
    return app_config


def test_with_redis_unreachable_webhooks_ratings_and_confirms_still_answer(
    redis_down, app, client, http_recorder, caplog
):
    caplog.set_level(logging.WARNING)
    helpdesk = Helpdesk(app, client, http_recorder.url)
    answer = helpdesk.post(helpdesk.event())
    assert answer.status_code == 202, answer.get_data(as_text=True)
    assert survey().status == "scheduled"  # committed: the sweep offers it once Redis is back

    s = services()
    with s.db.session() as session:
        sending.mark_sent(session, 1, "<m@test>", s.clock())
    link = f"/r/{s.tokens.rating(1, 5)}"
    page = client.get(link, headers=BROWSER_HEADERS)
    assert page.status_code == 200
    confirmed = client.post(
        link, data={"nonce": nonce_of(page.get_data(as_text=True)), "score": "5"}, headers=BROWSER_HEADERS
    )
    assert confirmed.status_code == 200
    assert any("memory" in r.getMessage().lower() for r in caplog.records)  # the limiter says it fell back

    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["checks"]["redis"].startswith("error")


def test_the_sweep_catches_up_once_redis_is_back(redis_down, app, client, http_recorder, redis_url, smtp_server):
    helpdesk = Helpdesk(app, client, http_recorder.url)
    assert helpdesk.post(helpdesk.event()).status_code == 202
    back = create_app({**redis_down, "REDIS_URL": redis_url, "SMTP_URL": smtp_server.url})
    with back.app_context():
        services().clock = app.extensions["opencsat"].clock
        work()
        assert survey().status == "sent" and len(smtp_server.messages) == 1
        services().db.engine.dispose()
    assert Redis.from_url(redis_url).ping()


# --- the database dropping our connections ------------------------------------------------------------------------


def _terminate_every_connection() -> int:
    """Every connection to the app's database ended by the server, as a failover or restart does; how many."""
    import psycopg

    from tests.conftest import POSTGRES

    with psycopg.connect(f"{POSTGRES}/test", autocommit=True) as admin:
        return admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
            (services().db.engine.url.database,),
        ).fetchone()[0]


@pytest.mark.skipif(not POSTGRESQL, reason="pg_terminate_backend is PostgreSQL's")
def test_a_terminated_database_connection_costs_no_500(app, helpdesk):
    for _ in range(3):
        assert helpdesk.api("/api/v1/surveys").status_code == 200
    assert _terminate_every_connection() >= 1
    for _ in range(3):
        assert helpdesk.api("/api/v1/surveys").status_code == 200
    assert helpdesk.post(helpdesk.event()).status_code == 202


@pytest.mark.skipif(not POSTGRESQL, reason="pg_terminate_backend is PostgreSQL's")
def test_webhooks_straight_after_the_database_dropped_every_connection_are_taken_in_once(app, helpdesk):
    """The webhook's one statement runs on connections of its own (plugin/db.py): warm, busy ones (no idle ping),
    all terminated at once, as in a failover; the very next webhooks still get their 202 and one row each."""
    first = [helpdesk.event(ticket_id=f"W-{n}") for n in range(3)]
    assert [helpdesk.post(event).status_code for event in first] == [202] * 3
    assert _terminate_every_connection() >= 1
    after = [helpdesk.event(ticket_id=f"X-{n}") for n in range(3)]
    assert [helpdesk.post(event).status_code for event in after] == [202] * 3
    assert [helpdesk.post(after[0]).status_code] == [200]  # a repeat stays a repeat
    tickets = services().db.transaction(  # the test's own read may meet a killed connection too: retried
        lambda session: session.scalars(select(WebhookEvent.ticket_id).order_by(WebhookEvent.id)).all()
    )
    assert tickets == ["W-0", "W-1", "W-2", "X-0", "X-1", "X-2"]


@pytest.mark.skipif(not POSTGRESQL, reason="pg_terminate_backend is PostgreSQL's")
def test_first_clicks_straight_after_the_database_dropped_every_connection_are_kept_once(app, helpdesk, clock):
    """A first click reads its survey and writes its click on autocommit connections of their own (plugin/db.py
    run_one): every one of them terminated at once, as in a failover, the very next clicks still get their page
    and one click row each, and the rating of each."""
    from plugin.models import Click, Rating
    from tests.conftest import PUBLIC_URL, rating_links

    for n in range(4):
        helpdesk.post(helpdesk.event(ticket_id=f"C-{n}", email=f"casey{n}@customer.test"))
    helpdesk.run_jobs()
    links = [rating_links(message)[3][len(PUBLIC_URL) :] for message in outbox(app)]
    assert len(links) == 4
    clock.advance(minutes=30)
    assert helpdesk.client.get(links[0], headers=BROWSER_HEADERS).status_code == 200  # the pool is warm
    assert _terminate_every_connection() >= 1
    assert [helpdesk.client.get(link, headers=BROWSER_HEADERS).status_code for link in links[1:]] == [200] * 3
    clicks, ratings = services().db.transaction(
        lambda session: (
            session.scalars(select(Click.survey_id).order_by(Click.id)).all(),
            session.scalars(select(Rating.survey_id).order_by(Rating.survey_id)).all(),
        )
    )
    assert len(clicks) == len(set(clicks)) == 4
    assert ratings == sorted(clicks)


# --- hostile input at the edge ------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["t=²,v1=" + "0" * 64, "t=1,v1=é" + "0" * 63, "t=1x,v1=00", "t=,v1=", "v1=,t=1"])
def test_malformed_signature_headers_are_401(helpdesk, header):
    body = b'{"event":"ticket.solved"}'
    answer = helpdesk.client.post(
        helpdesk.url, data=body, headers={"Content-Type": "application/json", signing.HEADER: header}
    )
    assert answer.status_code == 401


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ticket": {"id": "x" * 101}}, "ticket_id"),
        ({"requester": {"email": 42}}, "requester.email"),
        ({"requester": {"email": "a@b.test", "name": ["n"]}}, "requester.name"),
        ({"occurred_at": 1e20}, "occurred_at"),
        ({"occurred_at": "9999-12-31T23:59:59+00:00"}, "occurred_at"),
        ({"event": ["ticket.solved"]}, "unexpected type"),  # the adapter's lookup fails: refused once, centrally
        ({"event": {"a": 1}}, "unexpected type"),
        ({"ticket": {"id": "T\u00001"}}, "NUL"),
        ({"requester": {"email": "a@b.test", "name": "a\u0000b"}}, "NUL"),
    ],
)
def test_hostile_fields_are_400_naming_the_field_and_store_nothing(helpdesk, change, field):
    answer = helpdesk.post({**helpdesk.event(), **change})
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert field in answer.get_json()["message"]
    with services().db.session() as session:
        assert session.scalars(select(WebhookEvent)).all() == []


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
        b'{"event":"ticket.solved","a":' + b"[" * 40 + b"]" * 40 + b"}",
        b'{"event":"ticket.solved","x":NaN}',
        b'{"event":"ticket.solved","x":Infinity}',
    ],
)
def test_deep_or_non_finite_bodies_are_400(helpdesk, body):
    assert helpdesk.post(body).status_code == 400


def test_display_text_is_truncated_as_documented(helpdesk):
    event = helpdesk.event()
    event["ticket"].update(subject="s" * 600, url="https://desk.test/" + "u" * 1000)
    event["requester"]["name"] = "n" * 300
    assert helpdesk.post(event).status_code == 202
    row = survey()
    assert (len(row.ticket_subject), row.ticket_url, len(row.requester_name)) == (500, None, 200)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/ratings?limit=0",
        "/api/v1/ratings?limit=-1",
        "/api/v1/ratings?cursor=99999999999999999999999",
        "/api/v1/summary?agent=a%00b",
        "/api/v1/ratings?ticket_id=%00",
        "/api/v1/surveys?ticket_id=T%001",
    ],
)
def test_bad_api_query_parameters_are_400(helpdesk, path):
    assert helpdesk.api(path).status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/write-backs/2147483648/replay",
        "/api/v1/write-backs/99999999999999999999/replay",
        "/api/v1/webhook-deliveries/2147483648/replay",
        "/api/v1/surveys/2147483648/replay",
    ],
)
def test_ids_beyond_the_column_range_are_400(helpdesk, path):
    answer = helpdesk.client.post(path, headers={"Authorization": f"Bearer {helpdesk.api_key}"})
    assert answer.status_code == 400


def test_nul_in_a_form_or_path_is_400(helpdesk):
    assert helpdesk.client.post("/r/abc%00def", data={"comment": "x"}).status_code == 400
    assert (
        helpdesk.client.post(
            "/webhooks/generic/k%00y", data=b"{}", headers={"Content-Type": "application/json"}
        ).status_code
        == 400
    )


def test_an_unexpected_error_answers_json_with_the_request_id_in_the_log(app, client, caplog):
    @app.get("/api/v1/explode")
    def explode():
        raise RuntimeError("kaboom")

    answer = client.get("/api/v1/explode", headers={"X-Request-Id": "req-42"})
    assert answer.status_code == 500 and answer.get_json()["request_id"] == "req-42"
    assert any("req-42" in r.getMessage() for r in caplog.records)


def test_a_beacon_with_an_id_beyond_any_column_is_400(helpdesk):
    assert helpdesk.post(helpdesk.event()).status_code == 202
    helpdesk.run_jobs()
    s = services()
    link = f"/r/{s.tokens.rating(1, 5)}"
    page = helpdesk.client.get(link, headers=BROWSER_HEADERS)
    nonce = nonce_of(page.get_data(as_text=True))
    answer = helpdesk.client.post(
        f"{link}/signal", data={"nonce": nonce, "click": str(10**25), "signal": "visible"}, headers=BROWSER_HEADERS
    )
    assert answer.status_code == 400
