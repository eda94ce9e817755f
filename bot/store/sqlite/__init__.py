"""The SQLite store: the embedded default.

One writer connection: a unit of work takes the process's write lock and `BEGIN IMMEDIATE`
(which also waits for a second process holding the file), so writes never interleave and a
transaction is what it says. Reads never take that lock: each runs on a query-only connection
from a small pool, and WAL lets it read the last committed state while a write is in progress.
"""

from __future__ import annotations

import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from bot.store.coordination import SqlChannelPace, SqlLeases
from bot.store.directory import SqlDirectory
from bot.store.migrations import load
from bot.store.queue import SqlJobQueue
from bot.store.repositories import SQLITE, Clock, Executor, Row, SqlRepositories
from bot.store.scope import TenantScope

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_SECONDS = 30.0
# Names of the migrations sqlite-utils applied before the bot had numbered SQL files.
SQLITE_UTILS_HISTORY = {"m001_initial": 1, "m002_event_outcomes_and_notices": 2, "m003_deliveries": 3}
OnCommit = Callable[[set[str]], None]


class ConnectionExecutor:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.connection.execute(sql, params).rowcount

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cursor = self.connection.execute(sql, params)
        names = [column[0] for column in cursor.description or ()]
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        cursor = self.connection.execute(sql, params)
        values = cursor.fetchone()
        if values is None:
            return None
        cursor.close()
        return dict(zip([column[0] for column in cursor.description or ()], values, strict=True))


class PooledReader:
    """An executor that runs each query on an idle reader connection (opening one when none is idle)."""

    def __init__(self, open_connection: Callable[[], sqlite3.Connection]) -> None:
        self._open = open_connection
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def _connection(self) -> Iterator[ConnectionExecutor]:
        try:
            connection = self._idle.get_nowait()
        except queue.Empty:
            with self._lock:
                if self._closed:
                    raise sqlite3.ProgrammingError("the store is closed") from None
                connection = self._open()
                self._all.append(connection)
        try:
            yield ConnectionExecutor(connection)
        finally:
            self._idle.put(connection)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._connection() as db:
            return db.execute(sql, params)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._connection() as db:
            return db.rows(sql, params)

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        with self._connection() as db:
            return db.one(sql, params)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for connection in self._all:
                connection.close()
            self._all.clear()


def _connect(path: str, *, query_only: bool = False) -> sqlite3.Connection:
    # isolation_level=None: no implicit transactions; units of work say BEGIN IMMEDIATE themselves.
    # Readers never wait on a lock in WAL mode but a checkpoint's; the writer waits in `_take_file_lock`.
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA synchronous=NORMAL")
    if query_only:
        connection.execute("PRAGMA query_only=ON")
    return connection


def _create_private(path: str) -> None:
    """The database holds customers' names and emails: only the bot's user may read it (0600).
    SQLite gives its -wal and -shm files the same mode as the database file."""
    if not os.path.exists(path):
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


class SqliteUnitOfWork(SqlRepositories):
    def __init__(self, store: SqliteStore, tenant: str) -> None:
        self._store = store
        self._lanes: set[str] = set()
        self._committed = False
        self._open = False
        super().__init__(ConnectionExecutor(store._writer), store.clock, tenant, SQLITE, self._lanes)

    def __enter__(self) -> SqliteUnitOfWork:
        self._store._begin()
        self._open = True
        return self

    def commit(self) -> None:
        if not self._open:
            raise RuntimeError("commit() outside `with store.unit_of_work()`")
        self._store._writer.execute("COMMIT")
        self._committed = True

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._open = False
        self._store._end(rollback=not self._committed)
        if self._committed and self._lanes:
            self._store._notify(set(self._lanes))


class SqliteStore:
    def __init__(self, path: str, *, clock: Clock = time.time, migrate: bool = True) -> None:
        if path in ("", ":memory:") or path.startswith("file:"):
            raise ValueError("the SQLite store needs a file path: its readers open connections of their own")
        self.path = path
        self.clock = clock
        self._subscribers: list[OnCommit] = []
        _create_private(path)
        self._writer = _connect(path)
        # Processes opening a new file at once wait for each other here (SQLite's busy handler)...
        self._writer.execute("PRAGMA journal_mode=WAL")
        # ...and from then on the writer waits in `_take_file_lock`, in finer steps than SQLite's.
        self._writer.execute("PRAGMA busy_timeout=0")
        self._write_lock = threading.Lock()
        self._writing_thread: int | None = None
        self._reader = PooledReader(lambda: _connect(path, query_only=True))
        if migrate:
            apply_migrations(self)
        self._reads: dict[str, SqlRepositories] = {}
        self._queue = SqlJobQueue(self._transaction, self._reader, clock, SQLITE)
        self._leases = SqlLeases(self._transaction, clock, SQLITE)
        self._directory = SqlDirectory(self._transaction, self._reader, clock, SQLITE)

    def reads(self, tenant: str) -> SqlRepositories:
        reads = self._reads.get(tenant)
        if reads is None:
            reads = self._reads[tenant] = SqlRepositories(self._reader, self.clock, tenant)
        return reads

    def tenant(self, tenant: str) -> TenantScope:
        return TenantScope(self, tenant)

    @property
    def queue(self) -> SqlJobQueue:
        return self._queue

    @property
    def leases(self) -> SqlLeases:
        return self._leases

    @property
    def directory(self) -> SqlDirectory:
        return self._directory

    def unit_of_work(self, tenant: str) -> SqliteUnitOfWork:
        return SqliteUnitOfWork(self, tenant)

    def pace(self, interval: float, tenant: str) -> SqlChannelPace:
        # A short write transaction per claim, like the queue's: the writer connection is shared by
        # the store's threads, so even one statement on it goes under the write lock.
        return SqlChannelPace(self._transaction, self.clock, SQLITE, interval, tenant)

    def on_commit(self, callback: OnCommit) -> None:
        self._subscribers.append(callback)

    def ping(self) -> bool:
        try:
            return self._reader.one("SELECT 1 AS ok") == {"ok": 1}
        except sqlite3.Error:
            return False

    def close(self) -> None:
        with self._write_lock:
            self._writer.close()
        self._reader.close()

    # --- the write lock and the transaction around it ----------------------------------------
    def _begin(self) -> None:
        if self._writing_thread == threading.get_ident():
            raise RuntimeError("a unit of work is already open on this thread; nest nothing inside one")
        self._write_lock.acquire()
        self._writing_thread = threading.get_ident()
        try:
            self._take_file_lock()
        except BaseException:
            self._writing_thread = None
            self._write_lock.release()
            raise

    def _take_file_lock(self) -> None:
        """`BEGIN IMMEDIATE`, waiting for another process's write in steps of a fraction of a
        millisecond. SQLite's own busy handler sleeps 1, 2, 5, 10, 15 ... ms between tries: behind a
        worker process's 10 ms batch, a webhook's group commit waited 30 ms, far past its write."""
        deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
        pause = 0.0002
        while True:
            try:
                self._writer.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) and "busy" not in str(error):
                    raise
                if time.monotonic() > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 1.5, 0.002)

    def _end(self, *, rollback: bool) -> None:
        try:
            if rollback and self._writer.in_transaction:
                self._writer.execute("ROLLBACK")
        finally:
            self._writing_thread = None
            self._write_lock.release()

    @contextmanager
    def _transaction(self) -> Iterator[Executor]:
        """A short write of the store's own (the queue's claims and leases)."""
        self._begin()
        committed = False
        try:
            yield ConnectionExecutor(self._writer)
            self._writer.execute("COMMIT")
            committed = True
        finally:
            self._end(rollback=not committed)

    def _notify(self, lanes: set[str]) -> None:
        for callback in self._subscribers:
            try:
                callback(lanes)
            except Exception:
                logger.exception("telling %r about new jobs in %s failed", callback, sorted(lanes))


def apply_migrations(store: SqliteStore) -> list[str]:
    """Apply the SQL files not yet recorded, all in one `BEGIN IMMEDIATE` (processes starting at once
    take turns). A database made before numbered migrations adopts sqlite-utils' history."""
    applied_now: list[str] = []
    with store._transaction() as db:
        db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                   "applied_at REAL NOT NULL)")
        applied = {int(row["version"]) for row in db.rows("SELECT version FROM schema_migrations")}
        made_by_sqlite_utils = db.one("SELECT name FROM sqlite_master WHERE type = 'table' "
                                      "AND name = '_sqlite_migrations'")
        if not applied and made_by_sqlite_utils:
            for row in db.rows("SELECT name FROM _sqlite_migrations WHERE migration_set = 'invoicebot'"):
                version = SQLITE_UTILS_HISTORY.get(str(row["name"]))
                if version is not None:
                    db.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                               [version, str(row["name"]), store.clock()])
                    applied.add(version)
        for migration in load("sqlite"):
            if migration.version in applied:
                continue
            for statement in migration.statements:
                db.execute(statement)
            db.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                       [migration.version, migration.name, store.clock()])
            applied_now.append(f"{migration.version:04d}_{migration.name}")
    if applied_now:
        logger.info("applied migrations %s to %s", ", ".join(applied_now), store.path)
    return applied_now
