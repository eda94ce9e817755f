"""Bounded tables: what pruning deletes, what it keeps whatever its age, and that it works in chunks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.domain.tenants import DEFAULT_TENANT
from bot.jobs.model import JobPayload, Lane
from bot.jobs.payloads import ChannelNotice, ProcessEvent, PublishHome, RefreshCatalog, RefreshMessage
from bot.store.ports import Store, UnitOfWork
from bot.store.retention import DAY, Pruned, Pruner
from tests.contract.conftest import FakeClock

T = DEFAULT_TENANT  # the tenant these tests write and read (isolation is tested with a second one)

LEASE = 30.0
WEEK = 7 * DAY


def write(store: Store, change: Callable[[UnitOfWork], Any]) -> Any:
    with store.unit_of_work(T) as uow:
        result = change(uow)
        uow.commit()
    return result


def add(store: Store, payload: JobPayload, key: str, *, delay: float = 0.0, channel: str | None = None) -> bool:
    return bool(write(store, lambda uow: uow.jobs.add(payload, key, delay=delay, channel=channel)))


def finish_all(store: Store, lane: Lane, how: str = "complete") -> None:
    """Claim every ready job of `lane` and finish it (`complete` or `fail`)."""
    jobs = store.queue.claim(lane.value, "worker-a", LEASE, limit=10_000)
    if how == "complete":
        assert store.queue.complete_many(jobs) == set()
    else:
        assert all(store.queue.fail(job, "for good") for job in jobs)


def prune_jobs(store: Store, older_than: float = WEEK, limit: int = 1000) -> int:
    return int(write(store, lambda uow: uow.jobs.prune_finished(older_than, limit)))


def record(store: Store, event_id: str) -> bool:
    return bool(write(store, lambda uow: uow.events.record({"id": event_id, "type": "invoice.paid"}, "{}")))


# --- jobs ------------------------------------------------------------------------------------------
def test_finished_jobs_past_their_retention_go_and_unfinished_ones_stay(store: Store, clock: FakeClock) -> None:
    add(store, RefreshMessage(invoice_id="in_1"), "done")
    finish_all(store, Lane.OWN)
    add(store, RefreshMessage(invoice_id="in_2"), "failed")
    finish_all(store, Lane.OWN, "fail")
    add(store, ProcessEvent(event_id="evt_pending"), "pending")  # never claimed: a backlog
    add(store, RefreshCatalog(), "pending-later", delay=30 * DAY)  # a far future period's job
    add(store, PublishHome(user_id="UREP"), "running")
    (running,) = store.queue.claim(Lane.REPLIES.value, "worker-a", LEASE)  # its worker died: lease long gone
    clock.advance(WEEK + 1)
    add(store, RefreshMessage(invoice_id="in_4"), "recent")
    finish_all(store, Lane.OWN)  # done just now

    assert prune_jobs(store) == 2
    counts = store.queue.stats().counts
    assert counts == {"done": 1, "pending": 2, "running": 1}
    # The pruned keys are free again; every other key still dedupes.
    assert add(store, RefreshMessage(invoice_id="in_1"), "done")
    assert add(store, RefreshMessage(invoice_id="in_2"), "failed")
    for key in ("pending", "pending-later", "running", "recent"):
        assert not add(store, RefreshMessage(invoice_id="again"), key), key
    # The running job is still its holder's.
    assert store.queue.complete(running)


def test_a_job_is_kept_until_its_retention_has_passed(store: Store, clock: FakeClock) -> None:
    add(store, RefreshMessage(invoice_id="in_1"), "done")
    finish_all(store, Lane.OWN)
    clock.advance(WEEK - 60)
    assert prune_jobs(store) == 0
    assert not add(store, RefreshMessage(invoice_id="in_1"), "done")
    clock.advance(61)
    assert prune_jobs(store) == 1


def test_a_failed_notice_of_an_unfinished_digest_stays(store: Store, clock: FakeClock) -> None:
    for number in range(3):
        add(store, ChannelNotice(channel="CPAY", kind="paid", invoice_id=f"in_{number}"), f"notice:{number}",
            channel="CPAY")
    (leader,) = store.queue.claim(Lane.BULK.value, "worker-a", LEASE)
    members = store.queue.claim_digest("CPAY", leader, limit=10, threshold=1)
    assert len(members) == 2
    assert store.queue.fail(members[0], "Slack refused it")  # the leader and the other are still running
    clock.advance(WEEK + 1)
    assert prune_jobs(store) == 0
    store.queue.complete_members(members[1:])
    assert store.queue.complete(leader)
    clock.advance(WEEK + 1)
    assert prune_jobs(store) == 3
    assert store.queue.stats().counts == {}


# --- Stripe events ---------------------------------------------------------------------------------
def test_a_decided_event_is_remembered_30_days_and_an_undecided_one_for_ever(store: Store,
                                                                              clock: FakeClock) -> None:
    assert record(store, "evt_decided") and record(store, "evt_undecided") and record(store, "evt_late")
    write(store, lambda uow: uow.events.decide("evt_decided", '{"notice": null}'))
    clock.advance(29 * DAY)
    write(store, lambda uow: uow.events.decide("evt_late", '{"notice": null}'))  # decided after a long wait
    assert write(store, lambda uow: uow.events.prune_decided(30 * DAY, 1000)) == 0
    assert not record(store, "evt_decided")  # still a duplicate at 29 days
    clock.advance(DAY + 1)
    assert write(store, lambda uow: uow.events.prune_decided(30 * DAY, 1000)) == 1
    assert store.reads(T).events.get("evt_decided") is None
    assert store.reads(T).events.get("evt_undecided") is not None  # never decided: never pruned
    assert store.reads(T).events.get("evt_late") is not None  # decided only a day ago
    clock.advance(365 * DAY)
    assert write(store, lambda uow: uow.events.prune_decided(30 * DAY, 1000)) == 1
    assert store.reads(T).events.get("evt_undecided") is not None
    assert not record(store, "evt_undecided")


# --- deliveries ------------------------------------------------------------------------------------
def test_sent_posts_are_forgotten_after_30_days_and_unfinished_ones_kept(store: Store, clock: FakeClock) -> None:
    def begin(key: str, ts: str | None) -> None:
        write(store, lambda uow: uow.deliveries.begin(key, "CPAY", None))
        if ts:
            write(store, lambda uow: uow.deliveries.finish(key, ts))

    begin("notice:sent", "1.1")
    begin("notice:sending", None)  # maybe posted: a retry looks in Slack before posting again
    begin("notice:job-waiting", "1.2")
    add(store, ChannelNotice(channel="CPAY", kind="paid", invoice_id="in_1"), "notice:job-waiting", channel="CPAY")
    clock.advance(29 * DAY)
    assert write(store, lambda uow: uow.deliveries.prune_sent(30 * DAY, 1000)) == 0
    clock.advance(DAY + 1)
    assert write(store, lambda uow: uow.deliveries.prune_sent(30 * DAY, 1000)) == 1
    assert store.reads(T).deliveries.get("notice:sent") is None
    deliveries = store.reads(T).deliveries
    sending, waiting = deliveries.get("notice:sending"), deliveries.get("notice:job-waiting")
    assert sending is not None and not sending.sent
    assert waiting is not None and waiting.ts == "1.2"


# --- the pruner: policy and chunks -----------------------------------------------------------------
class CountingStore:
    """The store, counting its units of work (each chunk is one)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.transactions = 0

    def unit_of_work(self) -> UnitOfWork:
        self.transactions += 1
        return self.store.unit_of_work(T)


def fill(store: Store, count: int) -> None:
    """`count` of each: a done job, a decided event, a sent post."""
    with store.unit_of_work(T) as uow:
        uow.events.record_many([({"id": f"evt_{n}", "type": "invoice.paid"}, "{}") for n in range(count)])
        uow.jobs.add_many([(ProcessEvent(event_id=f"evt_{n}"), f"event:evt_{n}") for n in range(count)])
        for n in range(count):
            uow.events.decide(f"evt_{n}", "{}")
            uow.deliveries.begin(f"notice:evt_{n}:CPAY", "CPAY", None)
            uow.deliveries.finish(f"notice:evt_{n}:CPAY", f"1.{n}")
        uow.commit()
    finish_all(store, Lane.EVENTS)


def test_pruning_goes_on_chunk_after_chunk_until_nothing_is_left(store: Store, clock: FakeClock) -> None:
    fill(store, 2_500)
    clock.advance(31 * DAY)
    counting = CountingStore(store)
    pruned = Pruner(counting, 7, chunk=1_000, pause=0).prune()  # type: ignore[arg-type]
    assert pruned == Pruned(jobs=2_500, events=2_500, deliveries=2_500) and pruned.total == 7_500
    assert counting.transactions == 9  # three chunks of each table: 1,000, 1,000, then 500
    assert store.queue.stats().counts == {}
    assert store.reads(T).events.get("evt_0") is None and store.reads(T).deliveries.get("notice:evt_0:CPAY") is None
    assert Pruner(counting, 7, chunk=1_000, pause=0).prune() == Pruned()  # type: ignore[arg-type]


def test_events_and_posts_outlive_a_job_retention_longer_than_30_days(store: Store, clock: FakeClock) -> None:
    fill(store, 10)
    clock.advance(31 * DAY)
    assert Pruner(store.tenant(T), 45, pause=0).prune() == Pruned()
    clock.advance(15 * DAY)
    assert Pruner(store.tenant(T), 45, pause=0).prune() == Pruned(jobs=10, events=10, deliveries=10)


def test_a_retention_under_a_day_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="at least a day"):
        Pruner(store.tenant(T), 0)
