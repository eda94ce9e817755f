"""The job queue: leases with owner tokens, lanes, and only the lease holder finishing a job."""

from __future__ import annotations

import threading
from collections.abc import Callable

from bot.domain.tenants import DEFAULT_TENANT
from bot.jobs.model import Job, JobPayload, Lane
from bot.jobs.payloads import ChannelNotice, CreateInvoice, ProcessEvent, RefreshCatalog, RefreshMessage
from bot.store.ports import Store
from tests.contract.conftest import FakeClock

LEASE = 30.0


def add(store: Store, payload: JobPayload, key: str, delay: float = 0.0, channel: str | None = None) -> bool:
    with store.unit_of_work(DEFAULT_TENANT) as uow:
        added = uow.jobs.add(payload, key, delay=delay, channel=channel)
        uow.commit()
    return added


def submission(view_id: str = "V1") -> CreateInvoice:
    return CreateInvoice(view_id=view_id, team_id="T1", user_id="UREP", channel_id="CSALES", customer_id="cus_1",
                         customer_name=None, customer_email=None, currency="usd", lines=[], days_until_due=30,
                         memo=None, send_now=True)


def claim_one(store: Store, lane: Lane, owner: str = "worker-a") -> Job | None:
    jobs = store.queue.claim(lane.value, owner, LEASE)
    assert len(jobs) <= 1
    return jobs[0] if jobs else None


def test_a_job_is_queued_once_per_key(store: Store) -> None:
    assert add(store, RefreshMessage(invoice_id="in_1"), "refresh:evt_1")
    assert not add(store, RefreshMessage(invoice_id="in_2"), "refresh:evt_1")
    job = claim_one(store, Lane.OWN)
    assert job is not None and job.payload == {"invoice_id": "in_1"} and job.attempts == 1
    assert store.queue.stats().counts == {"running": 1}


def test_a_lease_keeps_a_job_from_everyone_else_until_it_runs_out(store: Store, clock: FakeClock) -> None:
    add(store, RefreshMessage(invoice_id="in_1"), "k")
    first = claim_one(store, Lane.OWN, "worker-a")
    assert first is not None
    assert claim_one(store, Lane.OWN, "worker-b") is None
    clock.advance(LEASE + 1)  # worker-a died: nobody renewed its lease
    second = claim_one(store, Lane.OWN, "worker-b")
    assert second is not None and second.id == first.id and second.attempts == 2
    assert second.lease_token != first.lease_token


def test_only_the_lease_holder_finishes_a_job_and_a_late_writer_changes_nothing(store: Store,
                                                                              clock: FakeClock) -> None:
    add(store, RefreshMessage(invoice_id="in_1"), "k")
    stale = claim_one(store, Lane.OWN, "worker-a")
    clock.advance(LEASE + 1)
    holder = claim_one(store, Lane.OWN, "worker-b")
    assert stale is not None and holder is not None
    assert store.queue.complete(holder) is True
    # The first worker finally returns: whatever it says, the job stays done, and runs no more.
    assert store.queue.retry(stale, 1.0, "late") is False
    assert store.queue.fail(stale, "late") is False
    assert store.queue.complete(stale) is False
    assert store.queue.defer(stale, 1.0) is False
    assert store.queue.stats().counts == {"done": 1}
    clock.advance(3600)
    assert claim_one(store, Lane.OWN) is None


def test_renewing_a_lease_keeps_the_job_and_reports_lost_ones(store: Store, clock: FakeClock) -> None:
    add(store, RefreshMessage(invoice_id="in_1"), "a")
    add(store, RefreshMessage(invoice_id="in_2"), "b")
    kept = claim_one(store, Lane.OWN, "worker-a")
    lost = claim_one(store, Lane.OWN, "worker-a")
    assert kept is not None and lost is not None
    clock.advance(LEASE - 1)
    assert store.queue.extend([kept.lease_token], LEASE) == {kept.lease_token}
    clock.advance(2)  # `lost` ran out; `kept` was renewed
    taken = claim_one(store, Lane.OWN, "worker-b")
    assert taken is not None and taken.id == lost.id
    assert store.queue.extend([kept.lease_token, lost.lease_token], LEASE) == {kept.lease_token}
    assert store.queue.complete(kept)  # finished while a renewal was on its way: not lost
    assert store.queue.extend([kept.lease_token], LEASE) == {kept.lease_token}


def test_retry_counts_an_attempt_and_defer_does_not(store: Store, clock: FakeClock) -> None:
    add(store, RefreshMessage(invoice_id="in_1"), "k")
    job = claim_one(store, Lane.OWN)
    assert job is not None and store.queue.defer(job, 5.0)
    assert claim_one(store, Lane.OWN) is None  # waiting for its pace
    clock.advance(5)
    again = claim_one(store, Lane.OWN)
    assert again is not None and again.attempts == 1  # the wait did not count
    assert store.queue.retry(again, 10.0, "Slack: ratelimited")
    clock.advance(10)
    third = claim_one(store, Lane.OWN)
    assert third is not None and third.attempts == 2
    assert store.queue.fail(third, "for good")
    assert store.queue.stats().counts == {"failed": 1}


def test_lanes_are_claimed_separately_oldest_first(store: Store, clock: FakeClock) -> None:
    for number in range(1000):
        with store.unit_of_work(DEFAULT_TENANT) as uow:
            uow.events.record({"id": f"evt_{number}", "type": "invoice.paid"}, "{}")
            uow.jobs.add(ProcessEvent(event_id=f"evt_{number}"), f"event:evt_{number}")
            uow.commit()
    clock.advance(1)
    add(store, submission(), "create:V1")  # a rep submits after 1,000 stored events
    first = claim_one(store, Lane.INTERACTIVE)
    assert first is not None and first.kind == "create_invoice"
    events = store.queue.claim(Lane.EVENTS.value, "worker-a", LEASE, limit=3)
    assert [job.payload["event_id"] for job in events] == ["evt_0", "evt_1", "evt_2"]
    oldest = store.queue.stats().oldest_due_seconds
    assert oldest["events"] >= 1.0 and "interactive" not in oldest


def test_a_rep_job_is_claimed_before_earlier_events_even_in_one_lane_order(store: Store, clock: FakeClock) -> None:
    """Events are queued at their arrival time (not at 0), so a later event never jumps a queued job."""
    add(store, ChannelNotice(channel="CPAY", kind="paid", invoice_id="in_1", own=False), "notice:first",
        channel="CPAY")
    clock.advance(1)
    add(store, ChannelNotice(channel="CPAY", kind="paid", invoice_id="in_2", own=False), "notice:second",
        channel="CPAY")
    claimed = store.queue.claim(Lane.BULK.value, "worker-a", LEASE, limit=2)
    assert [job.key for job in claimed] == ["notice:first", "notice:second"]


def test_future_jobs_wait_and_do_not_count_as_due(store: Store, clock: FakeClock) -> None:
    add(store, RefreshCatalog(), "refresh_catalog:2", delay=600)
    assert claim_one(store, Lane.PERIODIC) is None
    assert store.queue.stats().due == 0
    clock.advance(600)
    assert claim_one(store, Lane.PERIODIC) is not None


def test_concurrent_claims_never_hand_out_a_job_twice(store: Store,
                                                      make_store: Callable[[], Store]) -> None:
    for number in range(200):
        add(store, RefreshMessage(invoice_id=f"in_{number}"), f"k{number}")
    others = [make_store() for _ in range(3)]
    claimed: list[int] = []
    lock = threading.Lock()

    def drain(each: Store, owner: str) -> None:
        while jobs := each.queue.claim(Lane.OWN.value, owner, LEASE, limit=5):
            with lock:
                claimed.extend(job.id for job in jobs)
            for job in jobs:
                assert each.queue.complete(job)

    threads = [threading.Thread(target=drain, args=(each, f"w{n}")) for n, each in enumerate([store, *others])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(claimed) == 200 and len(set(claimed)) == 200
    assert store.queue.stats().counts == {"done": 200}


def test_a_digest_binds_waiting_notices_under_the_leaders_lease(store: Store, clock: FakeClock) -> None:
    for number in range(5):
        add(store, ChannelNotice(channel="CPAY", kind="paid", invoice_id=f"in_{number}"), f"notice:{number}",
            channel="CPAY")
    add(store, ChannelNotice(channel="COTHER", kind="paid", invoice_id="in_x"), "notice:x", channel="COTHER")
    leader = claim_one(store, Lane.BULK)
    assert leader is not None
    assert store.queue.claim_digest("CPAY", leader, limit=10, threshold=5) == []  # only 4 others wait
    members = store.queue.claim_digest("CPAY", leader, limit=10, threshold=3)
    assert sorted(job.key for job in members) == ["notice:1", "notice:2", "notice:3", "notice:4"]
    assert all(job.lease_token == leader.lease_token for job in members)
    assert [job.key for job in store.queue.claim(Lane.BULK.value, "b", LEASE, limit=10)] == ["notice:x"]
    assert store.queue.extend([leader.lease_token], LEASE) == {leader.lease_token}
    store.queue.complete_members(members)
    assert store.queue.complete(leader)
    assert store.queue.stats().counts == {"done": 5, "running": 1}


def test_a_digest_takes_a_reps_own_notices_before_older_bulk_ones(store: Store, clock: FakeClock) -> None:
    for number in range(6):
        add(store, ChannelNotice(channel="CPAY", kind="paid", invoice_id=f"in_{number}"), f"notice:{number}",
            channel="CPAY")
    add(store, ChannelNotice(channel="CPAY", kind="paid", invoice_id="in_rep", own=True), "notice:rep",
        channel="CPAY")
    leader = claim_one(store, Lane.BULK)
    assert leader is not None
    members = store.queue.claim_digest("CPAY", leader, limit=3, threshold=2)
    assert [job.key for job in members] == ["notice:rep", "notice:1", "notice:2"]


def test_an_interrupted_digest_comes_back_whole(store: Store, clock: FakeClock) -> None:
    for number in range(4):
        add(store, ChannelNotice(channel="CPAY", kind="paid", invoice_id=f"in_{number}"), f"notice:{number}",
            channel="CPAY")
    leader = claim_one(store, Lane.BULK)
    assert leader is not None
    members = store.queue.claim_digest("CPAY", leader, limit=10, threshold=3)
    clock.advance(LEASE + 1)  # the poster died mid-digest
    again = claim_one(store, Lane.BULK, "worker-b")
    assert again is not None and again.digest_key == f"digest:{leader.id}"
    rest = store.queue.digest_members(again.digest_key)
    assert {job.id for job in rest} == {leader.id, *(job.id for job in members)}
    assert all(job.lease_token == again.lease_token for job in rest)


def test_notices_a_digest_cannot_name_are_released_to_wait_on_their_own(store: Store, clock: FakeClock) -> None:
    for number in range(6):
        add(store, ChannelNotice(channel="CPAY", kind="paid", invoice_id=f"in_{number}"), f"notice:{number}",
            channel="CPAY")
    leader = claim_one(store, Lane.BULK)
    assert leader is not None
    members = store.queue.claim_digest("CPAY", leader, limit=10, threshold=3)
    store.queue.release_members(members[3:])  # the message had room for the leader and three more
    digest_key = f"digest:{leader.id}"
    assert {job.key for job in store.queue.digest_members(digest_key)} == {leader.key, *(j.key for j in members[:3])}
    assert store.queue.stats().counts == {"running": 4, "pending": 2}
    # Free at once, each on its own; their old lease holder can no longer finish them.
    store.queue.complete_members(members)
    assert store.queue.stats().counts == {"done": 3, "running": 1, "pending": 2}
    released = store.queue.claim(Lane.BULK.value, "worker-b", LEASE, limit=10)
    assert sorted(job.key for job in released) == ["notice:4", "notice:5"]
    assert all(job.digest_key is None for job in released)


def test_a_notice_whose_post_was_begun_is_never_folded_into_a_digest(store: Store, clock: FakeClock) -> None:
    """Killed between Slack taking a notice and recording it: that notice must finish as itself."""
    for number in range(5):
        add(store, ChannelNotice(channel="CPAY", kind="paid", invoice_id=f"in_{number}"), f"notice:{number}",
            channel="CPAY")
    interrupted = claim_one(store, Lane.BULK, "dead-worker")
    assert interrupted is not None and interrupted.key == "notice:0"
    with store.unit_of_work(DEFAULT_TENANT) as uow:
        uow.deliveries.begin(interrupted.key, "CPAY", None)
        uow.commit()
    clock.advance(LEASE + 1)
    leader = store.queue.claim(Lane.BULK.value, "worker-b", LEASE, limit=1)[0]
    members = store.queue.claim_digest("CPAY", leader, limit=10, threshold=2)
    assert "notice:0" not in {job.key for job in members} | {leader.key}


def test_a_digest_whose_leader_failed_for_good_still_posts_its_members(store: Store, clock: FakeClock) -> None:
    for number in range(4):
        add(store, ChannelNotice(channel="CPAY", kind="paid", invoice_id=f"in_{number}"), f"notice:{number}",
            channel="CPAY")
    leader = claim_one(store, Lane.BULK)
    assert leader is not None
    members = store.queue.claim_digest("CPAY", leader, limit=10, threshold=3)
    store.queue.return_members(members, 1.0, "Slack: ratelimited")  # the post failed...
    assert store.queue.fail(leader, "for good")  # ...and the leader ran out of attempts
    clock.advance(1)
    successor = claim_one(store, Lane.BULK, "worker-b")
    assert successor is not None and successor.digest_key == f"digest:{leader.id}"
    assert {job.id for job in store.queue.digest_members(successor.digest_key)} >= {job.id for job in members}
