"""GET /healthz (the process answers) and GET /readyz (the database, and Redis when configured)."""

from __future__ import annotations

from flask import Blueprint, jsonify
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
    if isinstance(s.jobs, RQQueue):
        try:
            s.jobs.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {exc.__class__.__name__}: {exc}"
    ready = all(value == "ok" for value in checks.values())
    return jsonify({"status": "ready" if ready else "unavailable", "checks": checks}), 200 if ready else 503
