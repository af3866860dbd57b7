"""The sidebar's ticket panel on a survey with 100k clicks (issue 11 finding 11), against a baseline in the same run.

Seeds a PostgreSQL database of its own (sidebar_bench_history) with one survey carrying CLICKS clicks, then times
plugin.sidebar.view.ticket_ratings (the last HISTORY_SHOWN clicks and a count) beside the query the panel used to run
(every click of the survey, joined and read into Python). Usage:

    .venv/bin/python bench/sidebar_history.py [--postgres postgresql://postgres@127.0.0.1:5432] [--clicks 100000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import psycopg
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from plugin.cli import upgrade_database  # noqa: E402
from plugin.db import Database  # noqa: E402
from plugin.models import Click, Rating, Survey  # noqa: E402
from plugin.sidebar import view  # noqa: E402

DATABASE = "sidebar_bench_history"
RUNS = 5


def _seed(conn, clicks: int) -> None:
    account = conn.execute(
        "INSERT INTO accounts (key, name, platform, api_key_hash, locale, scale, delay_minutes, throttle_days,"
        " settle_minutes, edit_days, options, created_at) VALUES ('bench', 'Bench', 'generic', repeat('0', 64), 'en',"
        " 'csat5', 0, 7, 10, 7, '{}', now()) RETURNING id"
    ).fetchone()[0]
    survey = conn.execute(
        "INSERT INTO surveys (account_id, ticket_id, ticket_subject, requester_email, requester_name, locale,"
        " agent_email, scale, status, scheduled_at, sent_at, attempts, created_at, channel) VALUES (%s, 'T-1', '',"
        " 'c@example.com', '', 'en', 'a@example.com', 'csat5', 'sent', now(), now(), 1, now(), 'email') RETURNING id",
        (account,),
    ).fetchone()[0]
    conn.execute(
        "INSERT INTO clicks (survey_id, kind, score, method, user_agent, client_ip, reasons, at)"
        " SELECT %s, 'click', 1 + g %% 5, 'GET', 'Mozilla/5.0', '192.0.2.1', 'several_scores',"
        " now() + g * interval '1 second' FROM generate_series(1, %s) AS g",
        (survey, clicks),
    )
    conn.execute(
        "INSERT INTO ratings (survey_id, account_id, agent_email, scale, score, comment, status, reasons, version,"
        " created_at, updated_at) VALUES (%s, %s, 'a@example.com', 'csat5', 3, '', 'flagged', 'several_scores', 0,"
        " now(), now())",
        (survey, account),
    )
    conn.execute("ANALYZE")


def _time(run) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--clicks", type=int, default=100_000)
    args = parser.parse_args()
    with psycopg.connect(f"{args.postgres}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}"')
        admin.execute(f'CREATE DATABASE "{DATABASE}"')
    url = f"{args.postgres.replace('postgresql://', 'postgresql+psycopg://')}/{DATABASE}"
    try:
        upgrade_database(url)
        with psycopg.connect(f"{args.postgres}/{DATABASE}", autocommit=True) as conn:
            _seed(conn, args.clicks)
        db = Database(url)
        with db.session() as session:
            account_id = session.scalar(select(Survey.account_id))

            def panel():
                view.ticket_ratings(session, account_id, "T-1")

            def every_click():  # what the panel read before: one row per click, all of them
                session.execute(
                    select(Survey, Rating, Click)
                    .outerjoin(Rating, Rating.survey_id == Survey.id)
                    .outerjoin(Click, Click.survey_id == Survey.id)
                    .where(Survey.account_id == account_id, Survey.ticket_id == "T-1")
                    .order_by(Survey.id.desc(), Click.at, Click.id)
                ).all()

            ours, before = _time(panel), _time(every_click)
        db.engine.dispose()
        print(f"{args.clicks} clicks on one survey, median of {RUNS}:")
        print(f"  ticket panel (last {view.HISTORY_SHOWN} + count): {ours * 1000:8.1f} ms")
        print(f"  every click (the old query):          {before * 1000:8.1f} ms   ratio {before / ours:6.1f}x")
    finally:
        with psycopg.connect(f"{args.postgres}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


if __name__ == "__main__":
    main()
