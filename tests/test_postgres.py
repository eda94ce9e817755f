"""What only the PostgreSQL store has: wake-ups across replicas (NOTIFY/LISTEN), a listener and a
pool that outlive a dropped connection, migrations taken in turn by replicas starting at once, and
failures that raise instead of hanging when the server is away.

The contract both engines share is in tests/contract/; these run on a schema of their own per test
(see `tests.contract.conftest`), and are skipped without a server unless REQUIRE_POSTGRES=1.
"""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from bot.domain.tenants import DEFAULT_TENANT
from bot.errors import StoreUnavailable
from bot.jobs.model import Lane
from bot.jobs.payloads import ChannelNotice, ProcessEvent, RefreshMessage
from bot.store import migrate_database, open_store
from bot.store.migrations import load
from bot.store.ports import Store
from bot.store.postgres import PgExecutor, PostgresStore, apply_migrations
from bot.store.queue import _pick_claimable
from bot.store.repositories import POSTGRES
from bot.store.sqlite import SqliteStore
from tests.contract.conftest import (
    FakeClock,
    admin_connection,
    open_postgres,
    schema_url,
)

LATEST = [f"{m.version:04d}_{m.name}" for m in load("postgres")]



@pytest.fixture
def make_store(schema: str) -> Iterator[Callable[..., PostgresStore]]:
    """Stores on one schema, as replicas of the bot would open them."""
    opened: list[PostgresStore] = []

    def make(**options: Any) -> PostgresStore:
        opened.append(open_postgres(schema, options.pop("clock", FakeClock()), **options))
        return opened[-1]

    yield make
    for each in opened:
        each.close()


class Heard:
    """An `on_commit` subscriber that remembers every call."""

    def __init__(self) -> None:
        self.calls: list[set[str]] = []
        self._changed = threading.Condition()

    def __call__(self, lanes: set[str]) -> None:
        with self._changed:
            self.calls.append(set(lanes))
            self._changed.notify_all()

    def wait_for(self, lane: str, timeout: float = 5.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: any(lane in lanes for lanes in self.calls), timeout)

    def clear(self) -> None:
        with self._changed:
            self.calls.clear()


def queue_job(store: Store, key: str) -> None:
    with store.unit_of_work(DEFAULT_TENANT) as uow:
        uow.jobs.add(RefreshMessage(invoice_id=key), key)
        uow.commit()


def terminate(pid: int) -> None:
    with admin_connection() as connection:
        connection.execute("SELECT pg_terminate_backend(%s)", [pid])


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


# --- wake-ups across replicas --------------------------------------------------------------------
def test_a_commit_in_one_store_wakes_the_subscribers_of_another(make_store: Callable[..., PostgresStore]) -> None:
    writer, replica = make_store(), make_store()
    at_writer, at_replica = Heard(), Heard()
    writer.on_commit(at_writer)
    replica.on_commit(at_replica)
    assert writer.listening() and replica.listening()
    with writer.unit_of_work(DEFAULT_TENANT) as uow:
        uow.events.record({"id": "evt_1", "type": "invoice.paid"}, "{}")
        uow.jobs.add(ProcessEvent(event_id="evt_1"), "event:evt_1")
        uow.jobs.add(RefreshMessage(invoice_id="in_1"), "refresh:in_1")
        assert at_replica.calls == []  # nothing before the commit
        uow.commit()
    assert at_replica.wait_for("events") and at_replica.wait_for("own")
    assert set().union(*at_replica.calls) == {"events", "own"}
    # The job is there for whoever wakes.
    assert [job.key for job in replica.queue.claim(Lane.EVENTS.value, "replica", 30)] == ["event:evt_1"]
    # The writer's subscribers were told once, right after its commit, not again by its own listener.
    time.sleep(0.5)
    assert at_writer.calls == [{"events", "own"}]


def test_a_rolled_back_unit_of_work_wakes_nobody(make_store: Callable[..., PostgresStore]) -> None:
    writer, replica = make_store(), make_store()
    heard = Heard()
    replica.on_commit(heard)
    assert replica.listening()
    with writer.unit_of_work(DEFAULT_TENANT) as uow:
        uow.jobs.add(RefreshMessage(invoice_id="in_1"), "refresh:in_1")  # and no commit
    queue_job(writer, "later")  # a notification that does arrive, to know when to stop waiting
    assert heard.wait_for("own")
    assert heard.calls == [{"own"}]


def test_the_listener_reconnects_after_its_connection_is_terminated(
        make_store: Callable[..., PostgresStore]) -> None:
    writer, replica = make_store(), make_store()
    heard = Heard()
    replica.on_commit(heard)
    assert replica.listening()
    first = replica.listener_pid
    assert first is not None
    terminate(first)
    assert wait_until(lambda: replica.listener_pid not in (None, first))
    # Whatever was sent while it was away is lost: every lane is worth a look.
    assert {lane.value for lane in Lane} in heard.calls
    heard.clear()
    queue_job(writer, "after-reconnect")
    assert heard.wait_for("own")


def test_close_stops_the_listener(schema: str) -> None:
    store = open_postgres(schema, FakeClock())
    assert store.listening()
    pid = store.listener_pid
    store.close()

    def gone() -> bool:
        with admin_connection() as connection:
            return connection.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s",
                                      [pid]).fetchone() == (0,)

    assert wait_until(gone, 5)
    assert not any(thread.name.startswith(f"pg-listen-jobs_{schema}") and thread.is_alive()
                   for thread in threading.enumerate())


# --- the shared queue SQL under concurrency ------------------------------------------------------
def test_two_replicas_claiming_one_returned_digest_do_not_deadlock(make_store: Callable[..., PostgresStore],
                                                                   schema: str) -> None:
    """A claim locks the row it picked, then the rest of its digest: were two rows of one digest
    claimable, two replicas could hold one each and wait for the other's (DeadlockDetected)."""
    clock = FakeClock()
    store = make_store(clock=clock, listen=False)
    for number in range(4):
        with store.unit_of_work(DEFAULT_TENANT) as uow:
            uow.jobs.add(ChannelNotice(channel="CPAY", kind="paid", invoice_id=f"in_{number}"), f"notice:{number}",
                         channel="CPAY")
            uow.commit()
    leader = store.queue.claim(Lane.BULK.value, "worker", 30)[0]
    members = store.queue.claim_digest("CPAY", leader, limit=10, threshold=3)
    assert len(members) == 3
    store.queue.return_members(members, 5, "Slack: ratelimited")  # the digest's post failed: all of it waits
    assert store.queue.retry(leader, 5, "Slack: ratelimited")
    clock.advance(6)
    # Replica 2, frozen between picking a row of the digest and leasing the rest of the digest.
    with psycopg.connect(schema_url(schema), autocommit=True, row_factory=dict_row) as other:
        other.execute("BEGIN")
        (picked,) = _pick_claimable(PgExecutor(other), POSTGRES, Lane.BULK.value, clock(), 1)
        claimed: list[Any] = []
        replica = threading.Thread(target=lambda: claimed.append(_outcome(
            lambda: store.queue.claim(Lane.BULK.value, "replica-1", 30))))
        replica.start()
        time.sleep(0.3)  # replica 1 has picked (or found nothing) and may be waiting for a row replica 2 holds
        try:
            other.execute("UPDATE jobs SET status = 'running', lease_token = 'replica-2' WHERE digest_key = %s "
                          "AND status <> 'done'", [f"digest:{leader.id}"])
            other.execute("COMMIT")
        finally:
            replica.join(10)
    (outcome,) = claimed
    if isinstance(outcome, BaseException):
        raise outcome
    assert picked == leader.id and outcome == []  # the digest is replica 2's, whole


def _outcome(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except BaseException as error:  # noqa: BLE001 - handed to the test's thread
        return error


# --- migrations -----------------------------------------------------------------------------------
def test_replicas_migrating_at_once_apply_each_migration_once(schema: str) -> None:
    stores = [open_postgres(schema, FakeClock(), migrate=False, listen=False) for _ in range(2)]
    start = threading.Barrier(len(stores))
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def migrate(store: PostgresStore) -> None:
        try:
            start.wait(5)
            results.append(apply_migrations(store))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=migrate, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for store in stores:
        store.close()
    assert errors == []
    assert sorted(results) == [[], LATEST]
    with admin_connection() as connection:
        rows = connection.execute(f"SELECT version, name FROM {schema}.schema_migrations ORDER BY version").fetchall()
    assert rows == [(m.version, m.name) for m in load("postgres")]


def test_open_store_and_migrate_database_take_postgres_urls(schema: str) -> None:
    url = schema_url(schema)
    assert url.startswith(("postgresql://", "postgres://"))
    assert migrate_database(url) == LATEST
    assert migrate_database(url) == []
    store = open_store(url.replace("postgresql://", "postgres://", 1), clock=FakeClock())
    try:
        assert isinstance(store, PostgresStore) and store.ping()
        queue_job(store, "k")
        assert store.queue.stats().counts == {"pending": 1}
    finally:
        store.close()


def test_the_schema_matches_sqlites_in_postgresql_types(make_store: Callable[..., PostgresStore], schema: str,
                                                        tmp_path: Path) -> None:
    make_store(listen=False)
    with admin_connection() as connection:
        columns = connection.execute(
            "SELECT table_name, column_name, data_type, is_identity, identity_generation "
            "FROM information_schema.columns WHERE table_schema = %s ORDER BY table_name, ordinal_position",
            [schema]).fetchall()
        indexes = {row[0]: row[1] for row in connection.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s", [schema])}
    SqliteStore(str(tmp_path / "same.db")).close()
    with sqlite3.connect(tmp_path / "same.db") as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        in_sqlite = {table: [row[1] for row in db.execute(f"PRAGMA table_info({table})")] for table in tables}
        sqlite_indexes = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                                       "AND name NOT LIKE 'sqlite_autoindex%'")}
    in_postgres: dict[str, list[str]] = {}
    for table, column, *_ in columns:
        in_postgres.setdefault(table, []).append(column)
    assert in_postgres == in_sqlite  # the same tables and columns, in the same order
    assert sqlite_indexes <= set(indexes)
    types = {(table, column): (data_type, identity) for table, column, data_type, _, identity in columns}
    assert types["jobs", "id"] == types["audit", "id"] == ("bigint", "ALWAYS")
    assert types["jobs", "run_after"] == types["invoices", "updated_at"] == ("double precision", None)
    assert types["invoices", "total"] == types["invoices", "due_date"] == types["stripe_events", "created"] \
        == ("bigint", None)
    assert types["prices", "active"] == ("boolean", None) and types["jobs", "payload"] == ("text", None)
    assert types["channel_pace", "next_at"] == types["leases", "expires_at"] == types["leases", "since"] \
        == ("double precision", None)
    assert "(lane, status, run_after, id)" in indexes["idx_jobs_lane_status_run_after"]
    assert indexes["idx_jobs_key"].startswith("CREATE UNIQUE INDEX")
    assert indexes["idx_invoices_view_id"].startswith("CREATE UNIQUE INDEX")
    assert "(lease_token)" in indexes["idx_jobs_lease_token"] and "(digest_key)" in indexes["idx_jobs_digest_key"]


# --- the server away ------------------------------------------------------------------------------
def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_without_a_server_ping_is_false_and_work_raises_quickly() -> None:
    url = f"postgresql://postgres@127.0.0.1:{unused_port()}/test"
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        PostgresStore(url, pool_timeout=1.0)  # migrating needs a connection
    assert time.monotonic() - started < 5
    store = PostgresStore(url, migrate=False, pool_timeout=1.0)
    try:
        started = time.monotonic()
        assert store.ping() is False
        assert time.monotonic() - started < 3
        for attempt in (lambda: store.reads(DEFAULT_TENANT).invoices.get("in_1"),
                        lambda: store.queue.claim("own", "w", 30),
                        lambda: queue_job(store, "k")):
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                attempt()
            assert time.monotonic() - started < 3
        assert not store.listening(0.2)
    finally:
        started = time.monotonic()
        store.close()
        assert time.monotonic() - started < 5


def test_ping_gives_up_on_a_server_that_never_answers() -> None:
    """A peer that takes the TCP connection and then says nothing (a hung server, a black hole)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        store = PostgresStore(f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/test", migrate=False,
                              listen=False, pool_timeout=1.0)
        try:
            started = time.monotonic()
            assert store.ping() is False
            assert time.monotonic() - started < 3
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                store.reads(DEFAULT_TENANT).routes.all()
            assert time.monotonic() - started < 3
        finally:
            store.close()


def test_a_unit_of_work_whose_connection_dies_rolls_back_and_the_next_one_works(
        make_store: Callable[..., PostgresStore]) -> None:
    store = make_store()
    with pytest.raises(StoreUnavailable), store.unit_of_work(DEFAULT_TENANT) as uow:
        uow.customers.save("cus_lost", "lost@example.com", "Lost")
        row = uow.customers.db.one("SELECT pg_backend_pid() AS pid")
        assert row is not None
        terminate(int(row["pid"]))
        uow.customers.save("cus_lost2", "lost2@example.com", "Lost too")
        uow.commit()
    assert store.reads(DEFAULT_TENANT).customers.get("cus_lost") is None
    with store.unit_of_work(DEFAULT_TENANT) as uow:
        uow.customers.save("cus_kept", "kept@example.com", "Kept")
        uow.commit()
    assert store.reads(DEFAULT_TENANT).customers.get("cus_kept") is not None and store.ping()


def test_every_connection_dropped_at_once_as_a_restart_would(make_store: Callable[..., PostgresStore],
                                                              schema: str) -> None:
    """All of a store's backends terminated (a PostgreSQL restart, seen from the client): the pool
    hands out fresh connections and the listener comes back."""
    writer, replica = make_store(), make_store()
    heard = Heard()
    replica.on_commit(heard)
    for number in range(3):  # several connections in both pools
        queue_job(writer, f"before-{number}")
        assert replica.reads(DEFAULT_TENANT).invoices.get("in_1") is None
    assert replica.listening()
    listener = replica.listener_pid
    with admin_connection() as connection:
        killed = connection.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                    "WHERE application_name = %s", [schema]).fetchall()
    assert len(killed) >= 3
    assert writer.ping() and replica.ping()
    assert replica.queue.stats().counts == {"pending": 3}
    assert wait_until(lambda: replica.listener_pid not in (None, listener))
    heard.clear()
    queue_job(writer, "after")
    assert heard.wait_for("own")
