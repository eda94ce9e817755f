"""Workers: threads per lane draining the job queue, under a supervisor.

- Each lane has threads of its own, so a backlog in one lane never delays another.
- A claim is a lease; a housekeeping thread renews the leases of every job in flight (a job may
  take minutes of slow Stripe calls) and notices a lease it lost. Jobs of a dead process are
  recovered when their leases run out, never earlier.
- A worker loop that fails (say, the database is locked for longer than the busy timeout) is
  restarted after a pause; meanwhile `health()` says so, and so does `/healthz`.
- The housekeeper also runs the scheduler's tick, so periodic jobs are queued whatever happened
  to their last run.
- What a failure means is decided here, once: `Defer` waits without spending an attempt, a
  retryable `ExternalFailure` (or an unexpected error) is retried with backoff until the job's
  attempts run out, `GiveUp` and non-retryable failures fail the job and call its give-up handler.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from bot.errors import Defer, ExternalFailure, GiveUp
from bot.jobs.model import EVERY_LANE, Job, Lane
from bot.jobs.ports import JobQueue
from bot.jobs.registry import JobSpec, Registries, UnknownTenant
from bot.jobs.schedule import Scheduler
from bot.metrics import Metrics

logger = logging.getLogger(__name__)


def backoff(attempt: int, base: float = 0.5, cap: float = 300.0) -> float:
    return float(min(cap, base * (2 ** max(0, attempt - 1))))


@dataclass(frozen=True)
class LaneConfig:
    lane: Lane
    threads: int = 1
    batch: int = 1  # jobs claimed at once; kinds with a `run_batch` run them together


@dataclass
class _Slot:
    name: str
    lane: str
    thread: threading.Thread | None = None
    state: str = "starting"  # idle | busy | restarting | stopped
    restarts: int = 0
    last_error: str | None = None


@dataclass(frozen=True)
class WorkerHealth:
    threads: int
    alive: int
    restarting: list[str] = field(default_factory=list)
    restarts: int = 0
    housekeeper_alive: bool = True

    @property
    def ok(self) -> bool:
        return self.alive == self.threads and not self.restarting and self.housekeeper_alive

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "threads": self.threads, "alive": self.alive, "restarting": self.restarting,
                "restarts": self.restarts, "housekeeper_alive": self.housekeeper_alive}


class _Signal:
    """Wakes one lane's idle threads; a wake that comes between a claim and the wait is not lost."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._generation = 0

    def mark(self) -> int:
        with self._condition:
            return self._generation

    def set(self) -> None:
        with self._condition:
            self._generation += 1
            self._condition.notify_all()

    def wait(self, seen: int, timeout: float) -> None:
        with self._condition:
            if self._generation == seen:
                self._condition.wait(timeout)


class LaneSignals:
    """Wake-ups per lane: the store rings them when it commits new jobs; idle workers wait on them."""

    def __init__(self) -> None:
        self._signals = {lane: _Signal() for lane in [*Lane, EVERY_LANE]}

    def __getitem__(self, lane: str) -> _Signal:
        return self._signals[lane]

    def wake(self, lanes: Iterable[str] | None = None) -> None:
        for lane in self._signals if lanes is None else [*lanes, EVERY_LANE]:
            signal = self._signals.get(lane)
            if signal is not None:
                signal.set()


class Workers:
    def __init__(self, queue: JobQueue, registry: Registries, lanes: Sequence[LaneConfig], *,
                 signals: LaneSignals | None = None,
                 lease_seconds: float = 30.0, max_attempts: int = 12, poll_interval: float = 0.5,
                 restart_delay: float = 1.0, scheduler: Scheduler | None = None,
                 schedule_interval: float = 30.0, owner: str | None = None, metrics: Metrics | None = None,
                 single_fifo: bool = False) -> None:
        self.queue = queue
        self.metrics = metrics or Metrics()
        self.registry = registry
        self.lanes = list(lanes)
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.poll_interval = poll_interval
        self.restart_delay = restart_delay
        self.scheduler = scheduler
        self.schedule_interval = schedule_interval
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.signals = signals or LaneSignals()
        self._lanes = {config.lane.value for config in self.lanes}
        self._slots = [_Slot(f"{config.lane.value}-{number}", config.lane.value)
                       for config in self.lanes for number in range(config.threads)]
        self._batch = {config.lane.value: max(1, config.batch) for config in self.lanes}
        if single_fifo:  # the benchmark's baseline: as many threads, one line, one job at a time
            self._lanes = {lane.value for lane in Lane}
            self._slots = [_Slot(f"fifo-{number}", EVERY_LANE) for number in range(len(self._slots))]
            self._batch = {EVERY_LANE: 1}
        self._stopping = threading.Event()
        self._held: dict[int, Job] = {}  # jobs in flight, by id; their leases are renewed
        self._held_lock = threading.Lock()
        self._housekeeper: threading.Thread | None = None
        self._housekeeper_beat = time.monotonic()
        missing = registry.lanes() - self._lanes
        if missing:
            raise ValueError(f"jobs are registered for lanes without workers: {', '.join(sorted(missing))}")

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping.clear()
        if self.scheduler is not None:
            self._tick_scheduler()
        for slot in self._slots:
            self._start_thread(slot)
        self._housekeeper = threading.Thread(target=self._housekeep, name="invoicebot-housekeeper", daemon=True)
        self._housekeeper.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming jobs and wait for the ones in flight (SIGTERM drains)."""
        self._stopping.set()
        self.signals.wake()
        deadline = time.monotonic() + timeout
        for slot in self._slots:
            if slot.thread is not None:
                slot.thread.join(max(0.0, deadline - time.monotonic()))
        if self._housekeeper is not None:
            self._housekeeper.join(max(0.0, deadline - time.monotonic()))

    def wake(self, lanes: Iterable[str] | None = None) -> None:
        self.signals.wake(lanes)

    def busy(self) -> int:
        with self._held_lock:
            return len(self._held)

    def health(self) -> WorkerHealth:
        alive = [slot for slot in self._slots if slot.thread is not None and slot.thread.is_alive()
                 and slot.state != "restarting"]
        housekeeper_alive = (self._housekeeper is not None and self._housekeeper.is_alive()
                             and time.monotonic() - self._housekeeper_beat < max(10.0, 3 * self._tick_seconds()))
        return WorkerHealth(threads=len(self._slots), alive=len(alive),
                            restarting=[slot.name for slot in self._slots if slot.state == "restarting"],
                            restarts=sum(slot.restarts for slot in self._slots),
                            housekeeper_alive=housekeeper_alive)

    # --- the worker threads ----------------------------------------------------------------------
    def _start_thread(self, slot: _Slot) -> None:
        slot.thread = threading.Thread(target=self._serve, args=(slot,), name=f"invoicebot-{slot.name}", daemon=True)
        slot.thread.start()

    def _serve(self, slot: _Slot) -> None:
        while not self._stopping.is_set():
            try:
                self._loop(slot)
            except Exception as error:
                slot.state = "restarting"
                slot.restarts += 1
                slot.last_error = repr(error)
                logger.exception("worker %s stopped on an error; restarting it in %.1f s", slot.name,
                                 self.restart_delay)
                self._stopping.wait(self.restart_delay)
        slot.state = "stopped"

    def _loop(self, slot: _Slot) -> None:
        signal = self.signals[slot.lane]
        while not self._stopping.is_set():
            slot.state = "idle"
            seen = signal.mark()
            jobs = self.queue.claim(slot.lane, self.owner, self.lease_seconds, limit=self._batch[slot.lane])
            if not jobs:
                signal.wait(seen, self.poll_interval)
                continue
            slot.state = "busy"
            with self._held_lock:
                self._held.update((job.id, job) for job in jobs)
            try:
                self.run_jobs(jobs)
            finally:
                with self._held_lock:
                    for job in jobs:
                        self._held.pop(job.id, None)

    # --- running jobs ----------------------------------------------------------------------------
    def run_jobs(self, jobs: list[Job]) -> None:
        """Kinds with a `run_batch` run together (one transaction for many); the rest one by one."""
        by_kind: dict[tuple[str, str], list[Job]] = {}
        for job in jobs:
            by_kind.setdefault((job.tenant_id, job.kind), []).append(job)
        for (tenant_id, kind), group in by_kind.items():
            spec = self._spec(tenant_id, kind)
            if spec is not None and spec.run_batch is not None and len(group) > 1:
                self._run_batch(spec, group)
            else:
                for job in group:
                    self.run_job(job)

    def _spec(self, tenant_id: str, kind: str) -> JobSpec[Any] | None:
        try:
            return self.registry.for_tenant(tenant_id).get(kind)
        except UnknownTenant:
            return None

    def _payload(self, job: Job, spec: JobSpec[Any] | None) -> Any:
        """The job's typed payload, or None when it can never run (the job is failed)."""
        if spec is None:
            logger.error("job %s of tenant %s has kind %r, which nothing runs (or the tenant is gone)", job.key,
                         job.tenant_id, job.kind)
            self._finished(job, self.queue.fail(job, f"nothing runs job kind {job.kind} for tenant {job.tenant_id}"),
                           "failed")
            return None
        try:
            return spec.payload.model_validate(job.payload)
        except ValidationError as error:
            logger.error("job %s (%s) has a payload it cannot run: %s", job.key, job.kind, error)
            self._finished(job, self.queue.fail(job, f"malformed payload: {error}"), "failed")
            return None

    def _run_batch(self, spec: JobSpec[Any], jobs: list[Job]) -> None:
        runnable = [(job, payload) for job in jobs if (payload := self._payload(job, spec)) is not None]
        if not runnable:
            return
        assert spec.run_batch is not None
        try:
            failures = spec.run_batch([payload for _, payload in runnable], [job for job, _ in runnable])
        except Exception:
            # One bad job must not hold the others back: each runs alone, with its own outcome.
            logger.exception("a batch of %d %s jobs failed; running them one by one", len(runnable), spec.payload.KIND)
            for job, payload in runnable:
                self._run_one(job, spec, payload)
            return
        done = [job for job, _ in runnable if job.id not in failures]
        lost = self.queue.complete_many(done)
        for job in done:
            self._finished(job, job.id not in lost, "done")
        for job, payload in runnable:
            if job.id in failures:
                self._settle(job, spec, payload, failures[job.id])

    def run_job(self, job: Job) -> None:
        spec = self._spec(job.tenant_id, job.kind)
        payload = self._payload(job, spec)
        if spec is not None and payload is not None:
            self._run_one(job, spec, payload)

    def _run_one(self, job: Job, spec: JobSpec[Any], payload: Any) -> None:
        try:
            spec.run(payload, job)
        except Exception as error:
            self._settle(job, spec, payload, error)
        else:
            self._finished(job, self.queue.complete(job), "done")

    def _settle(self, job: Job, spec: JobSpec[Any], payload: Any, error: Exception) -> None:
        """What a failure means, decided here for every job."""
        try:
            raise error
        except Defer as wait:
            self._finished(job, self.queue.defer(job, wait.delay), "deferred")
        except GiveUp as error:
            logger.error("job %s (%s) failed for good: %s", job.key, job.kind, error)
            self._give_up(job, spec, payload, str(error))
        except ExternalFailure as failure:
            if not failure.retryable:
                logger.error("job %s (%s) was refused: %s", job.key, job.kind, failure.message)
                self._give_up(job, spec, payload, failure.message)
            elif job.attempts >= self.max_attempts:
                logger.error("job %s (%s) gave up after %d attempts: %s", job.key, job.kind, job.attempts,
                             failure.message)
                self._give_up(job, spec, payload, failure.message)
            else:
                delay = failure.retry_after if failure.retry_after is not None else backoff(job.attempts)
                logger.warning("job %s (%s) will retry in %.1f s: %s", job.key, job.kind, delay, failure.message)
                self._finished(job, self.queue.retry(job, delay, failure.message), "retry")
        except Exception as error:  # a bug or a local fault: retried, with the trace in the log
            if job.attempts >= self.max_attempts:
                logger.exception("job %s (%s) gave up after %d attempts", job.key, job.kind, job.attempts)
                self._give_up(job, spec, payload, str(error) or repr(error))
            else:
                delay = backoff(job.attempts)
                logger.exception("job %s (%s) failed; retrying in %.1f s", job.key, job.kind, delay)
                self._finished(job, self.queue.retry(job, delay, repr(error)), "retry")

    def _give_up(self, job: Job, spec: JobSpec[Any], payload: Any, reason: str) -> None:
        held = self.queue.fail(job, reason)
        self._finished(job, held, "failed")
        if not held:
            return  # the job is someone else's now; they will report it if it fails for them too
        if spec.on_give_up is None:
            return
        try:
            spec.on_give_up(payload, reason)
        except Exception:
            logger.exception("could not tell anyone that job %s (%s) failed", job.key, job.kind)

    def _finished(self, job: Job, held: bool, outcome: str) -> None:
        self.metrics.jobs_finished.labels(job.lane, outcome if held else "lost").inc()
        if not held:
            logger.warning("job %s (%s) lost its lease before it finished; its outcome was not recorded",
                           job.key, job.kind)

    # --- housekeeping: leases, dead threads, the schedule ---------------------------------------
    def _tick_seconds(self) -> float:
        return max(0.05, min(1.0, self.lease_seconds / 3))

    def _housekeep(self) -> None:
        next_heartbeat = time.monotonic() + self.lease_seconds / 3
        next_schedule = time.monotonic() + self.schedule_interval
        while not self._stopping.wait(self._tick_seconds()):
            self._housekeeper_beat = time.monotonic()
            try:
                if time.monotonic() >= next_heartbeat:
                    next_heartbeat = time.monotonic() + self.lease_seconds / 3
                    self._renew_leases()
                self._restart_dead_threads()
                if self.scheduler is not None and time.monotonic() >= next_schedule:
                    next_schedule = time.monotonic() + self.schedule_interval
                    self._tick_scheduler()
            except Exception:
                logger.exception("worker housekeeping failed; trying again in %.1f s", self._tick_seconds())

    def _renew_leases(self) -> None:
        with self._held_lock:
            held = list(self._held.values())
        if not held:
            return
        kept = self.queue.extend({job.lease_token for job in held}, self.lease_seconds)
        for job in held:
            if job.lease_token not in kept:
                logger.warning("job %s (%s) lost its lease while running (another worker may run it)", job.key,
                               job.kind)

    def _restart_dead_threads(self) -> None:
        for slot in self._slots:
            if self._stopping.is_set():
                return
            if slot.thread is not None and not slot.thread.is_alive():
                slot.restarts += 1
                logger.error("worker %s died; starting it again", slot.name)
                self._start_thread(slot)

    def _tick_scheduler(self) -> None:
        assert self.scheduler is not None
        try:
            if self.scheduler.ensure():
                self.wake([Lane.PERIODIC.value])
        except Exception:
            logger.exception("could not queue the periodic jobs; trying again at the next tick")
