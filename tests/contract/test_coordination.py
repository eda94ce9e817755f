"""What processes on one database share outside the jobs: Slack's pace per channel and leases.

Each test opens two stores on one database (`make_store`), as two replicas (or the bot and its
worker process) would. On PostgreSQL the server's clock times both, whatever the stores' own
clocks say, so time passes there by sleeping; on SQLite (one file, one host) the store's clock
does, and the fake clock is advanced instead. Every wait asserted is bounded on both sides, with
margins far wider than a slow machine's pauses between two statements.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from bot.domain.tenants import DEFAULT_TENANT
from bot.store.ports import Store
from tests.contract.conftest import BACKENDS, FakeClock

T = DEFAULT_TENANT  # the tenant these tests write and read (isolation is tested with a second one)

INTERVAL = 1.0  # Slack's pace: one post a second per channel
RETRY_AFTER = 30.0
TTL = 1.0


def elapse(backend: str, clock: FakeClock, seconds: float) -> None:
    """Let `seconds` pass for whichever clock times the store."""
    clock.advance(seconds)
    if backend == "postgres":
        time.sleep(seconds)


# --- the pace ----------------------------------------------------------------------------------
def test_two_stores_get_one_slot_per_interval_between_them(backend: str, store: Store,
                                                           make_store: Callable[[], Store], clock: FakeClock) -> None:
    one, two = store.pace(INTERVAL, T), make_store().pace(INTERVAL, T)
    assert one.claim("CPAY") == 0.0
    wait = two.claim("CPAY")
    assert 0.0 < wait <= INTERVAL  # the other replica waits for the rest of the interval
    assert 0.0 < one.claim("CPAY") <= wait  # and so does the one that took the slot
    elapse(backend, clock, wait)
    assert two.claim("CPAY") == 0.0  # the next slot, taken by whoever asks first
    assert one.claim("CPAY") > 0.0


def test_claimers_racing_for_one_channel_get_one_slot(store: Store, make_store: Callable[[], Store]) -> None:
    paces = [store.pace(INTERVAL, T), make_store().pace(INTERVAL, T)] * 4  # four threads of each replica
    start = threading.Barrier(len(paces))
    waits: list[float] = []

    def claim(pace_index: int) -> None:
        start.wait(10)
        waits.append(paces[pace_index].claim("CPAY"))

    threads = [threading.Thread(target=claim, args=(index,)) for index in range(len(paces))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(waits) == len(paces)
    assert sorted(waits)[0] == 0.0 and all(0.0 < wait <= INTERVAL for wait in sorted(waits)[1:])


def test_a_retry_after_one_store_heard_delays_the_others_claims(backend: str, store: Store,
                                                                make_store: Callable[[], Store],
                                                                clock: FakeClock) -> None:
    one, two = store.pace(INTERVAL, T), make_store().pace(INTERVAL, T)
    assert one.claim("CPAY") == 0.0
    one.reserve("CPAY", RETRY_AFTER)  # Slack answered 429 with Retry-After: 30
    wait = two.claim("CPAY")
    assert RETRY_AFTER < wait <= RETRY_AFTER + INTERVAL
    two.reserve("CPAY")  # a post the other replica made meanwhile does not shorten it
    assert RETRY_AFTER - 5 < one.claim("CPAY") <= wait
    if backend == "sqlite":  # the store's clock times SQLite's pace: the slot comes free with it
        clock.advance(RETRY_AFTER + INTERVAL)
        assert two.claim("CPAY") == 0.0


def test_a_post_pushes_the_next_slot_an_interval_past_its_end(backend: str, store: Store,
                                                              make_store: Callable[[], Store],
                                                              clock: FakeClock) -> None:
    one, two = store.pace(INTERVAL, T), make_store().pace(INTERVAL, T)
    assert one.claim("CPAY") == 0.0
    elapse(backend, clock, 0.5)  # the post took half a second
    one.reserve("CPAY")
    assert INTERVAL - 0.25 < two.claim("CPAY") <= INTERVAL
    two.reserve("CTHREAD")  # a thread reply, posted without a claim, still paces its channel
    assert 0.0 < one.claim("CTHREAD") <= INTERVAL


def test_channels_keep_paces_of_their_own(store: Store, make_store: Callable[[], Store]) -> None:
    one, two = store.pace(INTERVAL, T), make_store().pace(INTERVAL, T)
    assert one.claim("CPAY") == 0.0
    assert two.claim("CSALES") == 0.0
    one.reserve("CVIP", RETRY_AFTER)
    assert one.claim("COTHER") == 0.0 and two.claim("CPAY2") == 0.0
    assert two.claim("CPAY") > 0.0 and one.claim("CSALES") > 0.0 and two.claim("CVIP") > RETRY_AFTER


def test_the_pace_is_timed_by_the_database_not_by_the_stores_clocks(backend: str, store: Store,
                                                                     make_store: Callable[[], Store],
                                                                     clock: FakeClock, tmp_path: Path) -> None:
    if backend == "sqlite":
        # One SQLite file is one host: the store's clock times the pace (so tests may move it).
        one, two = store.pace(INTERVAL, T), make_store().pace(INTERVAL, T)
        assert one.claim("CPAY") == 0.0 and two.claim("CPAY") > 0.0
        clock.advance(INTERVAL)
        assert two.claim("CPAY") == 0.0
        return
    # Two replicas whose clocks are an hour and a half apart, neither near the real time.
    behind, ahead = BACKENDS[backend](tmp_path, FakeClock(1_000_000.0)), BACKENDS[backend](
        tmp_path, FakeClock(clock.now + 5_400.0))
    try:
        early, late = behind.pace(INTERVAL, T), ahead.pace(INTERVAL, T)
        assert early.claim("CPAY") == 0.0
        assert 0.0 < late.claim("CPAY") <= INTERVAL  # the late clock's replica still waits
        late.reserve("CPAY", RETRY_AFTER)
        assert RETRY_AFTER - 5 < early.claim("CPAY") <= RETRY_AFTER + INTERVAL  # not an hour and a half
        clock.advance(10_000.0)  # no store's clock moving frees a slot
        assert store.pace(INTERVAL, T).claim("CPAY") > 0.0
    finally:
        behind.close()
        ahead.close()


# --- leases ------------------------------------------------------------------------------------
def test_a_lease_has_one_holder_until_it_releases_it(store: Store, make_store: Callable[[], Store]) -> None:
    mine, theirs = store.leases, make_store().leases
    held = mine.acquire("socket_mode", "token-a", "host a, pid 1", 30.0)
    assert (held.token, held.holder) == ("token-a", "host a, pid 1") and held.expires_at > held.since
    refused = theirs.acquire("socket_mode", "token-b", "host b, pid 2", 30.0)
    assert refused == held  # the live holder, as it stands: whom to name in the refusal
    again = mine.acquire("socket_mode", "token-a", "host a, pid 1", 30.0)
    assert again.token == "token-a" and again.since == held.since  # taking it again is holding on
    assert not theirs.renew("socket_mode", "token-b", 30.0)
    theirs.release("socket_mode", "token-b")  # only its holder can give it up
    assert theirs.acquire("socket_mode", "token-b", "host b, pid 2", 30.0).token == "token-a"
    assert theirs.acquire("other_thing", "token-b", "host b, pid 2", 30.0).token == "token-b"  # leases by name
    mine.release("socket_mode", "token-a")
    taken = theirs.acquire("socket_mode", "token-b", "host b, pid 2", 30.0)
    assert (taken.token, taken.holder) == ("token-b", "host b, pid 2")
    assert not mine.renew("socket_mode", "token-a", 30.0)


def test_a_lease_not_renewed_runs_out_and_a_new_holder_gets_it(backend: str, store: Store,
                                                               make_store: Callable[[], Store],
                                                               clock: FakeClock) -> None:
    crashed, next_one = store.leases, make_store().leases
    first = crashed.acquire("socket_mode", "token-a", "host a, pid 1", TTL)
    elapse(backend, clock, 0.1)
    assert crashed.renew("socket_mode", "token-a", TTL)
    renewed = next_one.acquire("socket_mode", "token-b", "host b, pid 2", TTL)
    assert renewed.token == "token-a" and renewed.expires_at > first.expires_at  # held on by renewing
    elapse(backend, clock, TTL + 0.1)  # then it crashed: no renewal for a whole lease
    taken = next_one.acquire("socket_mode", "token-b", "host b, pid 2", TTL)
    assert taken.token == "token-b" and taken.since > first.since
    assert not crashed.renew("socket_mode", "token-a", TTL)  # a holder that comes back learns it lost
    crashed.release("socket_mode", "token-a")  # and giving up what it no longer holds changes nothing
    assert crashed.acquire("socket_mode", "token-a", "host a, pid 1", TTL).token == "token-b"


def test_a_lease_is_held_only_while_now_is_before_it_expires(store: Store, make_store: Callable[[], Store]) -> None:
    store.leases.acquire("socket_mode", "token-a", "host a, pid 1", 0.0)
    assert make_store().leases.acquire("socket_mode", "token-b", "host b, pid 2", TTL).token == "token-b"
