"""The production topology on loopback, as the Procfile runs it: gunicorn web processes, `flask --app plugin
worker` processes, PostgreSQL, Redis, an SMTP sink that can refuse or stop, a helpdesk that can fail.

Every process binds 127.0.0.1 (the Procfile's 0.0.0.0 is replaced) on a free port, writes its log under the
test's tmp directory, and is stopped (SIGKILL at the latest) when the topology is closed.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from aiosmtpd.controller import Controller

from tests.emulators.base import Emulator, Request, Response
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


def procfile_command(kind: str, env: dict[str, str]) -> list[str]:
    """The Procfile's command for `kind`, its ${VAR:-default} expanded from `env`, bound to loopback."""
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith(f"{kind}:"))
    command = line.split(":", 1)[1].strip()
    command = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m.group(1), m.group(2)), command)
    args = [arg.replace("0.0.0.0", "127.0.0.1") for arg in shlex.split(command)]
    return [sys.executable, "-m", args[0], *args[1:]]  # the venv's gunicorn / flask, whatever PATH says


class Process:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name, self.log = name, log_dir / f"{name}.log"
        self.popen = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
        )

    def signal(self, sig: int) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 15) -> int | None:
        self.signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            return self.popen.wait(5)


class _Sink:
    """aiosmtpd handler: keeps every message; can answer RCPT slowly (seeded) or with a temporary refusal."""

    def __init__(self, rng: random.Random) -> None:
        self.rng, self.lock = rng, threading.Lock()
        self.messages: list[bytes] = []
        self.refuse: str | None = None
        self.delay = (0.0, 0.0)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd API)
        with self.lock:
            delay = self.rng.uniform(*self.delay)
        await asyncio.sleep(delay)
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        with self.lock:
            self.messages.append(envelope.content)
        return "250 Message accepted for delivery"


class SMTPSink:
    """A real SMTP server on a fixed loopback port that can be stopped and started again."""

    def __init__(self, rng: random.Random) -> None:
        self.port, self.handler, self.controller = free_port(), _Sink(rng), None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> SMTPSink:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def message_ids(self) -> list[str]:
        with self.handler.lock:
            raw = list(self.handler.messages)
        return [m.group(1).decode() for m in (re.search(rb"Message-ID: (<[^>]+>)", body) for body in raw) if m]


class Helpdesk(Emulator):
    """The generic platform's callback (docs/platforms/generic.md): records each call and what it answered."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[tuple[str, int]] = []  # (ticket id, status we answered)

    def handle(self, request: Request, body: object) -> Response:
        return 200, {"ok": True}, {}

    def serve(self, request: Request) -> Response:
        status, body, headers = super().serve(request)
        parsed = request.json()
        ticket = parsed.get("rating", {}).get("ticket_id") if isinstance(parsed, dict) else None
        with self._lock:
            self.answers.append((str(ticket), status))
        return status, body, headers

    def delivered(self) -> dict[str, int]:
        """Ticket id -> how many times a write-back for it was answered 2xx."""
        counts: dict[str, int] = {}
        with self._lock:
            for ticket, status in self.answers:
                if 200 <= status < 300:
                    counts[ticket] = counts.get(ticket, 0) + 1
        return counts


class Topology:
    """Web and worker processes sharing one environment; started and stopped by the fault suite."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env, self.log_dir = env, log_dir
        self.webs: dict[str, tuple[Process, str]] = {}
        self.workers: list[Process] = []
        self._count = 0

    def start_web(self, name: str, processes: int = 2, **overrides: str) -> str:
        """A gunicorn master from the Procfile with `processes` workers; returns its base URL once it answers."""
        port = int(overrides.pop("PORT", 0)) or free_port()
        env = {**self.env, "PORT": str(port), "WEB_CONCURRENCY": str(processes), **overrides}
        process = Process(name, procfile_command("web", env), env, self.log_dir)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(url + "/healthz", timeout=2).status_code == 200:
                    self.webs[name] = (process, url)
                    return url
            except requests.RequestException:
                pass
            if process.popen.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"{name} did not start; see {process.log}")

    def stop_web(self, name: str) -> None:
        process, _ = self.webs.pop(name)
        process.stop()

    def start_worker(self) -> Process:
        self._count += 1
        worker = Process(f"worker-{self._count}", procfile_command("worker", self.env), self.env, self.log_dir)
        self.workers.append(worker)
        return worker

    def live_workers(self) -> list[Process]:
        return [w for w in self.workers if w.popen.poll() is None]

    def close(self) -> None:
        for process, _ in self.webs.values():
            process.stop()
        for worker in self.workers:
            worker.stop()
