"""Dashboard queries on 1M ratings in PostgreSQL: the domain functions (plugin/dashboard.py) against the same raw SQL.

Creates a database of its own (opencsat_bench_reports), migrates it, seeds it with INSERT ... SELECT generate_series,
times every dashboard panel both ways and drops the database. Usage:

    .venv/bin/python bench/report_queries.py [--postgres postgresql://postgres@127.0.0.1:5432] [--keep]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from plugin import dashboard  # noqa: E402
from plugin.accounts import create_account  # noqa: E402
from plugin.cli import upgrade_database  # noqa: E402
from plugin.db import Database  # noqa: E402
from plugin.security import SecretBox  # noqa: E402

DATABASE = "opencsat_bench_reports"
SURVEYS = 1_250_000  # every 6th unanswered and 2 % skipped leaves about 1.02M ratings
START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2027, 1, 1, tzinfo=UTC)
RUNS = 7

SEED_SURVEYS = """
INSERT INTO surveys (account_id, ticket_id, ticket_subject, ticket_url, requester_email, requester_name, locale,
                     agent_id, agent_email, agent_name, brand, team, scale, status, scheduled_at, sent_at, attempts,
                     created_at)
SELECT %(account)s, 'T-' || g, 'Printer jammed', 'https://desk.example/t/' || g, 'c' || g || '@example.com', 'C',
       (ARRAY['en', 'de', 'fr', 'pl'])[g %% 4 + 1],
       (g * 7 %% 40)::text, 'agent' || (g * 7 %% 40) || '@acme.example', 'Agent',
       (ARRAY['Acme', 'Beta', 'Gamma'])[g %% 3 + 1],
       'team' || (g * 7 %% 40 %% 8), CASE WHEN g %% 10 = 0 THEN 'nps' ELSE 'csat5' END,
       CASE WHEN g %% 50 = 0 THEN 'skipped' ELSE 'sent' END,
       t, CASE WHEN g %% 50 = 0 THEN NULL ELSE t END, 1, t
FROM generate_series(1, %(n)s) AS g,
     LATERAL (SELECT %(start)s::timestamp + (g * (%(seconds)s::float / %(n)s)) * interval '1 second' AS t) AS at
"""

SEED_RATINGS = """
INSERT INTO ratings (survey_id, account_id, agent_email, scale, score, comment, status, reasons, counted_at, version,
                     created_at, updated_at)
SELECT s.id, s.account_id, s.agent_email, s.scale,
       CASE WHEN s.scale = 'nps' THEN x %% 11
            WHEN x < 50 THEN 5 WHEN x < 75 THEN 4 WHEN x < 85 THEN 3 WHEN x < 92 THEN 2 ELSE 1 END,
       CASE WHEN s.id %% 10 = 1 THEN 'The fix took a while but it works now' ELSE '' END,
       CASE WHEN y < 95 THEN 'counted' WHEN y < 96 THEN 'flagged' ELSE 'pending' END,
       CASE WHEN y >= 95 AND y < 96 THEN 'several_scores' ELSE '' END,
       CASE WHEN y < 95 THEN s.sent_at + interval '2 hours' END, 1,
       s.sent_at + interval '2 hours', s.sent_at + interval '2 hours'
FROM surveys s, LATERAL (SELECT (s.id::bigint * 7919) %% 100 AS x, (s.id::bigint * 104729) %% 100 AS y) AS r
WHERE s.status = 'sent' AND s.id %% 6 <> 0
"""

WHERE = "s.account_id = %(account)s AND s.status = 'sent' AND s.sent_at >= %(since)s AND s.sent_at < %(until)s"
GROUPED = (
    "SELECT {key}, s.scale, r.score, count(s.id) FROM surveys s "
    "LEFT OUTER JOIN ratings r ON r.survey_id = s.id AND r.status = 'counted' "
    f"WHERE {WHERE} GROUP BY {{key}}, s.scale, r.score"
)
LISTED = (
    "SELECT r.id, s.ticket_id, s.ticket_url, s.agent_email, s.team, s.brand, s.locale, r.scale, r.score, r.comment, "
    "r.status, r.reasons, s.sent_at, r.created_at, r.updated_at FROM ratings r JOIN surveys s ON s.id = r.survey_id "
    f"WHERE {WHERE} AND r.account_id = %(account)s AND {{where}} ORDER BY {{order}} DESC, r.id DESC LIMIT {{limit}}"
)
RAW = {
    "summary (per week)": GROUPED.format(key="date_trunc('week', s.sent_at)"),
    "agents": GROUPED.format(key="s.agent_email"),
    "teams": GROUPED.format(key="s.team"),
    "latest comments": LISTED.format(where="r.comment <> ''", order="r.updated_at", limit=dashboard.COMMENTS_SHOWN),
    "flagged": LISTED.format(where="r.status = 'flagged'", order="r.created_at", limit=dashboard.FLAGGED_SHOWN),
    "filter menus": f"SELECT s.agent_email, s.team, s.brand, s.locale, s.scale FROM surveys s WHERE {WHERE} "
    "GROUP BY s.agent_email, s.team, s.brand, s.locale, s.scale",
}
DOMAIN: dict[str, Callable] = {
    "summary (per week)": lambda s, a, f: dashboard.summary(s, a, f, "week"),
    "agents": dashboard.agents,
    "teams": dashboard.teams,
    "latest comments": dashboard.latest_comments,
    "flagged": dashboard.flagged,
    "filter menus": dashboard.options,
}


def median_ms(call: Callable[[], object]) -> float:
    call()  # warm: plan cache, buffers
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def seed(url: str) -> int:
    """One account with SURVEYS surveys over 2026 and about 1.02M ratings; returns the account id."""
    db = Database(url.replace("postgresql://", "postgresql+psycopg://"))
    with db.session() as session:
        account = create_account(session, SecretBox("bench-secret-key-0123456789"), platform="generic", name="Bench")
        account_id = account.account.id
    db.engine.dispose()
    with psycopg.connect(url, autocommit=True) as conn:
        seconds = (END - START).total_seconds()
        start = START.replace(tzinfo=None)
        conn.execute(SEED_SURVEYS, {"account": account_id, "n": SURVEYS, "start": start, "seconds": seconds})
        conn.execute(SEED_RATINGS.replace("%%", "%"))  # no parameters: psycopg leaves %% as it is
        conn.execute("VACUUM ANALYZE surveys")
        conn.execute("VACUUM ANALYZE ratings")
        ratings = conn.execute("SELECT count(*) FROM ratings").fetchone()[0]
    print(f"seeded {SURVEYS:,} surveys and {ratings:,} ratings")
    return account_id


def compare(url: str, account_id: int, label: str, filters: dashboard.Filters) -> list[tuple[str, float, float]]:
    db = Database(url.replace("postgresql://", "postgresql+psycopg://"))
    params = {
        "account": account_id,
        "since": filters.since.replace(tzinfo=None),
        "until": filters.until.replace(tzinfo=None),
    }
    rows = []
    with psycopg.connect(url) as raw, db.session() as session:
        for name, sql in RAW.items():
            extra = ""
            if filters.team and name != "filter menus":  # the menus list the whole period on purpose
                sql = sql.replace(WHERE, WHERE + " AND s.team = %(team)s")
                params["team"], extra = filters.team, f" team={filters.team}"
            raw_ms = median_ms(lambda sql=sql: raw.execute(sql, params).fetchall())
            domain_ms = median_ms(lambda name=name: DOMAIN[name](session, account_id, filters))
            rows.append((f"{name}{extra}", domain_ms, raw_ms))
    db.engine.dispose()
    print(f"\n{label}")
    print(f"{'query':34} {'domain ms':>10} {'raw SQL ms':>11} {'ratio':>6}")
    for name, domain_ms, raw_ms in rows:
        print(f"{name:34} {domain_ms:10.1f} {raw_ms:11.1f} {domain_ms / raw_ms:6.2f}")
    total_domain, total_raw = sum(r[1] for r in rows), sum(r[2] for r in rows)
    print(f"{'whole dashboard':34} {total_domain:10.1f} {total_raw:11.1f} {total_domain / total_raw:6.2f}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432", help="server URL, no database")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    admin = f"{args.postgres}/postgres"
    url = f"{args.postgres}/{DATABASE}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    try:
        upgrade_database(url.replace("postgresql://", "postgresql+psycopg://"))
        started = time.perf_counter()
        account_id = seed(url)
        print(f"seeding took {time.perf_counter() - started:.1f} s; median of {RUNS} runs after one warm-up below")
        since, until = dashboard.default_period(END - timedelta(days=1))
        compare(url, account_id, "last 30 days (the dashboard's default)", dashboard.Filters(since=since, until=until))
        compare(url, account_id, "last 30 days, one team", dashboard.Filters(since=since, until=until, team="team3"))
        compare(url, account_id, "the whole year", dashboard.Filters(since=START, until=END))
    finally:
        if not args.keep:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


if __name__ == "__main__":
    main()
