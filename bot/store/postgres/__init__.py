"""The PostgreSQL store: several replicas on one database.

Connections come from one `psycopg_pool.ConnectionPool`, each in autocommit mode and checked
before it is handed out (a connection that died with its server is replaced, not used). A unit of
work holds one connection for its life and runs one READ COMMITTED transaction on it (`BEGIN` ...
`COMMIT`; leaving without commit rolls back); rows it reads to change are locked by the shared
SQL (`Dialect.for_update`), and job picking skips rows another transaction holds. Reads run each
query on a pool connection of their own, outside any transaction: MVCC answers them from the last
committed state without waiting for a writer.

Wake-ups cross processes: a unit of work that queued jobs sends `pg_notify(channel, lane)` in its
transaction (delivered on commit), and a listener thread of every store `LISTEN`s on its own
connection and tells the store's `on_commit` subscribers about lanes other stores filled. Its own
notifications are recognised by the sending backend's pid and skipped: the store already told its
subscribers directly, right after the commit. Workers still poll, so a lost notification only
delays work.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from types import TracebackType
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from bot.errors import StoreUnavailable
from bot.jobs.model import Lane
from bot.store.coordination import SqlChannelPace, SqlLeases
from bot.store.directory import SqlDirectory
from bot.store.migrations import load
from bot.store.queue import SqlJobQueue
from bot.store.repositories import POSTGRES, Clock, Executor, Row, SqlRepositories
from bot.store.scope import TenantScope

logger = logging.getLogger(__name__)

Connection = psycopg.Connection[DictRow]
OnCommit = Callable[[set[str]], None]

NOTIFY_CHANNEL = "invoicebot_jobs"
# pg_advisory_xact_lock key for migrations: replicas starting at once apply them in turn.
MIGRATION_LOCK = 0x696E766F69636562  # b"invoiceb" as a bigint: any constant works, this one is ours
DEFAULT_POOL_SIZE = 10
# Waiting for a free (or new) connection before StoreUnavailable. A listener queues before its ack,
# within Slack's 3 s: with the server down, it must hear so in time to tell the person, not hang.
POOL_TIMEOUT_SECONDS = 2.0
CONNECT_TIMEOUT_SECONDS = 5  # libpq's own default is to wait forever for an unreachable host
PING_TIMEOUT_SECONDS = 2.0
# psycopg_pool retries a lost connection with a doubling delay (1, 2, 4, ... s) until this many
# seconds have passed, then gives up and opens a fresh one on the next checkout. Its default (300 s)
# lets the delay grow past a minute during an outage, and checkouts wait that long after the
# server is back; 10 s keeps the gap between attempts at 4 s or less.
RECONNECT_TIMEOUT_SECONDS = 10.0
LISTEN_POLL_SECONDS = 0.25  # how often the listener looks at its stop flag
LISTEN_HEALTH_SECONDS = 15.0  # a quiet listener checks its connection this often
LISTEN_BACKOFF_FIRST, LISTEN_BACKOFF_MAX = 0.5, 10.0
CHANNEL_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
ALL_LANES = frozenset(lane.value for lane in Lane)


@lru_cache(maxsize=4096)
def to_pyformat(statement: str) -> str:
    """`?` placeholders as psycopg's `%s` (a `%` of the SQL itself is doubled first)."""
    return statement.replace("%", "%%").replace("?", "%s")


class PgExecutor:
    """The shared SQL on one psycopg connection (rows as dicts)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    # A connection that broke mid-statement (the server restarted, the network cut) surfaces as
    # StoreUnavailable: the callers' one word for "the database did not answer; try again".
    def execute(self, statement: str, params: Sequence[Any] = ()) -> int:
        try:
            # Parameters always go along (even none), so psycopg always reads `%%` as `%`.
            return self.connection.execute(to_pyformat(statement), list(params)).rowcount
        except psycopg.OperationalError as error:
            raise _unavailable(error) from error

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            return self.connection.execute(to_pyformat(statement), list(params)).fetchall()
        except psycopg.OperationalError as error:
            raise _unavailable(error) from error

    def one(self, statement: str, params: Sequence[Any] = ()) -> Row | None:
        try:
            return self.connection.execute(to_pyformat(statement), list(params)).fetchone()
        except psycopg.OperationalError as error:
            raise _unavailable(error) from error


def _unavailable(error: psycopg.OperationalError) -> StoreUnavailable:
    return StoreUnavailable(f"the database did not answer: {str(error).strip() or type(error).__name__}")


class Connections:
    """The pool, handing out only connections that answer.

    Each checkout is checked (`ConnectionPool.check_connection`, one empty query). A connection
    that fails it (its server restarted, or it was terminated) goes back to the pool, which
    discards it and opens another, and the next one is tried at once: after a restart the idle
    connections are all dead, and the pool's own `check=` loop would sleep with a backoff between
    them (1 s, 2 s, ...), long enough to time out with a healthy server behind a pool of ten."""

    def __init__(self, pool: ConnectionPool[Connection]) -> None:
        self.pool = pool

    def get(self, timeout: float | None = None) -> Connection:
        deadline = time.monotonic() + (self.pool.timeout if timeout is None else timeout)
        for _ in range(self.pool.max_size + 2):  # bounded: a server that drops every new connection
            try:
                connection = self.pool.getconn(max(deadline - time.monotonic(), 0.0))
            except psycopg.OperationalError as error:  # PoolTimeout: no connection could be made in time
                raise _unavailable(error) from error
            try:
                ConnectionPool.check_connection(connection)
            except psycopg.Error as error:
                logger.info("discarding a broken connection: %s", error)
                self.pool.putconn(connection)
                continue
            except BaseException:
                self.pool.putconn(connection)
                raise
            return connection
        raise StoreUnavailable("no working database connection: each one the pool gave failed its check")

    def put(self, connection: Connection) -> None:
        self.pool.putconn(connection)

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[Connection]:
        connection = self.get(timeout)
        try:
            yield connection
        finally:
            self.put(connection)


class PooledReader:
    """An executor that answers each query on a pool connection, outside any transaction."""

    def __init__(self, connections: Connections) -> None:
        self._connections = connections

    def execute(self, statement: str, params: Sequence[Any] = ()) -> int:
        with self._connections.connection() as connection:
            return PgExecutor(connection).execute(statement, params)

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._connections.connection() as connection:
            return PgExecutor(connection).rows(statement, params)

    def one(self, statement: str, params: Sequence[Any] = ()) -> Row | None:
        with self._connections.connection() as connection:
            return PgExecutor(connection).one(statement, params)


class _UnitExecutor:
    """The unit of work's executor: its connection is bound on `__enter__`."""

    def __init__(self) -> None:
        self.bound: PgExecutor | None = None

    def _db(self) -> PgExecutor:
        if self.bound is None:
            raise RuntimeError("the unit of work is used outside `with store.unit_of_work()`")
        return self.bound

    def execute(self, statement: str, params: Sequence[Any] = ()) -> int:
        return self._db().execute(statement, params)

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._db().rows(statement, params)

    def one(self, statement: str, params: Sequence[Any] = ()) -> Row | None:
        return self._db().one(statement, params)


class PostgresUnitOfWork(SqlRepositories):
    def __init__(self, store: PostgresStore, tenant: str) -> None:
        self._store = store
        self._lanes: set[str] = set()
        self._executor = _UnitExecutor()
        self._connection: Connection | None = None
        self._committed = False
        super().__init__(self._executor, store.clock, tenant, POSTGRES, self._lanes)

    def __enter__(self) -> PostgresUnitOfWork:
        self._connection = self._store._begin()
        self._executor.bound = PgExecutor(self._connection)
        return self

    def commit(self) -> None:
        if self._connection is None or self._executor.bound is None:
            raise RuntimeError("commit() outside `with store.unit_of_work()`")
        # Sent inside the transaction: other stores hear of the jobs when (and only if) they commit.
        self._store._announce(self._executor.bound, self._lanes)
        PgExecutor(self._connection).execute("COMMIT")
        self._committed = True

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        connection, self._connection, self._executor.bound = self._connection, None, None
        if connection is not None:
            self._store._end(connection, rollback=not self._committed)
        if self._committed and self._lanes:
            self._store._notify(set(self._lanes))


class PostgresStore:
    def __init__(self, url: str, *, clock: Clock = time.time, migrate: bool = True,
                 pool_size: int = DEFAULT_POOL_SIZE, pool_timeout: float = POOL_TIMEOUT_SECONDS,
                 listen: bool = True, notify_channel: str = NOTIFY_CHANNEL) -> None:
        if pool_size < 2:
            raise ValueError("pool_size must be at least 2: a reader must never wait for the writer's connection")
        if not CHANNEL_NAME.match(notify_channel):
            raise ValueError(f"notify_channel must be a plain lower-case identifier, not {notify_channel!r}")
        pool_logger = logging.getLogger("psycopg.pool")
        if pool_logger.level == logging.NOTSET:
            pool_logger.setLevel(logging.WARNING)  # it logs every checkout at INFO
        self.url = url
        self.clock = clock
        self.notify_channel = notify_channel
        self._subscribers: list[OnCommit] = []
        self._local = threading.local()
        # Backends of this store's pool (by pid): their notifications are our own commits.
        self._own_backends: weakref.WeakValueDictionary[int, Connection] = weakref.WeakValueDictionary()
        self._pool: ConnectionPool[Connection] = ConnectionPool(
            url,
            connection_class=Connection,
            kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": CONNECT_TIMEOUT_SECONDS,
                    "fallback_application_name": "invoicebot",
                    # No server-side prepared statements: a `SELECT *` prepared before a migration
                    # added a column would fail with "cached plan must not change result type".
                    "prepare_threshold": None},
            min_size=min(2, pool_size),
            max_size=pool_size,
            timeout=pool_timeout,
            reconnect_timeout=RECONNECT_TIMEOUT_SECONDS,
            configure=self._configure,
            reconnect_failed=self._reconnect_failed,
            name="invoicebot",
            open=True,
        )
        self._connections = Connections(self._pool)
        self._reader = PooledReader(self._connections)
        self._listener: _Listener | None = None
        try:
            if migrate:
                apply_migrations(self)
        except BaseException:
            self._pool.close()
            raise
        self._reads: dict[str, SqlRepositories] = {}
        self._queue = SqlJobQueue(self._transaction, self._reader, clock, POSTGRES)
        self._leases = SqlLeases(self._autocommit, clock, POSTGRES)
        self._directory = SqlDirectory(self._transaction, self._reader, clock, POSTGRES)
        if listen:
            self._listener = _Listener(url, notify_channel, self._heard)
            self._listener.start()

    def reads(self, tenant: str) -> SqlRepositories:
        reads = self._reads.get(tenant)
        if reads is None:
            reads = self._reads[tenant] = SqlRepositories(self._reader, self.clock, tenant, POSTGRES)
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

    def unit_of_work(self, tenant: str) -> PostgresUnitOfWork:
        return PostgresUnitOfWork(self, tenant)

    def pace(self, interval: float, tenant: str) -> SqlChannelPace:
        # Each claim is one autocommit statement on a pool connection: one round trip, its row
        # lock held only while the statement runs, timed by the server's clock.
        return SqlChannelPace(self._autocommit, self.clock, POSTGRES, interval, tenant)

    def on_commit(self, callback: OnCommit) -> None:
        self._subscribers.append(callback)

    def ping(self) -> bool:
        """True when `SELECT 1` answers within about two seconds; never raises."""
        deadline = time.monotonic() + PING_TIMEOUT_SECONDS
        try:
            with self._connections.connection(timeout=PING_TIMEOUT_SECONDS) as connection:
                # A server that takes the query and never answers: cancel it when the time is up.
                watchdog = threading.Timer(max(deadline - time.monotonic(), 0.05), _cancel, [connection])
                watchdog.daemon = True
                watchdog.start()
                try:
                    return connection.execute("SELECT 1 AS ok").fetchone() == {"ok": 1}
                finally:
                    watchdog.cancel()
                    watchdog.join()  # no cancel may reach the connection's next user
        except Exception:  # noqa: BLE001 - a health check answers, it does not raise
            return False

    def listening(self, timeout: float = 5.0) -> bool:
        """Wait until the listener is subscribed (tests, start-up checks); False without a listener."""
        return self._listener is not None and self._listener.ready.wait(timeout)

    @property
    def listener_pid(self) -> int | None:
        """The backend pid of the listener's connection while it is connected."""
        return self._listener.backend_pid if self._listener is not None else None

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stop()
        self._pool.close()

    # --- transactions ---------------------------------------------------------------------------
    def _configure(self, connection: Connection) -> None:
        self._own_backends[connection.info.backend_pid] = connection

    def _reconnect_failed(self, pool: ConnectionPool[Any]) -> None:
        logger.error("no new database connection for %.0f s; the pool keeps trying as it is used",
                     pool.reconnect_timeout)

    def _begin(self) -> Connection:
        if getattr(self._local, "open", False):
            raise RuntimeError("a unit of work is already open on this thread; nest nothing inside one")
        connection = self._connections.get()
        try:
            PgExecutor(connection).execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        except BaseException:
            self._connections.put(connection)
            raise
        self._local.open = True
        return connection

    def _end(self, connection: Connection, *, rollback: bool) -> None:
        try:
            if rollback and not connection.closed \
                    and connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                connection.execute("ROLLBACK")
        except psycopg.Error as error:
            # The connection broke (its transaction went with it); the pool replaces it.
            logger.debug("rollback on a broken connection: %s", error)
        finally:
            self._local.open = False
            self._connections.put(connection)

    @contextmanager
    def _transaction(self) -> Iterator[Executor]:
        """A short write of the store's own (the queue's claims and leases)."""
        connection = self._begin()
        committed = False
        try:
            yield PgExecutor(connection)
            PgExecutor(connection).execute("COMMIT")
            committed = True
        finally:
            self._end(connection, rollback=not committed)

    @contextmanager
    def _autocommit(self) -> Iterator[Executor]:
        """Statements each committed on their own (a pace claim, a lease), on one pool connection."""
        with self._connections.connection() as connection:
            yield PgExecutor(connection)

    # --- wake-ups -------------------------------------------------------------------------------
    def _announce(self, db: Executor, lanes: set[str]) -> None:
        for lane in sorted(lanes):
            db.execute("SELECT pg_notify(?, ?)", [self.notify_channel, lane])

    def _heard(self, pid: int, lanes: set[str]) -> None:
        if pid and pid in self._own_backends:
            return  # our own commit: its subscribers were told right after it
        self._notify(lanes)

    def _notify(self, lanes: set[str]) -> None:
        for callback in list(self._subscribers):
            try:
                callback(lanes)
            except Exception:
                logger.exception("telling %r about new jobs in %s failed", callback, sorted(lanes))


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _cancel(connection: Connection) -> None:
    try:
        connection.cancel_safe(timeout=PING_TIMEOUT_SECONDS)
    except Exception:  # noqa: BLE001 - best effort: the query may have finished meanwhile
        logger.debug("cancelling a slow ping failed", exc_info=True)


class _Listener:
    """A daemon thread that LISTENs on a connection of its own, reconnecting with a backoff.

    `deliver(pid, lanes)` gets each notification (pid 0 with every lane after a reconnect: what was
    sent while it was away is lost, so every lane is worth a look)."""

    def __init__(self, url: str, channel: str, deliver: Callable[[int, set[str]], None]) -> None:
        self._url = url
        self._channel = channel
        self._deliver = deliver
        self._stopping = threading.Event()
        self.ready = threading.Event()
        self.backend_pid: int | None = None
        self._thread = threading.Thread(target=self._run, name=f"pg-listen-{channel}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        backoff = LISTEN_BACKOFF_FIRST
        connected_before = False
        while not self._stopping.is_set():
            try:
                connection = psycopg.connect(self._url, autocommit=True, row_factory=dict_row,
                                             connect_timeout=CONNECT_TIMEOUT_SECONDS,
                                             fallback_application_name="invoicebot-listener", keepalives=1,
                                             keepalives_idle=10, keepalives_interval=5, keepalives_count=3)
            except Exception as error:  # noqa: BLE001 - the thread lives on: it retries
                logger.warning("job notifications: cannot connect (%s); again in %.1f s", _one_line(error), backoff)
            else:
                try:
                    connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                    if connected_before:
                        self._deliver(0, set(ALL_LANES))
                        logger.info("job notifications: listening again")
                    connected_before = True
                    backoff = LISTEN_BACKOFF_FIRST
                    self.backend_pid = connection.info.backend_pid
                    self.ready.set()
                    self._listen(connection)
                except Exception as error:  # noqa: BLE001 - the thread lives on: it reconnects
                    if not self._stopping.is_set():
                        logger.warning("job notifications: connection lost (%s); again in %.1f s", _one_line(error),
                                       backoff)
                finally:
                    self.ready.clear()
                    self.backend_pid = None
                    connection.close()
            if self._stopping.wait(backoff):
                break
            backoff = min(backoff * 2, LISTEN_BACKOFF_MAX)

    def _listen(self, connection: Connection) -> None:
        checked = time.monotonic()
        while not self._stopping.is_set():
            for note in connection.notifies(timeout=LISTEN_POLL_SECONDS):
                if note.payload:
                    self._deliver(note.pid, {note.payload})
                if self._stopping.is_set():
                    return
            if time.monotonic() - checked >= LISTEN_HEALTH_SECONDS:
                connection.execute("SELECT 1")  # a dead peer that sent nothing shows up here
                checked = time.monotonic()


def apply_migrations(store: PostgresStore) -> list[str]:
    """Apply the SQL files not yet recorded, all in one transaction that first takes an advisory
    lock: replicas starting at once take turns, and each migration is applied once."""
    applied_now: list[str] = []
    with store._transaction() as db:
        db.execute(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
                   "applied_at double precision NOT NULL)")
        applied = {int(row["version"]) for row in db.rows("SELECT version FROM schema_migrations")}
        for migration in load("postgres"):
            if migration.version in applied:
                continue
            for statement in migration.statements:
                db.execute(statement)
            db.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                       [migration.version, migration.name, store.clock()])
            applied_now.append(f"{migration.version:04d}_{migration.name}")
    if applied_now:
        logger.info("applied migrations %s", ", ".join(applied_now))
    return applied_now
