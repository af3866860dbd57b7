"""Carrying work to workers: RQ on Redis when REDIS_URL is set, else a thread inside the web process.

Either way a job is (task name, row id) with a deterministic job id, and the database row says what is
due, so a lost job is re-derived by the next sweep (plugin.jobs.sweep).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)

TASKS = (
    "complete_event",
    "send_survey",
    "settle_rating",
    "deliver_write_back",
    "send_alert",
    "deliver_webhook",
    "send_digest",
)


def job_id(task: str, object_id: int) -> str:
    return f"{task}-{object_id}"


class JobQueue(Protocol):
    def enqueue(self, task: str, object_id: int) -> None: ...


class RQQueue:
    """Jobs in Redis for `flask --app plugin worker` processes."""

    QUEUE_NAME = "opencsat"

    def __init__(self, redis_url: str) -> None:
        from redis import Redis
        from rq import Queue

        self.redis = Redis.from_url(redis_url)
        self.queue = Queue(self.QUEUE_NAME, connection=self.redis)

    def enqueue(self, task: str, object_id: int) -> None:
        from rq.exceptions import DuplicateJobError

        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}")
        try:
            # result_ttl=0 drops the job once done, so the same id can be enqueued again for later work.
            self.queue.enqueue_call(
                f"plugin.jobs.tasks.{task}",
                args=(object_id,),
                job_id=job_id(task, object_id),
                unique=True,
                result_ttl=0,
                failure_ttl=3600,
                timeout=120,
            )
        except DuplicateJobError:
            pass  # already waiting: the job re-reads the row when it runs


class LocalQueue:
    """Jobs in memory, run by one thread of the web process (or by `drain()`, synchronously)."""

    def __init__(self, run: Callable[[str, int], None], sweep: Callable[[], None], sweep_seconds: int) -> None:
        self._run, self._sweep, self._sweep_seconds = run, sweep, sweep_seconds
        self._pending: OrderedDict[str, tuple[str, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def enqueue(self, task: str, object_id: int) -> None:
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}")
        with self._lock:
            self._pending.setdefault(job_id(task, object_id), (task, object_id))
        self._wake.set()

    def drain(self) -> int:
        """Run every pending job (and those they enqueue) in this thread; returns how many ran."""
        ran = 0
        while True:
            with self._lock:
                if not self._pending:
                    return ran
                _, (task, object_id) = self._pending.popitem(last=False)
            self._run(task, object_id)
            ran += 1

    def start(self) -> None:
        """Start the background thread once: it sweeps every few seconds and runs what is queued."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._loop, name="opencsat-jobs", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            self._wake.wait(self._sweep_seconds)
            self._wake.clear()
            try:
                self._sweep()
                self.drain()
            except Exception:  # the rows stay due, so the next sweep tries again
                log.exception("in-process job failed")
