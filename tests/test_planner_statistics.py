"""/readyz and the start-up log say when PostgreSQL has no planner statistics for the tables (never ANALYZEd, as
a server without autovacuum leaves a fresh or bulk-loaded database): real PostgreSQL, a database of its own."""

from __future__ import annotations

import logging
import os

import psycopg
import pytest

from plugin import create_app
from plugin.cli import upgrade_database
from tests.conftest import POSTGRES

pytestmark = pytest.mark.skipif(
    os.environ.get("OPENCSAT_TEST_DATABASE", "sqlite") != "postgresql", reason="planner statistics are PostgreSQL's"
)


@pytest.fixture
def fresh_database():
    """A migrated PostgreSQL database on which ANALYZE never ran."""
    name = f"opencsat_test_stats_{os.getpid()}"
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{POSTGRES}/{name}"
    upgrade_database(url.replace("postgresql://", "postgresql+psycopg://"), analyze=False)
    yield url
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_missing_statistics_are_reported_and_warned_but_do_not_fail_readiness(app_config, fresh_database, caplog):
    with caplog.at_level(logging.WARNING):
        app = create_app({**app_config, "DATABASE_URL": fresh_database})
    warned = [r.getMessage() for r in caplog.records if "ANALYZE" in r.getMessage()]
    assert warned and "surveys" in warned[0]
    response = app.test_client().get("/readyz")
    answer = response.get_json()
    assert response.status_code == 200 and answer["status"] == "ready"  # slower, not broken
    stats = answer["planner_statistics"]
    assert {"surveys", "ratings", "webhook_events"} <= set(stats["missing"])
    assert "alembic_version" not in stats["missing"]
    assert "ANALYZE" in stats["hint"]
    app.extensions["opencsat"].db.engine.dispose()

    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("ANALYZE")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        app = create_app({**app_config, "DATABASE_URL": fresh_database})
    assert not [r for r in caplog.records if "ANALYZE" in r.getMessage()]
    answer = app.test_client().get("/readyz").get_json()
    assert answer["planner_statistics"] == {"missing": []}
    app.extensions["opencsat"].db.engine.dispose()


def test_sqlite_has_no_such_field(app_config):
    app = create_app({**app_config, "DATABASE_URL": "sqlite://"})
    assert "planner_statistics" not in app.test_client().get("/readyz").get_json()
