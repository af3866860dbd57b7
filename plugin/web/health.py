"""GET /healthz (the process answers) and GET /readyz (the database, and Redis when configured)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from rq import Worker
from sqlalchemy import text

from plugin.jobs import RQQueue
from plugin.services import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    s = services()
    checks: dict[str, str] = {}
    try:
        with s.db.session() as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # readiness reports any failure instead of raising it
        checks["database"] = f"error: {exc.__class__.__name__}: {exc}"
    answer: dict[str, object] = {}
    if isinstance(s.jobs, RQQueue):
        try:
            s.jobs.redis.ping()
            checks["redis"] = "ok"
            # Workers alive by RQ's heartbeats (a killed worker drops out within its TTL). Shown, not a check:
            # this web process can take requests without them, and the rows wait for the next worker.
            answer["workers"] = Worker.count(connection=s.jobs.redis, queue=s.jobs.queue)
        except Exception as exc:
            checks["redis"] = f"error: {exc.__class__.__name__}: {exc}"
    ready = all(value == "ok" for value in checks.values())
    answer.update(status="ready" if ready else "unavailable", checks=checks)
    return jsonify(answer), 200 if ready else 503
