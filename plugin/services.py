"""The app's long-lived parts in one place, reachable from requests, jobs and CLI commands alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import current_app

from plugin.channels.email import Mailer
from plugin.db import Database, utcnow
from plugin.jobs import JobQueue
from plugin.keys import KeyRing
from plugin.security import SecretBox
from plugin.settings import Settings
from plugin.tokens import Tokens


@dataclass
class Services:
    settings: Settings
    db: Database
    tokens: Tokens
    box: SecretBox
    mailer: Mailer
    jobs: JobQueue
    keys: KeyRing | None = None
    clock: Callable[[], datetime] = utcnow  # the time requests and jobs act at; simulations replace it


def services() -> Services:
    """The current app's services (an app context is pushed by requests, the CLI and the worker)."""
    return current_app.extensions["opencsat"]


def init_app(app, settings: Settings) -> Services:
    """Build the services for `app`; without Redis, jobs run on a thread started by the first request."""
    from plugin.channels.email import make_mailer
    from plugin.jobs import LocalQueue, RQQueue

    db = Database(settings.database_url)
    if settings.redis_url:
        # The offered marker must never outlive a lease (plugin/jobs/__init__.py).
        offered = min(RQQueue.OFFERED_SECONDS, settings.lease_seconds or RQQueue.OFFERED_SECONDS)
        jobs: JobQueue = RQQueue(settings.redis_url, offered_seconds=offered)
    else:
        jobs = LocalQueue(
            run=lambda task, object_id: _run_in_app(app, task, object_id),
            sweep=lambda: _sweep_in_app(app),
            sweep_seconds=settings.sweep_seconds,
        )
        if app.config.get("START_JOBS_THREAD", True):
            app.before_request(jobs.start)
    keys = KeyRing(settings.secret_key, settings.secret_key_fallbacks)
    app.extensions["opencsat"] = Services(
        settings=settings,
        db=db,
        keys=keys,
        tokens=Tokens(keys),
        box=SecretBox(keys),
        mailer=make_mailer(settings.smtp_url, settings.outbox_path),
        jobs=jobs,
    )
    return app.extensions["opencsat"]


def _run_in_app(app, task: str, object_id: int) -> None:
    from plugin.jobs import tasks

    with app.app_context():
        getattr(tasks, task)(object_id)


def _sweep_in_app(app) -> None:
    from plugin.jobs.sweep import prune_if_due, sweep

    with app.app_context():
        s = services()
        with s.db.session() as session:
            sweep(session, s.jobs, s.clock())
        prune_if_due(s.db, s.jobs, s.clock)
