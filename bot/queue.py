"""Durable jobs: enqueued once by key in the store, run by worker threads, retried with backoff.

A job that raises `RetryLater` (or any unexpected exception) runs again after a growing delay;
a job left running by a crash runs again after a restart (`release_running_jobs`) or when its
lease ends. Handlers must therefore be idempotent, which the Stripe idempotency keys and the
forward-only invoice state make them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from bot.store import Job, Store

logger = logging.getLogger(__name__)

JobHandler = Callable[[Job], None]


class RetryLater(Exception):
    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.delay = delay


class GiveUp(Exception):
    """The job can never succeed; it is marked failed without further retries."""


def backoff(attempt: int, base: float = 0.5, cap: float = 300.0) -> float:
    return min(cap, base * (2 ** max(0, attempt - 1)))


class Worker:
    """A small pool of threads draining the store's job table."""

    def __init__(self, store: Store, handlers: dict[str, JobHandler], *, threads: int = 4,
                 max_attempts: int = 12, poll_interval: float = 0.05,
                 on_give_up: Callable[[Job, str], None] | None = None) -> None:
        self.store = store
        self.handlers = handlers
        self.threads = threads
        self.max_attempts = max_attempts
        self.poll_interval = poll_interval
        self.on_give_up = on_give_up
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._pool: list[threading.Thread] = []
        self._busy = 0
        self._busy_lock = threading.Lock()

    def start(self) -> None:
        released = self.store.release_running_jobs()
        if released:
            logger.info("resuming %d job(s) interrupted by the last shutdown", released)
        for number in range(self.threads):
            thread = threading.Thread(target=self._run, name=f"invoicebot-worker-{number}", daemon=True)
            thread.start()
            self._pool.append(thread)

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming jobs and wait for the ones in flight (SIGTERM drains)."""
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._pool:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._pool.clear()

    def idle(self) -> bool:
        with self._busy_lock:
            busy = self._busy
        return busy == 0 and not self.store.job_counts()["due"]

    def wait_idle(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.idle():
                return True
            time.sleep(0.02)
        return False

    def _run(self) -> None:
        while not self._stop.is_set():
            job = self.store.claim_job(tuple(self.handlers))
            if job is None:
                self._wake.wait(self.poll_interval)
                self._wake.clear()
                continue
            with self._busy_lock:
                self._busy += 1
            try:
                self.run_job(job)
            finally:
                with self._busy_lock:
                    self._busy -= 1

    def run_job(self, job: Job) -> None:
        handler = self.handlers[job.kind]
        try:
            handler(job)
        except GiveUp as error:
            logger.error("job %s (%s) failed for good: %s", job.key, job.kind, error)
            self.store.fail_job(job.id, str(error))
            self._give_up(job, str(error))
        except Exception as error:  # noqa: BLE001 - any failure is retried; the log keeps the trace
            delay = error.delay if isinstance(error, RetryLater) and error.delay is not None else backoff(job.attempts)
            if job.attempts >= self.max_attempts:
                logger.exception("job %s (%s) gave up after %d attempts", job.key, job.kind, job.attempts)
                self.store.fail_job(job.id, repr(error))
                self._give_up(job, str(error))
                return
            if isinstance(error, RetryLater):
                logger.warning("job %s (%s) will retry in %.1fs: %s", job.key, job.kind, delay, error)
            else:
                logger.exception("job %s (%s) failed; retrying in %.1fs", job.key, job.kind, delay)
            self.store.retry_job(job.id, delay, repr(error))
        else:
            self.store.complete_job(job.id)

    def _give_up(self, job: Job, reason: str) -> None:
        if self.on_give_up is None:
            return
        try:
            self.on_give_up(job, reason)
        except Exception:
            logger.exception("could not report the failed job %s", job.key)

