"""Carrying work to workers: RQ on Redis when REDIS_URL is set, else a thread inside the web process.

Either way a job is (task name, row id) with a deterministic job id, and the database row says what is
due, so a lost job is re-derived by the next sweep (plugin.jobs.sweep).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
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
    "verify_signature",
    "send_channel_message",
    "check_sidebar_access",
    "send_digest",
    "join_sms_parts",
)


def job_id(task: str, object_id: int) -> str:
    return f"{task}-{object_id}"


class JobQueue(Protocol):
    def enqueue(self, task: str, object_id: int) -> bool: ...

    def started(self, task: str, object_id: int) -> None: ...

    def take_turn(self, name: str, seconds: int) -> bool: ...


class RQQueue:
    """Jobs in Redis for `flask --app plugin worker` processes: a carrier only, never the judge of what is due.

    Nothing here can refuse work the database says is due for longer than OFFERED_SECONDS: a job record left
    `started` by a killed worker, or `failed`, has a random id and blocks nothing. The only de-duplication is an
    "offered" marker (SET NX with a short expiry) so that a sweep does not pile a second copy behind one still
    waiting; the job deletes it as it starts. Idempotency is the rows' (claims with a lease, conditional updates).
    """

    QUEUE_NAME = "opencsat"
    OFFERED_SECONDS = 60  # shorter than every lease (2-5 minutes), so a stale marker never outlives a claim
    MARKER = "opencsat:offered:"
    TURN = "opencsat:turn:"

    def __init__(self, redis_url: str, offered_seconds: int = OFFERED_SECONDS) -> None:
        from redis import Redis
        from rq import Queue

        self.offered_seconds = offered_seconds
        # Short timeouts: Redis away must cost a request milliseconds, not a hung worker thread.
        self.redis = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
        self.queue = Queue(self.QUEUE_NAME, connection=self.redis)

    def enqueue(self, task: str, object_id: int) -> bool:
        """Offer the job; False (logged) when Redis cannot take it: the row stays due and the next sweep retries."""
        from redis.exceptions import RedisError

        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}")
        marker = self.MARKER + job_id(task, object_id)
        try:
            if not self.redis.set(marker, 1, nx=True, ex=self.offered_seconds):
                return True  # a copy is waiting in the queue; it re-reads the row when it runs
            self.queue.enqueue_call(
                "plugin.jobs.tasks.run",
                args=(task, object_id),
                description=job_id(task, object_id),
                result_ttl=0,
                failure_ttl=24 * 3600,  # kept for a person to read; with a random id it blocks nothing
                timeout=120,
            )
        except RedisError as exc:
            log.warning("could not enqueue %s (the sweep will offer it again): %s", job_id(task, object_id), exc)
            return False
        return True

    def started(self, task: str, object_id: int) -> None:
        """The job is running: the next sweep may offer it again (it will find the row leased, or due again)."""
        from redis.exceptions import RedisError

        try:
            self.redis.delete(self.MARKER + job_id(task, object_id))
        except RedisError:
            pass  # the marker expires by itself

    def take_turn(self, name: str, seconds: int) -> bool:
        """Whether this process does `name` (the sweep, the prune) now: one process per `seconds` across every
        worker on this Redis (SET NX with that expiry, never released early, so a sweeper that dies frees it
        by itself). False when Redis is away: nothing could be enqueued anyway."""
        from redis.exceptions import RedisError

        try:
            return bool(self.redis.set(self.TURN + name, uuid.uuid4().hex, nx=True, ex=max(1, seconds)))
        except RedisError:
            return False


class LocalQueue:
    """Jobs in memory, run by one thread of the web process (or by `drain()`, synchronously)."""

    def __init__(self, run: Callable[[str, int], None], sweep: Callable[[], None], sweep_seconds: int) -> None:
        self._run, self._sweep, self._sweep_seconds = run, sweep, sweep_seconds
        self._pending: OrderedDict[str, tuple[str, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._turns: dict[str, float] = {}

    def enqueue(self, task: str, object_id: int) -> bool:
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}")
        with self._lock:
            self._pending.setdefault(job_id(task, object_id), (task, object_id))
        self._wake.set()
        return True

    def started(self, task: str, object_id: int) -> None:
        pass  # popped from _pending as it starts

    def take_turn(self, name: str, seconds: int) -> bool:
        """One process is the only sweeper here: a turn is due when `seconds` have passed since the last."""
        with self._lock:
            now = time.monotonic()
            if now < self._turns.get(name, float("-inf")) + seconds:
                return False
            self._turns[name] = now
            return True

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
