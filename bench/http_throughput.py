"""HTTP throughput of OpenCSAT's two hot paths against bare Flask, under the same gunicorn settings, on loopback.

    .venv/bin/python bench/http_throughput.py [--requests N] [--concurrency C] [--workers W]

One run does, in order:
  1. creates a PostgreSQL database of its own (opencsat_bench), migrates it, flushes a Redis database (14),
     seeds one generic account (delay 0 minutes, so every accepted webhook schedules a survey due at once, for
     the sweep to offer; no worker runs, so nothing is mailed) and one 'sent' survey per rating click to come;
  2. serves bench/bare_app.py with `gunicorn -w W -k gthread --threads T -b 127.0.0.1:<port>`, warms it up,
     then times signed webhook ingest and rating clicks against it;
  3. serves OpenCSAT ("plugin:create_app()") with the very same gunicorn command and times the same requests;
  4. checks that OpenCSAT did the work (one webhook_events row and one due survey per 202, one click row and one
     rating per 200), prints the table, kills every child process and drops the database and the Redis keys.

The load is a closed loop: C keep-alive connections (threads, spread over --clients processes), each sending
its next request as soon as the previous answer arrived. Every webhook carries a unique event_id and a valid
X-OpenCSAT-Signature; every click opens a distinct, valid rating link. Bodies and links are made before timing.
Both servers get byte-identical requests. Exit status 0 when every request got its expected answer.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from plugin import signing  # noqa: E402

SECRET_KEY = "bench-secret-key-0123456789abcdef"
WEBHOOK_SECRET = "whsec-bench-0123456789"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"


# ---------------------------------------------------------------------------------------------------- processes


class Children:
    """Every process this script starts; all are killed on exit, error, Ctrl-C or SIGTERM."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, argv: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
        log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
        # A session of its own, so the gunicorn master and its workers die together with one killpg.
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        proc._bench_log = log  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the workers too, should the master have left any behind
        except ProcessLookupError:
            pass
        proc.wait()
        proc._bench_log.close()  # type: ignore[attr-defined]
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.procs):
            self.stop(proc)


def _proc_cpu(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    after_name = stat.rsplit(")", 1)[1].split()
    return int(after_name[11]) + int(after_name[12])  # utime + stime, in clock ticks


def cpu_snapshot(master_pid: int | None, database: str) -> dict[str, float] | None:
    """CPU seconds so far: the whole machine (busy), the gunicorn master and workers, the PostgreSQL backends
    serving `database`, and redis-server. Linux only (None elsewhere)."""
    if master_pid is None or not Path("/proc/stat").exists():
        return None
    tick = os.sysconf("SC_CLK_TCK")
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    busy = sum(fields[:8]) - fields[3] - fields[4]  # everything but idle and iowait (guest is inside user)
    servers = {master_pid}
    for task in Path(f"/proc/{master_pid}/task").glob("*/children"):
        servers.update(int(p) for p in task.read_text().split())
    postgres = redis = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if cmdline.startswith(b"postgres: ") and f" {database} ".encode() in cmdline:
            postgres += _proc_cpu(int(entry.name))
        elif cmdline.startswith(b"redis-server") or b"/redis-server" in cmdline.split(b" ")[0]:
            redis += _proc_cpu(int(entry.name))
    return {
        "busy": busy / tick,
        "server": sum(_proc_cpu(pid) for pid in servers) / tick,
        "postgres": postgres / tick,
        "redis": redis / tick,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(proc: subprocess.Popen, port: int, path: str, log_path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer on port {port} within {timeout}s:\n{log_path.read_text()[-3000:]}")


# ---------------------------------------------------------------------------------------------------- load


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    body: bytes | None
    headers: dict[str, str]


@dataclass
class Result:
    requests: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, one per answered request
    statuses: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds during the timed run, by who spent them

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _client_process(port, reqs, threads, ready, go, out) -> None:
    """One load process: `threads` keep-alive connections sharing `reqs`; sends back its timings."""
    counter = itertools.count()  # next() on a count is atomic under the GIL
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: list[str] = []
    lock = threading.Lock()

    def loop() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, codes, errs = [], {}, []
        while (i := next(counter)) < len(reqs):
            req = reqs[i]
            t0 = time.perf_counter()
            try:
                conn.request(req.method, req.path, body=req.body, headers=req.headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as exc:  # counted, never retried: the server may have it
                errs.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            mine.append(time.perf_counter() - t0)
            codes[response.status] = codes.get(response.status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            errors.extend(errs)
            for code, n in codes.items():
                statuses[code] = statuses.get(code, 0) + n

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    ready.put(True)
    go.wait()
    start, cpu = time.perf_counter(), time.process_time()  # perf_counter: CLOCK_MONOTONIC, same in every process
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.put((start, time.perf_counter(), latencies, statuses, errors, time.process_time() - cpu))


def run_load(
    port: int, reqs: list[Req], concurrency: int, clients: int, server_pid: int | None = None, database: str = ""
) -> Result:
    """Send every request in `reqs` over `concurrency` connections; wall time from the first send to the last answer."""
    ctx = multiprocessing.get_context("fork")
    clients = max(1, min(clients, concurrency, len(reqs)))
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = []
    for c in range(clients):
        share = reqs[c::clients]
        threads = concurrency // clients + (1 if c < concurrency % clients else 0)
        procs.append(ctx.Process(target=_client_process, args=(port, share, threads, ready, go, out), daemon=True))
    try:
        for p in procs:
            p.start()
        for _ in procs:
            ready.get(timeout=30)
        before = cpu_snapshot(server_pid, database)
        go.set()
        result, starts, ends, client_cpu = Result(requests=len(reqs)), [], [], 0.0
        for _ in procs:
            start, end, latencies, statuses, errors, cpu = out.get(timeout=600)
            client_cpu += cpu
            starts.append(start)
            ends.append(end)
            result.latencies.extend(latencies)
            result.errors.extend(errors)
            for code, n in statuses.items():
                result.statuses[code] = result.statuses.get(code, 0) + n
        result.seconds = max(ends) - min(starts)
        after = cpu_snapshot(server_pid, database)
        if before and after:
            spent = {key: after[key] - before[key] for key in after}
            result.cpu = {key: spent[key] for key in ("server", "postgres", "redis")}
            result.cpu["load"] = client_cpu
            result.cpu["rest"] = max(0.0, spent["busy"] - sum(result.cpu.values()))
        return result
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
            p.join()


# ---------------------------------------------------------------------------------------------------- data


def webhook_requests(account_key: str, n: int, run: str) -> list[Req]:
    """n solved-ticket events: each a new ticket, requester and event_id, signed now with the account's secret."""
    from plugin.db import utcnow

    occurred = utcnow().isoformat()
    reqs = []
    for i in range(n):
        ticket = f"{run}-{i}"
        body = json.dumps(
            {
                "event_id": uuid.uuid4().hex,
                "event": "ticket.solved",
                "occurred_at": occurred,
                "ticket": {"id": ticket, "subject": "Printer jammed", "url": f"https://desk.example/t/{ticket}"},
                "requester": {"email": f"customer-{ticket}@example.com", "name": "Casey Customer", "locale": "en"},
                "assignee": {"id": "7", "email": "alex@acme.example", "name": "Alex Agent"},
            }
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Helpdesk-Webhooks/1.0",
            signing.HEADER: signing.sign(WEBHOOK_SECRET, body),
        }
        reqs.append(Req("POST", f"/webhooks/generic/{account_key}", body, headers))
    return reqs


def click_requests(tokens: list[str]) -> list[Req]:
    headers = {  # what a browser sends when a person follows a link, so no click is marked as a scanner's
        "User-Agent": USER_AGENT,
        "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "Accept-Language": "en-US,en;q=0.9",
    }
    return [Req("GET", f"/r/{token}", None, headers) for token in tokens]


class Bench:
    """The benchmark database and Redis database, seeded through OpenCSAT's own code."""

    def __init__(self, postgres: str, dbname: str, redis_url: str, template: str | None = None) -> None:
        self.postgres, self.dbname, self.redis_url = postgres.rstrip("/"), dbname, redis_url
        self.template = template  # the grown database (bench/grow.py), copied for the run
        self.before: dict[str, int] = {}
        self.url = f"{self.postgres}/{dbname}".replace("postgresql://", "postgresql+psycopg://", 1)
        self.floor_url = f"{self.postgres}/{dbname}"
        self.app = None

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(f"{self.postgres}/postgres", autocommit=True) as conn:
            conn.execute(sql)

    def _redis(self):
        from redis import Redis

        return Redis.from_url(self.redis_url)

    def create(self) -> None:
        from plugin import create_app
        from plugin.cli import upgrade_database

        self._admin(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
        if self.template:
            self._admin(f'CREATE DATABASE "{self.dbname}" TEMPLATE "{self.template}"')
            upgrade_database(self.url, analyze=False)  # analyzed or not as the run asks (main)
        else:
            self._admin(f'CREATE DATABASE "{self.dbname}"')
            upgrade_database(self.url)
        import psycopg

        with psycopg.connect(self.floor_url, autocommit=True) as conn:  # the floor baseline's table
            conn.execute("CREATE TABLE bench_floor (id bigserial PRIMARY KEY, kind text, payload text)")
        self._redis().flushdb()
        self.app = create_app(self.config())

    def config(self) -> dict:
        return {
            "DATABASE_URL": self.url,
            "REDIS_URL": self.redis_url,
            "SMTP_URL": None,
            "SECRET_KEY": SECRET_KEY,
            "PUBLIC_URL": "https://csat.example",
            # All load comes from 127.0.0.1; real clicks come from many addresses. The limiter still runs
            # (and counts in Redis) on every click, it just never says 429 to the one benchmark client.
            "RATING_RATE_LIMIT": "1000000 per minute",
            "START_JOBS_THREAD": False,
        }

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("SMTP_URL", "FLASK_APP", "FLASK_DEBUG")}
        env.update({k: str(v) for k, v in self.config().items() if v is not None and k != "START_JOBS_THREAD"})
        return env

    def seed(self, surveys: int) -> tuple[str, list[str]]:
        """One generic account (delay 0) and `surveys` sent surveys; the account key and one rating link each."""
        from plugin.accounts import create_account
        from plugin.db import utcnow
        from plugin.models import Survey
        from plugin.services import services

        with self.app.app_context():
            s = services()
            with s.db.session() as session:
                account = create_account(
                    session,
                    s.box,
                    platform="generic",
                    name="Bench Support",
                    webhook_secret=WEBHOOK_SECRET,
                    delay_minutes=0,
                ).account
                key, account_id = account.key, account.id
                if self.template:
                    account_id = self._adopt_largest_account(session, account)
            sent = utcnow() - timedelta(hours=1)  # an hour ago: no click falls in a scanner's first minute
            rows = [
                Survey(
                    account_id=account_id,
                    ticket_id=f"S-{i}",
                    ticket_subject="Printer jammed",
                    requester_email=f"rater-{i}@example.com",
                    requester_name="Robin Rater",
                    locale="en",
                    agent_id="7",
                    agent_email="alex@acme.example",
                    agent_name="Alex Agent",
                    scale="csat5",
                    status="sent",
                    scheduled_at=sent,
                    sent_at=sent,
                    created_at=sent,
                )
                for i in range(surveys)
            ]
            with s.db.session() as session:
                session.add_all(rows)
                session.flush()
                ids = [row.id for row in rows]
            tokens = [s.tokens.rating(survey_id, 1 + survey_id % 5) for survey_id in ids]
        return key, tokens

    @staticmethod
    def _adopt_largest_account(session, account) -> int:
        """On the grown database the webhooks go to the account holding the most surveys: it takes the new
        account's key and secrets, and the new account row goes. Returns its id."""
        from sqlalchemy import delete, func, select, update

        from plugin.models import Account, Survey

        largest = session.scalar(
            select(Survey.account_id).group_by(Survey.account_id).order_by(func.count().desc()).limit(1)
        )
        fields = {
            c: getattr(account, c)
            for c in ("key", "name", "platform", "api_key_hash", "webhook_secret_encrypted", "delay_minutes")
        }
        session.execute(delete(Account).where(Account.id == account.id))
        session.flush()
        session.execute(update(Account).where(Account.id == largest).values(**fields))
        return largest

    def counts(self) -> dict[str, int]:
        from sqlalchemy import func, select, text

        from plugin.jobs import RQQueue
        from plugin.models import Click, Rating, Survey, WebhookEvent
        from plugin.services import services

        with self.app.app_context(), services().db.session() as session:
            counts = {
                "webhook_events": session.scalar(select(func.count()).select_from(WebhookEvent)),
                "surveys_scheduled": session.scalar(
                    select(func.count()).select_from(Survey).where(Survey.status == "scheduled")
                ),
                # Due at once (delay 0): what the next sweep offers to the workers (the webhook enqueues nothing).
                "surveys_due": session.scalar(
                    select(func.count())
                    .select_from(Survey)
                    .where(Survey.status == "scheduled", Survey.scheduled_at <= services().clock())
                ),
                "clicks": session.scalar(select(func.count()).select_from(Click)),
                "ratings": session.scalar(select(func.count()).select_from(Rating)),
                "ratings_pending": session.scalar(
                    select(func.count()).select_from(Rating).where(Rating.status == "pending")
                ),
                "floor_rows": session.scalar(text("SELECT count(*) FROM bench_floor")),
            }
        counts["queued_jobs"] = self._redis().llen(f"rq:queue:{RQQueue.QUEUE_NAME}")
        return {name: count - self.before.get(name, 0) for name, count in counts.items()}  # this run's rows

    def drop(self) -> None:
        if self.app is not None:
            from plugin.services import services

            with self.app.app_context():
                services().db.engine.dispose()
        try:
            self._redis().flushdb()
        finally:
            self._admin(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')


# ---------------------------------------------------------------------------------------------------- main


def serve_and_measure(children, name, argv, env, health_path, scenarios, args, logdir) -> dict[str, Result]:
    port = free_port()
    log_path = logdir / f"{name}.log"
    proc = children.start([*argv, "-b", f"127.0.0.1:{port}", *argv_app(name)], env, log_path)
    try:
        wait_until_serving(proc, port, health_path, log_path)
        results = {}
        for scenario, (warmup, timed) in scenarios.items():
            run_load(port, warmup(), args.concurrency, args.clients)
            results[scenario] = run_load(port, timed(), args.concurrency, args.clients, proc.pid, args.database)
            r = results[scenario]
            print(
                f"  {name:8} {scenario:16} {r.rps:8.0f} req/s  p50 {r.percentile(50) * 1000:6.1f} ms  "
                f"p99 {r.percentile(99) * 1000:6.1f} ms  answers {dict(sorted(r.statuses.items()))}"
                + (f"  errors {len(r.errors)}" if r.errors else ""),
                flush=True,
            )
        return results
    finally:
        children.stop(proc)


def argv_app(name: str) -> list[str]:
    if name in ("bare", "floor"):
        return ["--pythonpath", str(ROOT / "bench"), "bare_app:app"]
    return ["plugin:create_app()"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="timed requests per scenario and server")
    parser.add_argument("--warmup", type=int, default=300, help="untimed requests per scenario first")
    parser.add_argument("--concurrency", type=int, default=8, help="keep-alive connections in the closed loop")
    parser.add_argument("--clients", type=int, default=2, help="load-generator processes sharing the connections")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (both servers)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (both servers)")
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"))
    parser.add_argument("--database", default="opencsat_bench", help="database created for the run and dropped")
    parser.add_argument(
        "--grow",
        choices=("analyzed", "unanalyzed"),
        help="run on a copy of the grown database (bench/grow.py builds it once), with or without ANALYZE",
    )
    parser.add_argument("--grown-database", default=None, help="the grown database to copy (bench/grow.py --database)")
    parser.add_argument(
        "--profile", choices=("webhook", "click"), help="instead of the HTTP run: cProfile in-process requests"
    )
    parser.add_argument(
        "--only", choices=("webhook", "click"), help="time one scenario only (its baselines too); default: both"
    )
    args = parser.parse_args()

    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    argv = [gunicorn, "-w", str(args.workers), "-k", "gthread", "--threads", str(args.threads)]
    print(f"server command (both): {' '.join(Path(a).name if a == gunicorn else a for a in argv)} -b 127.0.0.1:<port>")
    print(
        f"load: {args.requests} timed + {args.warmup} warm-up requests per scenario, closed loop, "
        f"{args.concurrency} keep-alive connections over {args.clients} client processes; {os.cpu_count()} CPUs"
    )

    children = Children()
    template = None
    if args.grow:
        import grow

        template = args.grown_database or grow.DEFAULT_DATABASE
        grow.ensure(args.postgres.rstrip("/"), template, 1_000_000, 1000, 100_000)
    bench = Bench(args.postgres, args.database, args.redis_url, template)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    import tempfile

    with tempfile.TemporaryDirectory(prefix="opencsat-bench-") as tmp:
        logdir = Path(tmp)
        try:
            bench.create()
            n = args.warmup + args.requests
            account_key, tokens = bench.seed(2 * n)  # bare and OpenCSAT each click their own links
            if args.grow:
                import grow

                grow.forget_statistics(bench.postgres, bench.dbname)
                if args.grow == "analyzed":
                    grow.analyze(bench.postgres, bench.dbname)
                print(f"database: a copy of {template}, {args.grow}")
            bench.before = {}
            bench.before = bench.counts()
            bare_tokens, app_tokens = tokens[:n], tokens[n:]
            if args.profile:
                profile(bench, account_key, app_tokens, args.profile, args.requests)
                return 0

            def scenarios(tokens, run):
                every = {
                    "webhook ingest": (
                        lambda: webhook_requests(account_key, args.warmup, f"{run}w"),
                        lambda: webhook_requests(account_key, args.requests, f"{run}t"),
                    ),
                    "rating click": (
                        lambda: click_requests(tokens[: args.warmup]),
                        lambda: click_requests(tokens[args.warmup :]),
                    ),
                }
                chosen = {"webhook": "webhook ingest", "click": "rating click"}.get(args.only)
                return {name: timing for name, timing in every.items() if chosen in (None, name)}

            bare = serve_and_measure(
                children, "bare", argv, bench.env(), "/r/ping", scenarios(bare_tokens, "B"), args, logdir
            )
            floor_env = {**bench.env(), "BARE_DATABASE_URL": bench.floor_url}
            floor = serve_and_measure(
                children, "floor", argv, floor_env, "/r/ping", scenarios(bare_tokens, "F"), args, logdir
            )
            app = serve_and_measure(
                children, "opencsat", argv, bench.env(), "/healthz", scenarios(app_tokens, "O"), args, logdir
            )
            ok = report(bare, app, bench.counts(), args, floor)
        except BaseException:
            for log in sorted(logdir.glob("*.log")):
                tail = log.read_text(errors="replace")[-2000:]
                if tail.strip():
                    print(f"--- last lines of the {log.stem} server log ---\n{tail}", file=sys.stderr)
            raise
        finally:
            children.stop_all()
            bench.drop()
    return 0 if ok else 1


def profile(bench: Bench, account_key: str, tokens: list[str], scenario: str, n: int) -> None:
    """In-process (Flask test client, same PostgreSQL and Redis, no HTTP server): where one request's time goes."""
    import cProfile
    import pstats

    reqs = webhook_requests(account_key, n, "P") if scenario == "webhook" else click_requests(tokens[:n])
    redis = bench._redis()
    client = bench.app.test_client()
    warm = webhook_requests(account_key, 50, "PW") if scenario == "webhook" else click_requests(tokens[n : n + 50])
    for req in warm:
        client.open(req.path, method=req.method, data=req.body, headers=req.headers)
    # The first half without the profiler, through WSGI as gunicorn calls an app (no test client): this process's
    # CPU per request, beside the floor app's on the same requests (the database's own CPU is in neither).
    unprofiled, reqs = reqs[: n // 2], reqs[n // 2 :]
    os.environ["BARE_DATABASE_URL"] = bench.floor_url
    sys.path.insert(0, str(Path(__file__).parent))
    import bare_app

    floor_reqs = (
        webhook_requests(account_key, len(unprofiled), "F")
        if scenario == "webhook"
        else [Req("GET", req.path.replace("/r/", "/r/f"), b"", req.headers) for req in unprofiled]
    )
    # In ten alternating rounds, each figure the least of its rounds: what others' work on a shared machine adds
    # to a round (preemption, cache misses) is never less than nothing.
    rounds = 10
    floor_cpu = cpu = float("inf")
    for k in range(rounds):
        floor_cpu = min(floor_cpu, _wsgi_cpu(bare_app.app, floor_reqs[k::rounds]))
        cpu = min(cpu, _wsgi_cpu(bench.app, unprofiled[k::rounds]))
    n = len(reqs)
    redis_before = _redis_calls(redis)
    profiler = cProfile.Profile()
    start = time.perf_counter()
    _wsgi_cpu(bench.app, reqs, profiler)
    seconds = time.perf_counter() - start
    codes = {202 if scenario == "webhook" else 200: n}  # _wsgi_cpu asserts every answer was a 2xx
    redis_calls = _redis_calls(redis) - redis_before - 1  # minus our own INFO
    stats = pstats.Stats(profiler)
    # Counted at the driver, whichever way a statement went (a Session, or plugin/db.py run_one): every statement
    # is a round trip, and so is each BEGIN, COMMIT and ROLLBACK psycopg sends (none in autocommit).
    statements = _calls(stats, "psycopg/cursor.py", "execute")
    commands = _calls(stats, "psycopg/_connection_base.py", "_exec_command")
    print(
        f"{scenario}: {n} requests in-process, {seconds / n * 1000:.2f} ms each under cProfile, answers {codes}; "
        f"per request {statements / n:.1f} SQL statements, {commands / n:.1f} BEGIN/COMMIT/ROLLBACK, "
        f"{redis_calls / n:.1f} Redis commands"
    )
    print(
        f"without the profiler, through WSGI (the least of 10 rounds): {cpu * 1e6:.0f} µs of CPU per request in "
        f"this process; the floor app {floor_cpu * 1e6:.0f} µs; floor / opencsat = {floor_cpu / cpu:.2f}"
    )
    print(f"PostgreSQL round trips per request: {(statements + commands) / n:.1f}")
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("cumulative").print_stats("plugin/", 30)
    stats.sort_stats("tottime").print_stats(25)
    print("own time by package, per request:")
    for package, seconds in sorted(_by_package(stats).items(), key=lambda item: -item[1]):
        print(f"  {package:24} {seconds / n * 1e6:8.0f} µs")


def _wsgi_cpu(app, reqs: list[Req], profiler=None) -> float:
    """This process's CPU seconds per request, calling the WSGI app as a server would (environs built first), under
    `profiler` if given."""
    from werkzeug.test import EnvironBuilder

    environs = []
    for req in reqs:
        builder = EnvironBuilder(path=req.path, method=req.method, data=req.body or None, headers=req.headers)
        environs.append(builder.get_environ())
        builder.close()
    statuses: list[str] = []
    cpu = time.process_time()
    if profiler is not None:
        profiler.enable()
    for environ in environs:
        answer = app(environ, lambda status, _headers, _exc_info=None: statuses.append(status))
        for _chunk in answer:
            pass
        getattr(answer, "close", lambda: None)()
    if profiler is not None:
        profiler.disable()
    cpu = time.process_time() - cpu
    failed = [status for status in statuses if not status.startswith("20")]
    assert not failed, f"{len(failed)} of {len(statuses)} answered {failed[0]}"
    return cpu / len(reqs)


def _calls(stats, file_ending: str, function: str) -> int:
    return sum(
        calls for (filename, _line, name), (calls, *_rest) in stats.stats.items()
        if filename.endswith(file_ending) and name == function
    )  # fmt: skip


def _by_package(stats) -> dict[str, float]:
    """cProfile's own time summed by the package a function lives in (site-packages' top level, the plugin, ...)."""
    totals: dict[str, float] = {}
    for (filename, _line, _name), (_calls, _primitive, own, _cumulative, _callers) in stats.stats.items():
        if "site-packages/" in filename:
            package = filename.split("site-packages/", 1)[1].split("/", 1)[0]
        elif "/plugin/" in filename:
            package = "plugin/" + filename.split("/plugin/", 1)[1].split("/", 1)[0]
        elif filename.startswith("~") or filename.startswith("<"):
            package = "builtins"
        else:
            package = "stdlib"
        totals[package] = totals.get(package, 0.0) + own
    return totals


def _redis_calls(redis) -> int:
    return sum(v["calls"] for v in redis.info("commandstats").values())


def report(
    bare: dict[str, Result], app: dict[str, Result], counts: dict[str, int], args, floor: dict[str, Result]
) -> bool:
    print()
    header = (
        f"{'scenario':16} {'bare req/s':>10} {'opencsat req/s':>14} {'ratio':>6} "
        f"{'bare p50':>9} {'opencsat p50':>12} {'bare p99':>9} {'opencsat p99':>12} {'p99 ratio':>9}"
    )
    print(header)
    print("-" * len(header))
    for scenario in bare:
        b, o = bare[scenario], app[scenario]
        print(
            f"{scenario:16} {b.rps:10.0f} {o.rps:14.0f} {o.rps / b.rps:6.2f} "
            f"{b.percentile(50) * 1000:6.1f} ms {o.percentile(50) * 1000:9.1f} ms "
            f"{b.percentile(99) * 1000:6.1f} ms {o.percentile(99) * 1000:9.1f} ms "
            f"{b.percentile(99) / o.percentile(99):9.2f}"
        )
    print("ratio = opencsat req/s / bare req/s; p99 ratio = bare p99 / opencsat p99 (both: 1.0 = as fast as bare)")
    print()
    print(
        f"{'scenario':16} {'floor req/s':>11} {'opencsat req/s':>14} {'ratio':>6} "
        f"{'floor p99':>10} {'opencsat p99':>12}"
    )
    for scenario in floor:
        f, o = floor[scenario], app[scenario]
        print(
            f"{scenario:16} {f.rps:11.0f} {o.rps:14.0f} {o.rps / f.rps:6.2f} "
            f"{f.percentile(99) * 1000:7.1f} ms {o.percentile(99) * 1000:9.1f} ms"
        )
    print("floor = the bare app that also INSERTs and commits one row per request with plain psycopg")
    print()
    if all(r.cpu for r in (*bare.values(), *floor.values(), *app.values())):
        print("CPU per request in ms (timed runs; everything shares the same cores, so the sum bounds req/s):")
        cols = ("server", "postgres", "redis", "load", "rest")
        print(f"  {'scenario':16} {'app':9}" + "".join(f"{c:>9}" for c in (*cols, "total")))
        for scenario in bare:
            for name, r in (("bare", bare[scenario]), ("floor", floor[scenario]), ("opencsat", app[scenario])):
                per = {k: v / len(r.latencies) * 1000 for k, v in r.cpu.items()}
                cells = "".join(f"{per[c]:9.2f}" for c in cols) + f"{sum(per.values()):9.2f}"
                print(f"  {scenario:16} {name:9}{cells}")
        print("  server: gunicorn master + workers; postgres: backends of the benchmark database; load: this script's")
        print("  client processes; rest: the rest of the machine during the run (kernel, other processes)")
        # On a CPU-bound machine req/s is cores / CPU per request: the ratio of the CPU the two servers and their
        # services spend per request (without "rest", which other work on the machine adds) is what the req/s
        # ratio becomes on a quiet machine. An estimate beside the measured ratio, never instead of it.
        for scenario in bare:
            own = {name: sum(r.cpu[c] for c in cols if c != "rest") / len(r.latencies) for name, r in (
                ("floor", floor[scenario]), ("opencsat", app[scenario]))}  # fmt: skip
            print(
                f"  {scenario}: floor / opencsat CPU per request (server+postgres+redis+load) = "
                f"{own['floor'] / own['opencsat']:.2f} (the req/s ratio a quiet machine would give)"
            )
        busy = [r for r in (*bare.values(), *app.values()) if r.cpu["rest"] > 0.2 * sum(r.cpu.values())]
        if busy:
            print("  WARNING: other processes took more than a fifth of the CPU during a timed run; the figures are")
            print("  lower than this machine can do. Run again on a quiet machine.")
        print()

    # The figure is only worth something if the work was done: every answer expected, every row and job there.
    n = args.warmup + args.requests
    webhooks, clicks = "webhook ingest" in app, "rating click" in app  # --only times one of them
    checks = [("floor rows (incl. warm-up)", counts["floor_rows"], (webhooks + clicks) * n)]
    if webhooks:
        checks += [
            ("bare webhook answers 202", bare["webhook ingest"].statuses.get(202, 0), args.requests),
            ("floor webhook answers 202", floor["webhook ingest"].statuses.get(202, 0), args.requests),
            ("opencsat webhook answers 202", app["webhook ingest"].statuses.get(202, 0), args.requests),
            ("webhook_events rows (incl. warm-up)", counts["webhook_events"], n),
            ("surveys scheduled by webhooks", counts["surveys_scheduled"], n),
            ("of which due now, for the sweep to offer", counts["surveys_due"], n),
        ]
    if clicks:
        checks += [
            ("bare click answers 200", bare["rating click"].statuses.get(200, 0), args.requests),
            ("opencsat click answers 200", app["rating click"].statuses.get(200, 0), args.requests),
            ("click rows (incl. warm-up)", counts["clicks"], n),
            ("ratings started by clicks", counts["ratings"], n),
            ("of which pending (a person's click, not marked as a scanner's)", counts["ratings_pending"], n),
        ]
    ok = True
    print("correctness (after the run):")
    for label, got, expected in checks:
        good = got == expected
        ok &= good
        print(f"  {'ok ' if good else 'BAD'} {label}: {got} (expected {expected})")
    errors = sum(len(r.errors) for r in (*bare.values(), *app.values()))
    if errors:
        ok = False
        print(f"  BAD transport errors: {errors}")
    return ok


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; servers stopped and benchmark database dropped", file=sys.stderr)
        sys.exit(130)
