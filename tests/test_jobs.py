"""The workers on a real store: leases held while a job runs, a failing loop restarted and reported,
schedules that survive a failed run, pace waits that spend no attempt, lanes that keep a rep first."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.domain.tenants import DEFAULT_TENANT
from bot.errors import Defer, ExternalFailure, GiveUp
from bot.jobs.model import Job, JobPayload, Lane
from bot.jobs.payloads import CreateInvoice, ProcessEvent, RefreshCatalog, RefreshMessage, SweepOverdue
from bot.jobs.ports import JobQueue, QueueStats
from bot.jobs.registry import Registry
from bot.jobs.schedule import Periodic, Scheduler
from bot.jobs.worker import LaneConfig, LaneSignals, Workers
from bot.store.sqlite import SqliteStore
from tests.harness import wait_for

ALL_LANES = [LaneConfig(lane, 1) for lane in Lane]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(str(tmp_path / "jobs.db"))
    yield opened
    opened.close()


def add(store: SqliteStore, payload: JobPayload, key: str, delay: float = 0.0) -> None:
    with store.unit_of_work(DEFAULT_TENANT) as uow:
        uow.jobs.add(payload, key, delay=delay)
        uow.commit()


def workers(store: SqliteStore, registry: Registry, **options: Any) -> Workers:
    signals = LaneSignals()
    store.on_commit(signals.wake)
    return Workers(store.queue, registry, options.pop("lanes", ALL_LANES), signals=signals,
                   **{"poll_interval": 0.05, **options})


def submission(view_id: str) -> CreateInvoice:
    return CreateInvoice(view_id=view_id, team_id="T1", user_id="UREP", channel_id="C1", customer_id="cus_1",
                         customer_name=None, customer_email=None, currency="usd", lines=[], days_until_due=30,
                         memo=None, send_now=True)


def test_a_job_that_outlives_its_lease_runs_once_to_completion(tmp_path: Path) -> None:
    """Two processes share the database; a job runs far longer than its lease. The heartbeat keeps
    the lease, so the other process never takes the job, and its result stands."""
    first, second = SqliteStore(str(tmp_path / "shared.db")), SqliteStore(str(tmp_path / "shared.db"))
    runs: list[str] = []

    def slow(payload: RefreshMessage, job: Job, who: str) -> None:
        runs.append(who)
        time.sleep(1.5)  # five leases long

    pools = []
    for name, each in (("first", first), ("second", second)):
        registry = Registry()
        registry.add(RefreshMessage, lambda payload, job, who=name: slow(payload, job, who))
        pools.append(workers(each, registry, lanes=[LaneConfig(Lane.OWN, 2)], lease_seconds=0.3))
    add(first, RefreshMessage(invoice_id="in_1"), "slow")
    pools[0].start()
    wait_for(lambda: runs, 5, "the first run")
    pools[1].start()
    try:
        wait_for(lambda: first.queue.stats().counts == {"done": 1}, 10, "the job to finish")
        time.sleep(0.5)
        assert runs == ["first"]
    finally:
        for pool in pools:
            pool.stop()
        first.close()
        second.close()


class FlakyQueue:
    """The real queue, whose claims fail (as on `database is locked`) while `failing` is set."""

    def __init__(self, queue: JobQueue) -> None:
        self.queue = queue
        self.failing = threading.Event()

    def claim(self, lane: str, owner: str, lease_seconds: float, limit: int = 1) -> list[Job]:
        if self.failing.is_set():
            raise sqlite3.OperationalError("database is locked")
        return self.queue.claim(lane, owner, lease_seconds, limit)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.queue, name)


def test_a_worker_loop_that_fails_is_restarted_and_reported_meanwhile(store: SqliteStore) -> None:
    ran: list[str] = []
    registry = Registry()
    registry.add(RefreshMessage, lambda payload, job: ran.append(payload.invoice_id))
    flaky = FlakyQueue(store.queue)
    pool = Workers(flaky, registry, [LaneConfig(Lane.OWN, 1)], poll_interval=0.05, restart_delay=0.3)
    pool.start()
    try:
        assert pool.health().ok
        flaky.failing.set()
        wait_for(lambda: not pool.health().ok, 5, "the health to report the failing worker")
        assert pool.health().restarting == ["own-0"]
        flaky.failing.clear()
        add(store, RefreshMessage(invoice_id="in_1"), "after")
        pool.wake()
        wait_for(lambda: ran == ["in_1"], 5, "the restarted worker to run a job")
        wait_for(lambda: pool.health().ok, 5, "the health to recover")
        assert pool.health().restarts >= 1
    finally:
        pool.stop()


def test_a_failed_periodic_run_does_not_stop_the_next(store: SqliteStore) -> None:
    runs: list[float] = []

    def refresh(payload: RefreshCatalog, job: Job) -> None:
        runs.append(time.time())
        if len(runs) == 1:
            raise GiveUp("Stripe refused the key")  # fails for good, as an expired key would

    registry = Registry()
    registry.add(RefreshCatalog, refresh)
    scheduler = Scheduler(store, [Periodic(RefreshCatalog(), period=0.5)])
    pool = workers(store, registry, lanes=[LaneConfig(Lane.PERIODIC, 1)], scheduler=scheduler,
                   schedule_interval=0.1)
    pool.start()
    try:
        wait_for(lambda: len(runs) >= 3, 10, "three periods' runs")
    finally:
        pool.stop()
    assert store.queue.stats().counts.get("failed") == 1


def test_waiting_for_a_channels_pace_spends_no_attempt(store: SqliteStore) -> None:
    tries: list[int] = []

    def paced(payload: RefreshMessage, job: Job) -> None:
        tries.append(job.attempts)
        if len(tries) < 10:
            raise Defer("channel pace", 0.01)

    registry = Registry()
    registry.add(RefreshMessage, paced)
    pool = workers(store, registry, lanes=[LaneConfig(Lane.OWN, 1)], max_attempts=3)
    add(store, RefreshMessage(invoice_id="in_1"), "paced")
    pool.start()
    try:
        wait_for(lambda: store.queue.stats().counts == {"done": 1}, 10, "the job to post")
    finally:
        pool.stop()
    assert len(tries) == 10 and set(tries) == {1}


@pytest.mark.parametrize(("failure", "outcome"), [
    (ExternalFailure("Stripe: card declined", retryable=False), "failed"),
    (GiveUp("not allowed"), "failed"),
    (ExternalFailure("Slack: ratelimited", retryable=True, retry_after=0.01), "done"),
    (ConnectionResetError("a bug or a blip"), "done"),
])
def test_one_place_decides_what_a_failure_means(store: SqliteStore, failure: Exception, outcome: str) -> None:
    told: list[str] = []
    tries: list[int] = []

    def flaky(payload: RefreshMessage, job: Job) -> None:
        tries.append(job.attempts)
        if len(tries) == 1:
            raise failure

    registry = Registry()
    registry.add(RefreshMessage, flaky, on_give_up=lambda payload, reason: told.append(reason))
    pool = workers(store, registry, lanes=[LaneConfig(Lane.OWN, 1)], max_attempts=3)
    add(store, RefreshMessage(invoice_id="in_1"), "k")
    pool.start()
    try:
        wait_for(lambda: store.queue.stats().due == 0 and pool.busy() == 0, 10, "the job to settle")
    finally:
        pool.stop()
    assert store.queue.stats().counts == {outcome: 1}
    assert told == ([str(failure)] if outcome == "failed" else [])


def test_a_reps_job_runs_before_a_backlog_of_a_thousand_events(store: SqliteStore) -> None:
    done: list[str] = []
    registry = Registry()
    registry.add(ProcessEvent, lambda payload, job: (time.sleep(0.005), done.append(payload.event_id)))
    registry.add(CreateInvoice, lambda payload, job: done.append(payload.view_id))
    with store.unit_of_work(DEFAULT_TENANT) as uow:
        for number in range(1000):
            uow.events.record({"id": f"evt_{number}", "type": "invoice.paid"}, "{}")
            uow.jobs.add(ProcessEvent(event_id=f"evt_{number}"), f"event:evt_{number}")
        uow.commit()
    pool = workers(store, registry)
    pool.start()
    try:
        wait_for(lambda: len(done) >= 5, 10, "the backlog to start draining")
        add(store, submission("V_REP"), "create:V_REP")
        wait_for(lambda: "V_REP" in done, 5, "the rep's invoice")
        assert done.index("V_REP") < 200, "the rep waited behind the backlog"
    finally:
        pool.stop()


def test_every_periodic_job_and_lane_has_workers(store: SqliteStore) -> None:
    registry = Registry()
    registry.add(SweepOverdue, lambda payload, job: None)
    with pytest.raises(ValueError, match="periodic"):
        Workers(store.queue, registry, [LaneConfig(Lane.OWN, 1)])


class RecordingQueue:
    """Counts lease renewals, to see the heartbeat without waiting for a lease to lapse."""

    def __init__(self, queue: JobQueue) -> None:
        self.queue = queue
        self.renewed: list[Collection[str]] = []

    def extend(self, tokens: Collection[str], lease_seconds: float) -> set[str]:
        self.renewed.append(tokens)
        return self.queue.extend(tokens, lease_seconds)

    def stats(self) -> QueueStats:
        return self.queue.stats()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        return getattr(self.queue, name)  # type: ignore[no-any-return]


def test_the_lease_of_a_running_job_is_renewed_every_third_of_it(store: SqliteStore) -> None:
    release = threading.Event()
    registry = Registry()
    registry.add(RefreshMessage, lambda payload, job: release.wait(5) and None)
    recording = RecordingQueue(store.queue)
    pool = Workers(recording, registry, [LaneConfig(Lane.OWN, 1)], poll_interval=0.05, lease_seconds=0.6)
    add(store, RefreshMessage(invoice_id="in_1"), "held")
    pool.start()
    try:
        wait_for(lambda: len(recording.renewed) >= 3, 5, "three renewals")
    finally:
        release.set()
        pool.stop()
    assert store.queue.stats().counts == {"done": 1}


def test_a_batch_runs_together_and_its_failures_are_settled_one_by_one(store: SqliteStore) -> None:
    batches: list[list[str]] = []
    told: list[str] = []

    def decide(payloads: list[ProcessEvent], jobs: list[Job]) -> dict[int, Exception]:
        batches.append([p.event_id for p in payloads])
        return {job.id: GiveUp("not stored") for job, p in zip(jobs, payloads, strict=True) if p.event_id == "evt_bad"}

    registry = Registry()
    registry.add(ProcessEvent, lambda payload, job: None, run_batch=decide,
                 on_give_up=lambda payload, reason: told.append(payload.event_id))
    for name in ("evt_1", "evt_bad", "evt_2", "evt_3"):
        add(store, ProcessEvent(event_id=name), f"event:{name}")
    pool = workers(store, registry, lanes=[LaneConfig(Lane.EVENTS, 1, batch=10)])
    pool.start()
    try:
        wait_for(lambda: store.queue.stats().due == 0 and pool.busy() == 0, 10, "the batch")
    finally:
        pool.stop()
    assert batches == [["evt_1", "evt_bad", "evt_2", "evt_3"]]
    assert store.queue.stats().counts == {"done": 3, "failed": 1} and told == ["evt_bad"]


def test_a_batch_that_fails_whole_falls_back_to_one_job_at_a_time(store: SqliteStore) -> None:
    singles: list[str] = []

    def broken(payloads: list[ProcessEvent], jobs: list[Job]) -> dict[int, Exception]:
        raise sqlite3.OperationalError("one poison event broke the batch's transaction")

    def single(payload: ProcessEvent, job: Job) -> None:
        singles.append(payload.event_id)
        if payload.event_id == "evt_poison":
            raise GiveUp("poison")

    registry = Registry()
    registry.add(ProcessEvent, single, run_batch=broken)
    for name in ("evt_1", "evt_poison", "evt_2"):
        add(store, ProcessEvent(event_id=name), f"event:{name}")
    pool = workers(store, registry, lanes=[LaneConfig(Lane.EVENTS, 1, batch=10)])
    pool.start()
    try:
        wait_for(lambda: store.queue.stats().due == 0 and pool.busy() == 0, 10, "the fallback")
    finally:
        pool.stop()
    assert sorted(singles) == ["evt_1", "evt_2", "evt_poison"]
    assert store.queue.stats().counts == {"done": 2, "failed": 1}


# --- submissions written together (group commit) -------------------------------------------------
def test_submissions_at_once_are_each_queued_once_and_told_so(store: SqliteStore) -> None:
    from bot.container import JobSubmitter

    submitter = JobSubmitter(store.tenant(DEFAULT_TENANT))
    keys = [f"create:V{n % 25}" for n in range(100)]  # each view submitted four times, all at once
    answers: list[tuple[str, bool]] = []
    start = threading.Barrier(20)

    def submit_share(share: list[str]) -> None:
        start.wait()
        for key in share:
            answers.append((key, submitter.submit(RefreshMessage(invoice_id=key), key=key)))

    threads = [threading.Thread(target=submit_share, args=(keys[n::20],)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 100
    assert sorted(key for key, added in answers if added) == sorted(set(keys))  # one "added" per key
    assert sqlite3.connect(store.path).execute("SELECT count(*) FROM jobs").fetchone()[0] == 25


def test_a_failed_group_write_reaches_every_submitter_and_the_next_write_works(tmp_path: Path) -> None:
    from bot.container import JobSubmitter

    store = SqliteStore(str(tmp_path / "flaky.db"))
    real = store.unit_of_work
    failures = iter([True])

    def unit_of_work(tenant: str) -> Any:
        if next(failures, False):
            raise sqlite3.OperationalError("disk I/O error")
        return real(tenant)

    store.unit_of_work = unit_of_work  # type: ignore[method-assign]
    submitter = JobSubmitter(store.tenant(DEFAULT_TENANT))
    with pytest.raises(sqlite3.OperationalError):
        submitter.submit(RefreshMessage(invoice_id="in_1"), key="refresh:1")
    assert submitter.submit(RefreshMessage(invoice_id="in_1"), key="refresh:1") is True
    store.close()
