"""Instructions per request, OpenCSAT against the floor app, counted by valgrind: a figure a busy machine cannot move.

    .venv/bin/python bench/instructions.py [--requests N] [--only webhook|click] [--database NAME] [--redis-url URL]

CPU time on a shared virtual machine swings by up to 2x between identical runs (the other core, the host's other
guests), more than most changes move it. Instructions do not: callgrind counts what the CPU is asked to do, the
same for the same code and inputs however busy the machine is. So this benchmark is the one to compare two
versions of the code with; bench/http_throughput.py stays the one that says what the machine serves.

One run does, in order:
  1. creates a PostgreSQL database of its own, migrates it and seeds it as http_throughput.py does (one generic
     account, one sent survey per click to come), and the floor app's table;
  2. for each scenario (a signed webhook, a first click on a rating link) and each app (OpenCSAT, and the floor:
     bench/bare_app.py storing one row with plain psycopg), runs two child processes under
     `valgrind --tool=callgrind`: each builds the app, sends it W warm-up requests and then N (or 2N) requests
     through WSGI in-process, as a server calls it. Every request is a new one (event, survey);
  3. prints instructions per request, (count with 2N - count with N) / N, so start-up and warm-up cancel out,
     and the floor / OpenCSAT ratio; each child checks every answer was a 2xx.

What it does not count: PostgreSQL's and Redis's own work (other processes), and the HTTP server. The figure is
this process's share of a request, the part our code decides.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from http_throughput import Bench, Req, click_requests, webhook_requests  # noqa: E402

COLLECTED = re.compile(r"Collected : (\d+)")


def child(spec_path: str) -> None:
    """In a valgrind child: build the app the spec names, send it every request through WSGI, check the answers."""
    from werkzeug.test import EnvironBuilder

    spec = pickle.loads(Path(spec_path).read_bytes())
    if spec["app"] == "floor":
        os.environ["BARE_DATABASE_URL"] = spec["floor_url"]
        import bare_app

        app = bare_app.app
    else:
        from plugin import create_app

        app = create_app(spec["config"])
    environs = []
    for req in spec["requests"]:
        builder = EnvironBuilder(path=req.path, method=req.method, data=req.body or None, headers=req.headers)
        environs.append(builder.get_environ())
        builder.close()
    statuses: list[str] = []
    for environ in environs:
        answer = app(environ, lambda status, _headers, _exc_info=None: statuses.append(status))
        for _chunk in answer:
            pass
        getattr(answer, "close", lambda: None)()
    failed = [status for status in statuses if not status.startswith("20")]
    if failed:
        sys.exit(f"{len(failed)} of {len(statuses)} answered {failed[0]}")


def count(spec: dict, workdir: Path, name: str) -> int:
    """Instructions a child process ran for `spec`, as callgrind totals them."""
    spec_path = workdir / f"{name}.pickle"
    spec_path.write_bytes(pickle.dumps({**spec, "requests": spec["requests"]()}))
    return instructions_of([sys.executable, str(Path(__file__).resolve()), "--child", str(spec_path)], os.environ)


def instructions_of(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> int:
    """The instructions the process `argv` ran, start to exit, as callgrind totals them (bench/dispatch.py too)."""
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="opencsat-callgrind-") as tmp:
        valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/out"]
        env = {**env, "PYTHONHASHSEED": "0"}  # the same dict layouts, run after run
        done = subprocess.run([*valgrind, *argv], env=env, cwd=cwd, capture_output=True, text=True, check=False)
    found = COLLECTED.search(done.stderr)
    if done.returncode or not found:
        sys.exit(f"{' '.join(argv)}: failed under valgrind ({done.returncode}):\n{done.stderr[-3000:]}")
    return int(found.group(1))


def _clicks(tokens: list[str], floor: bool) -> list[Req]:
    requests = click_requests(tokens)
    if floor:  # the floor app's click route, the same links
        requests = [Req("GET", r.path.replace("/r/", "/r/f"), None, r.headers) for r in requests]
    return requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100, help="N: the measured requests of the smaller child")
    parser.add_argument("--warmup", type=int, default=30, help="requests each child sends before the measured ones")
    parser.add_argument("--only", choices=("webhook", "click"), help="one scenario only; default: both")
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
    parser.add_argument("--database", default="opencsat_bench_instructions", help="created for the run and dropped")
    args = parser.parse_args()
    n, warm = args.requests, args.warmup
    scenarios = [args.only] if args.only else ["webhook", "click"]

    bench = Bench(args.postgres, args.database, args.redis_url)
    per_child = {1: warm + n, 2: warm + 2 * n}
    try:
        bench.create()
        # Each of the four click children (two apps, N and 2N) opens links of its own: first clicks, every one.
        account_key, tokens = bench.seed(2 * (per_child[1] + per_child[2]))
        tokens_left = iter(tokens)
        jobs = {}
        for scenario in scenarios:
            for app in ("floor", "opencsat"):
                for times, size in per_child.items():
                    if scenario == "webhook":  # signed as the child starts: the signature is good for 5 minutes
                        requests = partial(webhook_requests, account_key, size, f"{app[0]}{times}")
                    else:
                        requests = partial(_clicks, [next(tokens_left) for _ in range(size)], app == "floor")
                    jobs[(scenario, app, times)] = {
                        "app": app, "config": bench.config(), "floor_url": bench.floor_url, "requests": requests,
                    }  # fmt: skip
        print(f"valgrind --tool=callgrind: {len(jobs)} children, {warm} warm-up + {n} or {2 * n} requests each")
        with tempfile.TemporaryDirectory(prefix="opencsat-instructions-") as tmp, ThreadPoolExecutor(2) as pool:
            futures = {key: pool.submit(count, spec, Path(tmp), "-".join(map(str, key))) for key, spec in jobs.items()}
            counts = {key: future.result() for key, future in futures.items()}
    finally:
        bench.drop()

    print(f"\n{'scenario':10} {'floor':>16} {'opencsat':>16} {'floor / opencsat':>18}   (instructions per request)")
    for scenario in scenarios:
        floor, ours = ((counts[(scenario, app, 2)] - counts[(scenario, app, 1)]) / n for app in ("floor", "opencsat"))
        print(f"{scenario:10} {floor:16,.0f} {ours:16,.0f} {floor / ours:18.2f}")
    print("this process's instructions only: PostgreSQL, Redis and the HTTP server are not in them")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        sys.path.insert(0, str(BENCH.parent))
        child(sys.argv[2])
    else:
        sys.exit(main())
