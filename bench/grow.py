"""A large PostgreSQL database for the "flat with data" figures: built once with INSERT ... SELECT generate_series,
then reused by every run that asks for it.

    .venv/bin/python bench/grow.py [--surveys 1000000] [--accounts 1000] [--big 100000] [--rebuild]

The shape: `--accounts` accounts; the first holds `--big` surveys, the others share the rest evenly; every survey
has a webhook event (completed: event_json NULL) and, unless it is scheduled or skipped, a rating. 1% of the
surveys are still scheduled (due over the next day), 1% skipped; created_at spreads over the last year. The
database is marked with the size it was built for (table bench_grown), so a second run with the same size reuses it.

The build never runs ANALYZE: the database is left as a server without autovacuum leaves it. `forget_statistics`
puts it back in that state after a run that analyzed it (it deletes the tables' rows in pg_statistic, which needs a
superuser, as the benchmark's local PostgreSQL has).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_POSTGRES = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
DEFAULT_DATABASE = "opencsat_bench_grown"
TABLES = ("accounts", "webhook_events", "surveys", "ratings", "clicks")

# One statement per table, all set-based; %(name)s are the size parameters.
BUILD = (
    """INSERT INTO accounts (key, name, platform, api_key_hash, locale, scale, delay_minutes, throttle_days,
                             settle_minutes, edit_days, options, created_at)
       SELECT 'grown-' || a, 'Grown ' || a, 'generic', md5('grown-key-' || a), 'en', 'csat5', 60, 7, 10, 7, '{}',
              now() - interval '2 years'
       FROM generate_series(1, %(accounts)s) AS a""",
    # Survey n belongs to account 1 when n <= big, else to one of the others, round robin.
    """CREATE TEMP TABLE grown AS
       SELECT n,
              (SELECT min(id) FROM accounts WHERE key LIKE 'grown-%%')
                + CASE WHEN n <= %(big)s THEN 0 ELSE 1 + n %% (%(accounts)s - 1) END AS account_id,
              CASE WHEN n %% 100 = 0 THEN 'scheduled' WHEN n %% 100 = 1 THEN 'skipped' ELSE 'sent' END AS status,
              CASE WHEN n %% 100 = 0 THEN now() + (n %% 1440) * interval '1 minute'
                   ELSE now() - (n %% 525600) * interval '1 minute' END AS at
       FROM generate_series(1, %(surveys)s) AS n""",
    """INSERT INTO webhook_events (id, account_id, dedupe_key, kind, ticket_id, body, lookup_attempts, received_at)
       SELECT n, account_id, 'grown-' || n, 'solved', 'T-' || n, '{}', 0, at FROM grown""",
    """INSERT INTO surveys (id, account_id, event_id, ticket_id, ticket_subject, requester_email, requester_name,
                            locale, agent_id, agent_email, agent_name, scale, status, reason, scheduled_at, sent_at,
                            attempts, created_at, channel)
       SELECT n, account_id, n, 'T-' || n, 'Printer jammed', 'customer-' || (n %% 50000) || '@example.com', 'Robin',
              'en', '7', 'agent-' || (n %% 20) || '@acme.example', 'Alex', 'csat5', status,
              CASE WHEN status = 'skipped' THEN 'throttled' END, at, CASE WHEN status = 'sent' THEN at END,
              CASE WHEN status = 'sent' THEN 1 ELSE 0 END, at, 'email'
       FROM grown""",
    """INSERT INTO ratings (id, survey_id, account_id, agent_email, scale, score, comment, status, reasons,
                            settles_at, confirmed_at, counted_at, version, created_at, updated_at)
       SELECT n, n, account_id, 'agent-' || (n %% 20) || '@acme.example', 'csat5', 1 + n %% 5, '', 'counted', '',
              at, at, at, 1, at, at
       FROM grown WHERE status = 'sent'""",
    "SELECT setval(pg_get_serial_sequence('webhook_events', 'id'), (SELECT max(id) FROM webhook_events))",
    "SELECT setval(pg_get_serial_sequence('surveys', 'id'), (SELECT max(id) FROM surveys))",
    "SELECT setval(pg_get_serial_sequence('ratings', 'id'), (SELECT max(id) FROM ratings))",
)


def admin(postgres: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{postgres}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def built_size(postgres: str, database: str) -> dict | None:
    """The size the database was built for, or None when it does not exist or is incomplete."""
    import psycopg

    try:
        with psycopg.connect(f"{postgres}/{database}", autocommit=True) as conn:
            row = conn.execute("SELECT surveys, accounts, big FROM bench_grown").fetchone()
    except psycopg.Error:
        return None
    return dict(zip(("surveys", "accounts", "big"), row, strict=True)) if row else None


def ensure(
    postgres: str, database: str, surveys: int, accounts: int, big: int, rebuild: bool = False, upgrade: bool = True
) -> str:
    """The grown database's SQLAlchemy URL, migrated to head (built first when missing or of another size)."""
    import psycopg

    from plugin.cli import upgrade_database

    size = {"surveys": surveys, "accounts": accounts, "big": big}
    url = f"{postgres}/{database}".replace("postgresql://", "postgresql+psycopg://", 1)
    if rebuild or built_size(postgres, database) != size:
        started = time.monotonic()
        admin(postgres, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin(postgres, f'CREATE DATABASE "{database}"')
        upgrade_database(url, analyze=False)
        with psycopg.connect(f"{postgres}/{database}") as conn:
            for sql in BUILD:
                conn.execute(sql, size)
            conn.execute("CREATE TABLE bench_grown (surveys integer, accounts integer, big integer)")
            conn.execute("INSERT INTO bench_grown VALUES (%(surveys)s, %(accounts)s, %(big)s)", size)
        print(f"built {database}: {surveys:,} surveys over {accounts:,} accounts in {time.monotonic() - started:.0f} s")
    elif upgrade:
        upgrade_database(url, analyze=False)  # a reused database gets new migrations (and their indexes)
    return url


def forget_statistics(postgres: str, database: str) -> None:
    """Back to "never analyzed": no column statistics for the benchmark's tables."""
    import psycopg

    with psycopg.connect(f"{postgres}/{database}", autocommit=True) as conn:
        conn.execute("DELETE FROM pg_statistic WHERE starelid = ANY(%s::regclass[])", (list(TABLES),))


def analyze(postgres: str, database: str) -> None:
    import psycopg

    with psycopg.connect(f"{postgres}/{database}", autocommit=True) as conn:
        conn.execute("ANALYZE")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--surveys", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--big", type=int, default=100_000, help="surveys of the one large account")
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    ensure(args.postgres, args.database, args.surveys, args.accounts, args.big, args.rebuild)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
