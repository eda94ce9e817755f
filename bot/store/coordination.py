"""What processes and replicas on one database share besides the jobs: Slack's pace per channel,
and leases on what only one of them may do (Socket Mode). SQL both engines accept.

Both are timed by the database's clock where the engine has one to share (`Dialect.database_clock`:
PostgreSQL's), so replicas whose clocks disagree still agree on when a slot or a lease runs out.
Each call is one short write of its own (SQLite: a `BEGIN IMMEDIATE` ... `COMMIT` under the
store's write lock; PostgreSQL: one autocommit statement): no advisory locks, which stay with a
pooled connection, and no unit of work, which would be heavy for one row.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from bot.domain.records import Lease
from bot.store.repositories import Clock, Dialect, Executor, Row

Write = Callable[[], AbstractContextManager[Executor]]
TRIES = 3  # a row that changes between a refused write and the read after it (PostgreSQL)


def _now(dialect: Dialect, clock: Clock) -> tuple[str, list[Any]]:
    """The time as an SQL expression, and its parameter (none for the database's own clock)."""
    if dialect.database_clock is not None:
        return dialect.database_clock, []
    return "?", [clock()]


def _clock(dialect: Dialect, clock: Clock) -> tuple[str, list[Any]]:
    """`WITH clock AS (SELECT now)`: the time evaluated once for the whole statement, and its parameter."""
    now, params = _now(dialect, clock)
    return f"WITH clock AS (SELECT {now} AS now) ", params


class SqlChannelPace:
    """When each channel may next receive a post, one row per channel (`channel_pace`).

    `claim` takes the channel's slot in one upsert that changes the row only when the slot is free
    (`next_at <= now`): two claimers, in this process or another replica, never both get it (on
    PostgreSQL the second waits for the first's row lock, then finds the slot taken)."""

    def __init__(self, write: Write, clock: Clock, dialect: Dialect, interval: float, tenant: str) -> None:
        self.tenant = tenant  # Slack paces each workspace's channels apart (a shared channel has one id in both)
        self._write = write
        self._clock = clock
        self._dialect = dialect
        self.interval = interval

    def claim(self, channel: str) -> float:
        """Take the channel's next slot now (0.0), or say how many seconds until it is free."""
        for _ in range(TRIES):
            head, params = _clock(self._dialect, self._clock)
            with self._write() as db:
                taken = db.rows(
                    f"{head}INSERT INTO channel_pace AS pace (tenant_id, channel, next_at) "
                    "SELECT ?, ?, now + ? FROM clock WHERE true ON CONFLICT (tenant_id, channel) "
                    "DO UPDATE SET next_at = excluded.next_at "
                    "WHERE pace.next_at <= (SELECT now FROM clock) RETURNING next_at",
                    [*params, self.tenant, channel, self.interval])
                if taken:
                    return 0.0
                # Refused: the slot belongs to someone else until next_at. Read in the same write on
                # SQLite; on PostgreSQL a moment later, so the slot may have come free meanwhile.
                head, params = _clock(self._dialect, self._clock)
                row = db.one(f"{head}SELECT next_at - now AS wait FROM channel_pace, clock WHERE tenant_id = ? "
                             "AND channel = ?", [*params, self.tenant, channel])
            wait = _seconds(row)
            if wait > 0:
                return wait
        return self.interval  # freed and taken again each time: the channel is busy, come back later

    def reserve(self, channel: str, extra: float = 0.0) -> None:
        """After a post (or a refusal): no one posts in `channel` for `interval + extra` seconds from
        now. Only ever pushes the slot later: a Retry-After one replica heard is kept, whatever the
        others post meanwhile."""
        head, params = _clock(self._dialect, self._clock)
        with self._write() as db:
            db.execute(f"{head}INSERT INTO channel_pace AS pace (tenant_id, channel, next_at) SELECT ?, ?, now + ? "
                       "FROM clock WHERE true ON CONFLICT (tenant_id, channel) DO UPDATE "
                       "SET next_at = excluded.next_at WHERE pace.next_at < excluded.next_at",
                       [*params, self.tenant, channel, self.interval + max(extra, 0.0)])


def _seconds(row: Row | None) -> float:
    return 0.0 if row is None or row["wait"] is None else float(row["wait"])


def _lease(row: Row) -> Lease:
    return Lease(str(row["name"]), str(row["token"]), str(row["holder"]), float(row["since"]),
                 float(row["expires_at"]))


class SqlLeases:
    """Leases by name (`leases`): one holder, known by its token, until `expires_at` unless renewed."""

    def __init__(self, write: Write, clock: Clock, dialect: Dialect) -> None:
        self._write = write
        self._clock = clock
        self._dialect = dialect

    def acquire(self, name: str, token: str, holder: str, ttl: float) -> Lease:
        """Take the lease for `token` when it is free, expired or already `token`'s; returns the lease
        as it stands: ours when its token is `token`, otherwise its live holder's."""
        for _ in range(TRIES):
            head, params = _clock(self._dialect, self._clock)
            with self._write() as db:
                taken = db.rows(
                    f"{head}INSERT INTO leases AS lease (name, token, holder, since, expires_at) "
                    "SELECT ?, ?, ?, now, now + ? FROM clock WHERE true ON CONFLICT (name) DO UPDATE SET "
                    "token = excluded.token, holder = excluded.holder, expires_at = excluded.expires_at, "
                    "since = CASE WHEN lease.token = excluded.token THEN lease.since ELSE excluded.since END "
                    "WHERE lease.token = excluded.token OR lease.expires_at <= (SELECT now FROM clock) "
                    "RETURNING *", [*params, name, token, holder, ttl])
                row = taken[0] if taken else db.one("SELECT * FROM leases WHERE name = ?", [name])
            if row is not None:  # None: released between the two statements (PostgreSQL); try again
                return _lease(row)
        raise RuntimeError(f"the lease {name!r} changed hands {TRIES} times in a row")

    def renew(self, name: str, token: str, ttl: float) -> bool:
        """Hold on for `ttl` more seconds; False when the lease is no longer `token`'s (taken over
        after it ran out, or released)."""
        now, params = _now(self._dialect, self._clock)  # no WITH: sqlite3 counts no rows after one
        with self._write() as db:
            return db.execute(f"UPDATE leases SET expires_at = {now} + ? WHERE name = ? AND token = ?",
                              [*params, ttl, name, token]) == 1

    def release(self, name: str, token: str) -> None:
        """Give the lease up (only its holder can): the next process need not wait for it to run out."""
        with self._write() as db:
            db.execute("DELETE FROM leases WHERE name = ? AND token = ?", [name, token])
