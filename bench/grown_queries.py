"""PostgreSQL time of the statements whose cost grows with data: a webhook's skip-rule check and one sweep run,
on a small database and on the grown one (bench/grow.py), without statistics and after ANALYZE.

    .venv/bin/python bench/grown_queries.py [--grow] [--runs 20] [--explain]

The statements are the ones OpenCSAT issues (captured as they run: the skip rules, `skip_rules`, the expression
the survey's INSERT decides with; and `due_work`), each re-run under EXPLAIN ANALYZE: the figure is PostgreSQL's
own planning + execution time, so the load generator and Python are not in it. The baseline, measured in the same
run on the same database: the same number of primary-key lookups (`SELECT id FROM surveys WHERE id = $1`), the
least a statement can cost there.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import grow  # noqa: E402  (bench/grow.py)

SMALL_DATABASE = "opencsat_bench_small"


def capture(engine, work) -> list[tuple[str, object]]:
    """The (statement, parameters) that `work(session)` sends to PostgreSQL."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    seen: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many):
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        with Session(engine) as session:
            work(session)
            session.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def explain_ms(engine, statements, plans: list[str] | None = None) -> float:
    """PostgreSQL's planning + execution ms for these statements, summed."""
    total = 0.0
    with engine.connect() as conn:
        for statement, parameters in statements:
            cursor = conn.connection.driver_connection.cursor()
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
            (plan,) = cursor.fetchone()
            plan = plan[0] if isinstance(plan, list) else json.loads(plan)[0]
            total += plan["Planning Time"] + plan["Execution Time"]
            if plans is not None:
                cursor.execute("EXPLAIN (COSTS OFF) " + statement, parameters)
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
        conn.rollback()
    return total


def measure(url: str, runs: int, explain: bool) -> dict[str, float | list[str]]:
    from sqlalchemy import create_engine, func, select

    from plugin.db import utcnow
    from plugin.jobs.sweep import due_work
    from plugin.models import Account, Survey
    from plugin.surveys.scheduling import skip_rules

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            big = conn.execute(
                select(Survey.account_id).group_by(Survey.account_id).order_by(func.count().desc()).limit(1)
            ).scalar()
        from sqlalchemy.orm import Session

        with Session(engine) as session:
            account = session.get(Account, big)
            session.expunge(account)
        now = utcnow()
        rules, params = skip_rules(account, "T-new", "new-customer@example.com", now)
        skip = capture(engine, lambda s: s.scalar(select(rules), params))
        sweep = capture(engine, lambda s: due_work(s, now))
        floor = [("SELECT id FROM surveys WHERE id = %(id)s", {"id": 1})]
        plans: list[str] = []
        explain_ms(engine, skip + sweep, plans)  # warm the cache; keep the plans
        figures = {
            "skip": statistics.median(explain_ms(engine, skip) for _ in range(runs)),
            "sweep": statistics.median(explain_ms(engine, sweep) for _ in range(runs)),
            "floor": statistics.median(explain_ms(engine, floor) for _ in range(runs)),
            "sweep_statements": len(sweep),
        }
        if explain:
            figures["plans"] = plans
        return figures
    finally:
        engine.dispose()


def small_database(postgres: str, upgrade: bool) -> str:
    """A small database (two accounts, a few hundred surveys) built the same way, analyzed."""
    url = grow.ensure(postgres, SMALL_DATABASE, surveys=1000, accounts=2, big=500, upgrade=upgrade)
    grow.analyze(postgres, SMALL_DATABASE)
    return url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", default=grow.DEFAULT_POSTGRES)
    parser.add_argument("--grow", action="store_true", help="also the grown database (built once, then reused)")
    parser.add_argument("--surveys", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--explain", action="store_true", help="print each statement's plan")
    parser.add_argument("--no-upgrade", action="store_true", help="measure the databases at the schema they have")
    args = parser.parse_args()

    rows = [("small, analyzed", measure(small_database(args.postgres, not args.no_upgrade), args.runs, args.explain))]
    if args.grow:
        url = grow.ensure(
            args.postgres,
            grow.DEFAULT_DATABASE,
            args.surveys,
            1000,
            min(100_000, args.surveys // 10),
            upgrade=not args.no_upgrade,
        )
        grow.forget_statistics(args.postgres, grow.DEFAULT_DATABASE)
        rows.append(("grown, no statistics", measure(url, args.runs, args.explain)))
        grow.analyze(args.postgres, grow.DEFAULT_DATABASE)
        rows.append(("grown, analyzed", measure(url, args.runs, args.explain)))
        grow.forget_statistics(args.postgres, grow.DEFAULT_DATABASE)  # leave it as it was built

    small = rows[0][1]
    print(
        f"{'database':<22} {'skip ms':>8} {'sweep ms':>9} {'pk-lookup ms':>13} {'skip/pk':>8} {'sweep/pk':>9}"
        f" {'skip/small':>11} {'sweep/small':>12}"
    )
    for name, f in rows:
        print(
            f"{name:<22} {f['skip']:>8.3f} {f['sweep']:>9.3f} {f['floor']:>13.3f} {f['skip'] / f['floor']:>8.1f}"
            f" {f['sweep'] / (f['floor'] * f['sweep_statements']):>9.1f}"
            f" {f['skip'] / small['skip']:>11.2f} {f['sweep'] / small['sweep']:>12.2f}"
        )
    print("(ms of PostgreSQL planning + execution, median of runs; sweep/pk is per statement of the sweep)")
    if args.explain:
        for name, f in rows:
            print(f"\n== {name}")
            for plan in f["plans"]:
                print(plan, end="\n--\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
