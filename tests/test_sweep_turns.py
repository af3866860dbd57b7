"""One sweeper at a time across worker processes, and the retention's prune keeping what is still referenced."""

from __future__ import annotations

import multiprocessing
import random
import time
from datetime import timedelta

import pytest
from redis import Redis
from sqlalchemy import func, select

from plugin import create_app, retention
from plugin.accounts import create_account
from plugin.jobs import RQQueue
from plugin.models import OutboundWebhook, Rating, Survey, WebhookDelivery, WebhookEvent
from plugin.services import services
from plugin.surveys import sending

SWEEPERS = 3


def _sweeper(config: dict, delay: float, go, out) -> None:
    """One worker process's timer tick, started at the same moment as the others (plus its own delay)."""
    from plugin.jobs.sweep import periodic

    app = create_app(config)
    with app.app_context():
        s = services()
        go.wait(timeout=60)
        time.sleep(delay)
        out.put(periodic(s.db, s.jobs, s.clock, sweep_seconds=60))
        s.db.engine.dispose()


def _survey(account_id: int, n: int, status: str, at) -> Survey:
    return Survey(
        account_id=account_id,
        ticket_id=f"T-{n}",
        requester_email=f"c{n}@example.com",
        locale="en",
        scale="csat5",
        status=status,
        scheduled_at=at,
        created_at=at,
    )


def _account(session, name: str, **options):
    account = create_account(session, services().box, platform="generic", name=name, webhook_secret="s" * 16).account
    account.options = options
    return account


def test_sweepers_in_parallel_offer_each_due_row_once(app_config, redis_url, clock):
    seed = random.randrange(2**32)
    print(f"seed {seed}")
    rng = random.Random(seed)
    due = rng.randint(5, 60)
    app_config.update(REDIS_URL=redis_url)
    app = create_app(app_config)
    with app.app_context():
        s = services()
        with s.db.session() as session:
            account = _account(session, "Acme")
            session.flush()
            past = clock() - timedelta(minutes=5)
            session.add_all(_survey(account.id, n, "scheduled", past) for n in range(due))
        s.db.engine.dispose()

    context = multiprocessing.get_context("spawn")
    go, out = context.Event(), context.Queue()
    config = {k: (str(v) if k == "INSTANCE_PATH" else v) for k, v in app_config.items()}
    # Worker timers tick independently: each wakes somewhere within the same 300 ms.
    procs = [
        context.Process(target=_sweeper, args=(config, rng.uniform(0, 0.3), go, out), daemon=True)
        for _ in range(SWEEPERS)
    ]
    for proc in procs:
        proc.start()
    time.sleep(2)  # let them import and connect; the barrier below starts the race
    go.set()
    results = [out.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)

    swept = [r for r in results if r is not None]
    assert len(swept) == 1, results  # one process had the turn; the others did no query at all
    batches = len(range(0, due, sending.BATCH))  # due email surveys go as one job per batch (sending.claim_due)
    assert swept == [batches]
    assert Redis.from_url(redis_url).llen(f"rq:queue:{RQQueue.QUEUE_NAME}") == batches


@pytest.mark.parametrize("trial", range(3))
def test_prune_deletes_only_old_finished_unreferenced_rows(app, clock, trial):
    seed = random.randrange(2**32)
    print(f"seed {seed}")
    rng = random.Random(seed)
    now = clock()
    s = services()
    expected_gone: set[tuple[str, int]] = set()
    with s.db.session() as session:
        accounts = [_account(session, "Default"), _account(session, "Short", retention_days=str(rng.randint(1, 60)))]
        session.flush()
        for account in accounts:
            days = retention.retention_days(account.options)
            hook = OutboundWebhook(account_id=account.id, url="https://hooks.example/x", secret_encrypted="x")
            session.add(hook)
            session.flush()
            for n in range(rng.randint(10, 40)):
                age = timedelta(days=rng.uniform(0, 2 * days), minutes=rng.choice((-1, 1)))
                pending = rng.random() < 0.2
                referenced = rng.random() < 0.4
                event = WebhookEvent(
                    account_id=account.id,
                    dedupe_key=f"{account.id}-{n}",
                    kind="solved",
                    ticket_id=f"T-{n}",
                    body="{}",
                    event_json="{}" if pending else None,
                    received_at=now - age,
                )
                session.add(event)
                session.flush()
                survey = _survey(account.id, n, rng.choice(("sent", "skipped")), now - age)
                survey.event_id = event.id if referenced else None
                session.add(survey)
                session.flush()
                rating = Rating(survey_id=survey.id, account_id=account.id, scale="csat5", score=5, status="counted")
                session.add(rating)
                session.flush()
                status = rng.choice(("delivered", "pending", "failed"))
                delivery = WebhookDelivery(
                    webhook_id=hook.id,
                    rating_id=rating.id,
                    account_id=account.id,
                    version=1,
                    status=status,
                    payload="{}",
                    delivered_at=now - age if status == "delivered" else None,
                )
                session.add(delivery)
                session.flush()
                old = age > timedelta(days=days)
                if old and not pending and not referenced:
                    expected_gone.add(("event", event.id))
                if old and status == "delivered":
                    expected_gone.add(("delivery", delivery.id))
        all_events = set(session.scalars(select(WebhookEvent.id)))
        all_deliveries = set(session.scalars(select(WebhookDelivery.id)))

    with s.db.session() as session:
        pruned = retention.prune(session, now)
    with s.db.session() as session:
        events_left = set(session.scalars(select(WebhookEvent.id)))
        deliveries_left = set(session.scalars(select(WebhookDelivery.id)))
        dangling = session.scalar(
            select(func.count())
            .select_from(Survey)
            .where(Survey.event_id.is_not(None), ~Survey.event_id.in_(select(WebhookEvent.id)))
        )
    gone = {("event", i) for i in all_events - events_left} | {
        ("delivery", i) for i in all_deliveries - deliveries_left
    }
    assert gone == expected_gone
    assert dangling == 0
    assert pruned == {
        "webhook_events": sum(1 for kind, _ in expected_gone if kind == "event"),
        "webhook_deliveries": sum(1 for kind, _ in expected_gone if kind == "delivery"),
    }


def test_prune_command_takes_an_account_and_a_retention(app, runner, clock):
    s = services()
    with s.db.session() as session:
        account = _account(session, "Acme")
        session.flush()
        key = account.key
        session.add(
            WebhookEvent(
                account_id=account.id,
                dedupe_key="old",
                kind="solved",
                ticket_id="T-1",
                body="{}",
                received_at=clock() - timedelta(days=10),
            )
        )
    kept = runner.invoke(args=["prune", "--account", key, "--days", "11"])
    assert kept.exit_code == 0, kept.output
    assert "0 webhook_events" in kept.output
    pruned = runner.invoke(args=["prune", "--account", key, "--days", "9"])
    assert "1 webhook_events" in pruned.output
    assert runner.invoke(args=["prune", "--days", "0"]).exit_code == 2
