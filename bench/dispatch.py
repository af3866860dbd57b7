"""Survey dispatch: emails per second per RQ worker process to an SMTP server on loopback, beside the floor.

    .venv/bin/python bench/dispatch.py [--surveys N] [--workers W] [--database NAME] [--redis-url URL] [--profile]

One run does, in order:
  1. creates a PostgreSQL database of its own (--database), migrates it (with ANALYZE), flushes a Redis database,
     seeds one account and N surveys due now (email channel, distinct requesters; as an account's delay
     leaves them, so the sweep offers them), and starts an aiosmtpd sink on 127.0.0.1 in this process;
  2. RQ alone: N no-op jobs through the same queue and SimpleWorker class (what RQ costs per job, no work);
  3. OpenCSAT: one sweep offers the due surveys (a job per batch), starts W `flask --app plugin worker --burst`
     processes and waits until each has exited; emails/s is the sink's count over the time from the first
     message to the last; CPU and peak RSS come from the workers' rusage (wait4), Redis commands from INFO;
  4. the floor: the same message bytes the workers sent, sent again by raw smtplib over one connection;
  5. checks exactly-once (every survey `sent`, one message per survey by Message-ID), prints the table, drops
     the database and flushes the Redis database.

--profile runs step 3 in this process under cProfile instead (one worker, the top of the profile printed).
--instructions counts instead what the worker executes per email, and raw smtplib per email, with valgrind's
callgrind (bench/instructions.py): the same figure run after run, however busy the machine.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import smtplib
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402
from redis import Redis  # noqa: E402

POSTGRES = "postgresql://postgres@127.0.0.1:5432"
SECRET_KEY = "bench-secret-key-0123456789abcdef"
MAIL_FROM = "OpenCSAT <surveys@opencsat.bench>"


class Sink:
    """aiosmtpd handler: keeps each message's bytes and the moment it arrived."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.times: list[float] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.keep = True

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd API)
        self.times.append(time.perf_counter())
        if self.keep:
            self.messages.append(envelope.original_content or envelope.content)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    def reset(self) -> None:
        self.messages.clear()
        self.times.clear()
        self.envelopes.clear()

    def rate(self) -> float:
        span = self.times[-1] - self.times[0] if len(self.times) > 1 else 0
        return (len(self.times) - 1) / span if span else 0.0


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def create_database(name: str) -> str:
    from plugin.cli import upgrade_database

    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{POSTGRES}/{name}"
    upgrade_database(url.replace("postgresql://", "postgresql+psycopg://"))
    return url


def drop_database(name: str) -> None:
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def environment(database_url: str, redis_url: str, smtp_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SMTP_URL": smtp_url,
        "SECRET_KEY": SECRET_KEY,
        "PUBLIC_URL": "https://csat.bench.test",
        "MAIL_FROM": MAIL_FROM,
        "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128",
    }


def seed(env: dict[str, str], surveys: int) -> list[int]:
    """One account and `surveys` surveys due now, each to its own requester."""
    from plugin import create_app
    from plugin.accounts import create_account
    from plugin.services import services

    app = create_app(
        {k: env[k] for k in ("DATABASE_URL", "SECRET_KEY", "PUBLIC_URL", "MAIL_FROM")} | {"REDIS_URL": None}
    )
    with app.app_context():
        s = services()
        with s.db.session() as session:
            account = create_account(session, s.box, platform="generic", name="Bench Support", delay_minutes=0)
            account_id = account.account.id
        s.db.engine.dispose()
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(
            """INSERT INTO surveys (account_id, ticket_id, ticket_subject, requester_email, requester_name, locale,
                   agent_email, agent_name, scale, status, scheduled_at, attempts, created_at, channel)
               SELECT %s, 'T-' || n, 'Printer jammed on floor ' || n, 'customer' || n || '@customer.bench',
                   'Casey Customer ' || n, 'en', 'alex@acme.bench', 'Alex Agent', 'csat5', 'scheduled',
                   now() - interval '1 minute', 0, now() - interval '2 minutes', 'email'
               FROM generate_series(1, %s) AS n""",
            (account_id, surveys),
        )
        conn.execute("ANALYZE")
        return [row[0] for row in conn.execute("SELECT id FROM surveys ORDER BY id")]


def redis_commands(redis: Redis) -> int:
    return int(redis.info("stats")["total_commands_processed"])


def run_workers(argv: list[str], env: dict[str, str], workers: int, timeout: float) -> tuple[float, int]:
    """Start `workers` processes, wait for each to exit; (CPU seconds of all, the largest peak RSS in KiB)."""
    import tempfile

    logs = [tempfile.TemporaryFile() for _ in range(workers)]  # noqa: SIM115 (closed below); a pipe would fill up
    procs = [subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT) for log in logs]
    cpu, peak, deadline = 0.0, 0, time.monotonic() + timeout
    for proc, log in zip(procs, logs, strict=True):
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace")[-3000:])
        log.close()
        cpu += usage.ru_utime + usage.ru_stime
        peak = max(peak, usage.ru_maxrss)
    return cpu, peak


def rq_alone(env: dict[str, str], redis: Redis, jobs: int, workers: int) -> tuple[float, float, float]:
    """RQ's own cost: `jobs` no-op jobs through the same queue class and SimpleWorker. (jobs/s, CPU ms per job,
    Redis commands per job, enqueue included)."""
    from rq import Queue

    queue = Queue("opencsat", connection=redis)
    before = redis_commands(redis)
    for _ in range(jobs):
        queue.enqueue_call("os.getpid", result_ttl=0, failure_ttl=24 * 3600, timeout=120)
    code = (
        "from redis import Redis; from rq import Queue, SimpleWorker; import os; "
        "r = Redis.from_url(os.environ['REDIS_URL']); "
        "SimpleWorker([Queue('opencsat', connection=r)], connection=r).work(burst=True, logging_level='WARNING')"
    )
    started = time.perf_counter()
    cpu, _ = run_workers([sys.executable, "-c", code], env, workers, timeout=600)
    wall = time.perf_counter() - started
    return jobs / wall, 1000 * cpu / jobs, (redis_commands(redis) - before) / jobs


def offer(env: dict[str, str]) -> int:
    """One sweep, as a worker's timer runs it, offers the due surveys to Redis; how many jobs it offered."""
    from plugin import create_app
    from plugin.jobs.sweep import sweep
    from plugin.services import services

    app = create_app({k: env[k] for k in ("DATABASE_URL", "SECRET_KEY", "PUBLIC_URL", "MAIL_FROM", "REDIS_URL")})
    with app.app_context():
        s = services()
        with s.db.session() as session:
            offered = sweep(session, s.jobs, s.clock())
        s.db.engine.dispose()
    return offered


def profile_in_process(env: dict[str, str]) -> None:
    from rq import SimpleWorker

    os.environ.update(env)
    from plugin import create_app
    from plugin.services import services

    app = create_app()
    with app.app_context():
        jobs = services().jobs
        profiler = cProfile.Profile()
        profiler.enable()
        SimpleWorker([jobs.queue], connection=jobs.redis).work(burst=True, logging_level="WARNING")
        profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(25)


def instructions(env: dict[str, str], n: int, sink: Sink, port: int) -> tuple[float, float]:
    """Instructions per email (OpenCSAT's worker, raw smtplib), counted by callgrind: a worker process sends N, then
    another 2N surveys (each batch seeded and offered first), and raw smtplib sends N, then 2N of their messages;
    (count with 2N - count with N) / N, so that start-up cancels out. The sink keeps each run's messages."""
    import pickle
    import tempfile

    sys.path.insert(0, str(ROOT / "bench"))
    from instructions import instructions_of

    worker = [str(ROOT / ".venv/bin/flask"), "--app", "plugin", "worker", "--burst"]
    counts, raw, messages = [], [], []
    for size in (n, 2 * n):
        seed(env, size)
        offer(env)
        counts.append(instructions_of(worker, env, cwd=ROOT))
        messages = list(zip(sink.messages[-size:], sink.envelopes[-size:], strict=True))
        with tempfile.NamedTemporaryFile(suffix=".pickle") as sent:
            sent.write(pickle.dumps(messages))
            sent.flush()
            code = (
                "import pickle, smtplib, sys\n"
                f"messages = pickle.load(open({sent.name!r}, 'rb'))\n"
                f"with smtplib.SMTP('127.0.0.1', {port}) as client:\n"
                "    client.ehlo()\n"
                "    for body, (sender, recipients) in messages:\n"
                "        client.sendmail(sender, recipients, body)\n"
            )
            raw.append(instructions_of([sys.executable, "-c", code], env))
    return (counts[1] - counts[0]) / n, (raw[1] - raw[0]) / n


def floor(sink: Sink, port: int) -> float:
    """Raw smtplib over one connection, the workers' very bytes: emails/s."""
    messages, envelopes = list(sink.messages), list(sink.envelopes)
    sink.keep = False
    sink.reset()
    with smtplib.SMTP("127.0.0.1", port) as client:
        client.ehlo()
        for body, (sender, recipients) in zip(messages, envelopes, strict=True):
            client.sendmail(sender, recipients, body)
    return sink.rate()


def check_exactly_once(database_url: str, messages: list[bytes], expected: int) -> str:
    import re

    ids = [re.search(rb"^Message-ID: *(\S+)", m, re.M | re.I).group(1) for m in messages]
    with psycopg.connect(database_url) as conn:
        sent = conn.execute("SELECT count(*) FROM surveys WHERE status = 'sent'").fetchone()[0]
    if len(ids) != expected or len(set(ids)) != expected or sent != expected:
        return f"NOT exactly once: {len(ids)} messages, {len(set(ids))} distinct, {sent} surveys sent of {expected}"
    return f"exactly once: {expected} surveys sent, {expected} distinct Message-IDs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--surveys", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--database", default="opencsat_bench_dispatch")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/10")
    parser.add_argument("--profile", action="store_true", help="one worker in this process under cProfile")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--instructions", action="store_true", help="instead of timing: instructions per email (valgrind), N=--surveys"
    )
    args = parser.parse_args()

    redis = Redis.from_url(args.redis_url)
    redis.flushdb()
    sink, port = Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        database_url = create_database(args.database)
        env = environment(database_url, args.redis_url, f"smtp://127.0.0.1:{port}")
        if args.instructions:
            ours, raw = instructions(env, args.surveys, sink, port)
            print(f"\ninstructions per email, {args.surveys} and {2 * args.surveys} surveys (valgrind's callgrind)")
            print(f"  raw smtplib (the floor) {raw:12,.0f}")
            print(f"  OpenCSAT worker         {ours:12,.0f}   floor / OpenCSAT {raw / ours:.3f}")
            print("  the worker process's own instructions: PostgreSQL, Redis and the SMTP server are not in them")
            return 0
        seed(env, args.surveys)

        rq_rate, rq_cpu, rq_commands = rq_alone(env, redis, args.surveys, args.workers)
        redis.flushdb()

        offered = offer(env)
        before = redis_commands(redis)
        if args.profile:
            profile_in_process(env)
            cpu, peak = 0.0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        else:
            cpu, peak = run_workers(
                [str(ROOT / ".venv/bin/flask"), "--app", "plugin", "worker", "--burst"], env, args.workers, 900
            )
        commands = (redis_commands(redis) - before) / args.surveys
        # What a worker costs before its first job (imports, app, connections): taken out of the per-email CPU.
        idle_cpu, _ = run_workers([str(ROOT / ".venv/bin/flask"), "--app", "plugin", "worker", "--burst"], env, 1, 120)
        rate = sink.rate() / args.workers
        verdict = check_exactly_once(database_url, sink.messages, args.surveys)
        raw = floor(sink, port)
    finally:
        controller.stop()
        redis.flushdb()
        if not args.keep:
            drop_database(args.database)

    goal = 150
    print(
        f"\nSurvey dispatch, {args.surveys} surveys, {args.workers} worker process(es), "
        "PostgreSQL + Redis, SMTP on loopback"
    )
    print(f"{'':42}{'emails/s':>12}{'ratio':>8}")
    print(f"{'floor: raw smtplib, one connection':42}{raw:>12.0f}{1:>8.2f}")
    print(f"{'OpenCSAT, per worker process':42}{rate:>12.0f}{rate / raw:>8.3f}   (goal >= {goal}/s)")
    print(f"{'RQ alone, no-op jobs, per process':42}{rq_rate / args.workers:>12.0f}")
    if not args.profile:
        from plugin.surveys.sending import BATCH

        per_email = 1000 * (cpu - args.workers * idle_cpu) / args.surveys
        print(
            f"worker CPU per email: {per_email:.2f} ms (start-up, {1000 * idle_cpu:.0f} ms per process, taken out), "
            f"so {1000 / per_email:.0f} emails/s per CPU-second; RQ alone: {rq_cpu:.2f} ms per job, one job per "
            f"{BATCH} emails: {rq_cpu / BATCH:.2f} ms per email"
        )
    print(
        f"jobs offered by the sweep: {offered}; Redis commands per email (server-wide, so other clients of this "
        f"Redis count too): {commands:.1f}; per no-op RQ job: {rq_commands:.1f}"
    )
    print(f"worker peak RSS: {peak / 1024:.0f} MB (goal < 150 MB)")
    print(verdict)
    return 0 if verdict.startswith("exactly") else 1


if __name__ == "__main__":
    sys.exit(main())
