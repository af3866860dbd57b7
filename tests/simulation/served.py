"""OpenCSAT served as production serves it: gunicorn with several workers and threads, on 127.0.0.1, port 0.

Used by the traffic tests that need real parallelism (several processes, several threads each, one database).
The server gets a session of its own so that the master and its workers stop together.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
LISTENING = re.compile(rb"Listening at: http://127\.0\.0\.1:(\d+)")


@contextmanager
def gunicorn(env: dict[str, str], log_path: Path, *, workers: int = 3, threads: int = 4) -> Iterator[str]:
    """Serve `plugin:create_app()` with `env` (DATABASE_URL, SECRET_KEY, ...); yields the base URL."""
    argv = [
        str(Path(sys.executable).with_name("gunicorn")),
        "--bind", "127.0.0.1:0",
        "--workers", str(workers),
        "--threads", str(threads),
        "--worker-class", "gthread",
        "--graceful-timeout", "5",
        "plugin:create_app()",
    ]  # fmt: skip
    full_env = {key: value for key, value in os.environ.items() if not key.startswith("OPENCSAT_")}
    full_env.update(env)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            base = _wait_until_serving(proc, log_path, workers)
            yield base
        finally:
            _stop(proc)


def _wait_until_serving(proc: subprocess.Popen, log_path: Path, workers: int, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    base = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        text = log_path.read_bytes()
        found = LISTENING.search(text)
        if found and text.count(b"Booting worker") >= workers:
            base = f"http://127.0.0.1:{int(found.group(1))}"
            try:
                requests.get(f"{base}/healthz", timeout=5)
                return base
            except requests.RequestException:
                pass
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not serve within {timeout}s:\n{log_path.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGINT)  # quick shutdown: nothing to finish in a test
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # any worker left behind
    except ProcessLookupError:
        pass
    proc.wait()
