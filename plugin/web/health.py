"""GET /healthz (the process answers) and GET /readyz (the database, and Redis when configured).

On PostgreSQL, /readyz also names the tables the planner has no statistics for (never ANALYZEd: a fresh or
bulk-loaded database on a server without autovacuum), and the app logs a warning at start. Shown, not a check:
every query still answers right, only slower (docs/benchmarks.md), and an empty new deployment would otherwise
never become ready.
"""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from rq import Worker
from sqlalchemy import text
from sqlalchemy.engine import Engine

from plugin.jobs import RQQueue
from plugin.services import services

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)

STATISTICS_HINT = (
    "PostgreSQL has no planner statistics for these tables: run ANALYZE (flask --app plugin db upgrade does) "
    "and keep autovacuum on, or after a bulk load run ANALYZE again"
)
# reltuples is -1 until a table's first ANALYZE or VACUUM (PostgreSQL 14+): the planner then guesses its size.
# https://www.postgresql.org/docs/15/catalog-pg-class.html
_NEVER_ANALYZED = text(
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.reltuples < 0"
    " AND c.relname <> 'alembic_version' ORDER BY c.relname"
)


def missing_statistics(engine: Engine) -> list[str] | None:
    """Tables without planner statistics; None when the database is not PostgreSQL."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as connection:
        return list(connection.execute(_NEVER_ANALYZED).scalars())


@bp.record
def _warn_at_start(state) -> None:
    try:
        missing = missing_statistics(state.app.extensions["opencsat"].db.engine)
    except Exception as exc:  # the database is away at start: /readyz says so; starting must not fail on it
        log.warning("could not check planner statistics: %s", exc)
        return
    if missing:
        log.warning("%s: %s", STATISTICS_HINT, ", ".join(missing))


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
    if checks["database"] == "ok":
        try:
            missing = missing_statistics(s.db.engine)
        except Exception:  # a check that cannot run says nothing rather than answering 500
            missing = None
        if missing is not None:
            answer["planner_statistics"] = {"missing": missing, "hint": STATISTICS_HINT} if missing else {"missing": []}
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
