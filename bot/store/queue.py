"""The job queue on SQL, shared by both engines; only how ready rows are picked differs.

Every write here is one short transaction. A claim stamps the chosen rows with a fresh lease
token; every later change to a job matches on its id *and* that token, so a worker whose lease
ran out (and whose job another worker took over) changes nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from typing import Any

from bot.jobs.model import EVERY_LANE, Job, Lane
from bot.jobs.ports import QueueStats
from bot.store.repositories import SQLITE, Clock, Dialect, Executor, Row

WriteTransaction = Callable[[], AbstractContextManager[Executor]]
MAX_ERROR = 2000


# Of a digest's notices only the first one still to post (pending or running; a failed leader no
# longer leads) is picked: a claim then takes the rest of the digest with it, and two claims never
# hold one row each of the same digest (and wait for each other's) on an engine with row locks.
_DIGEST_LEADER = ("(digest_key IS NULL OR id = (SELECT min(d.id) FROM jobs d WHERE d.digest_key = jobs.digest_key "
                  "AND d.status IN ('pending', 'running')))")


def _pick_claimable(db: Executor, dialect: Dialect, lane: str, now: float, limit: int) -> list[int]:
    """Ready jobs oldest first, then jobs whose lease ran out; each query walks the (lane, status,
    run_after) index and stops at `limit`. Rows another transaction is claiming are skipped."""
    in_lane, lanes = ("", []) if lane == EVERY_LANE else ("lane = ? AND ", [lane])
    ids = [int(row["id"]) for row in db.rows(
        f"SELECT id FROM jobs WHERE {in_lane}status = 'pending' AND run_after <= ? AND {_DIGEST_LEADER} "
        f"ORDER BY run_after, id LIMIT ?{dialect.skip_locked}", [*lanes, now, limit])]
    if len(ids) < limit:
        ids += [int(row["id"]) for row in db.rows(
            f"SELECT id FROM jobs WHERE {in_lane}status = 'running' AND lease_until < ? AND {_DIGEST_LEADER} "
            f"ORDER BY run_after, id LIMIT ?{dialect.skip_locked}", [*lanes, now, limit - len(ids)])]
    return ids


def _job(row: Row) -> Job:
    return Job(id=int(row["id"]), tenant_id=row["tenant_id"], kind=row["kind"], key=row["key"], lane=row["lane"],
               payload=json.loads(row["payload"] or "{}"), attempts=int(row["attempts"] or 0),
               lease_token=row["lease_token"] or "", digest_key=row["digest_key"], channel=row["channel"])


def _marks(count: int) -> str:
    return ", ".join("?" for _ in range(count))


class SqlJobQueue:
    def __init__(self, write: WriteTransaction, read: Executor, clock: Clock, dialect: Dialect = SQLITE) -> None:
        self._write = write
        self._read = read
        self._clock = clock
        self._dialect = dialect

    def claim(self, lane: str, owner: str, lease_seconds: float, limit: int = 1) -> list[Job]:
        now = self._clock()
        token = uuid.uuid4().hex
        with self._write() as db:
            ids = _pick_claimable(db, self._dialect, lane, now, limit)
            if not ids:
                return []
            rows = db.rows(
                f"UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_token = ?, lease_owner = ?, "
                f"lease_until = ?, updated_at = ? WHERE id IN ({_marks(len(ids))}) RETURNING *",
                [token, owner, now + lease_seconds, now, *ids])
            digests = sorted({row["digest_key"] for row in rows if row["digest_key"]})
            if digests:
                # A digest's notices travel together: no other worker may post any of them meanwhile.
                db.execute(f"UPDATE jobs SET status = 'running', lease_token = ?, lease_until = ?, updated_at = ? "
                           f"WHERE digest_key IN ({_marks(len(digests))}) AND status <> 'done'",
                           [token, now + lease_seconds, now, *digests])
        return sorted((_job(row) for row in rows), key=lambda job: ids.index(job.id))

    def _finish(self, job: Job, sql: str, params: Sequence[Any]) -> bool:
        with self._write() as db:
            return db.execute(f"{sql} WHERE id = ? AND lease_token = ? AND status = 'running'",
                              [*params, job.id, job.lease_token]) == 1

    def complete(self, job: Job) -> bool:
        return self._finish(job, "UPDATE jobs SET status = 'done', lease_until = 0, updated_at = ?", [self._clock()])

    def complete_many(self, jobs: list[Job]) -> set[int]:
        if not jobs:
            return set()
        now = self._clock()
        held: set[int] = set()
        with self._write() as db:
            for token in {job.lease_token for job in jobs}:
                ids = [job.id for job in jobs if job.lease_token == token]
                rows = db.rows(f"UPDATE jobs SET status = 'done', lease_until = 0, updated_at = ? WHERE id IN "
                               f"({_marks(len(ids))}) AND lease_token = ? AND status = 'running' RETURNING id",
                               [now, *ids, token])
                held.update(int(row["id"]) for row in rows)
        return {job.id for job in jobs} - held

    def retry(self, job: Job, delay: float, error: str) -> bool:
        now = self._clock()
        return self._finish(job, "UPDATE jobs SET status = 'pending', run_after = ?, lease_until = 0, last_error = ?, "
                                 "updated_at = ?", [now + delay, error[:MAX_ERROR], now])

    def defer(self, job: Job, delay: float) -> bool:
        now = self._clock()
        return self._finish(job, "UPDATE jobs SET status = 'pending', run_after = ?, lease_until = 0, "
                                 "attempts = attempts - 1, updated_at = ?", [now + delay, now])

    def fail(self, job: Job, error: str) -> bool:
        return self._finish(job, "UPDATE jobs SET status = 'failed', lease_until = 0, last_error = ?, updated_at = ?",
                            [error[:MAX_ERROR], self._clock()])

    def extend(self, tokens: Collection[str], lease_seconds: float) -> set[str]:
        if not tokens:
            return set()
        now = self._clock()
        tokens = list(tokens)
        with self._write() as db:
            db.execute(f"UPDATE jobs SET lease_until = ? WHERE lease_token IN ({_marks(len(tokens))}) "
                       "AND status = 'running'", [now + lease_seconds, *tokens])
            # Held: no one claimed it since (a claim writes its own token). A job its holder just
            # finished still carries the token, so finishing and renewing never race into "lost".
            held = db.rows(f"SELECT DISTINCT lease_token FROM jobs WHERE lease_token IN ({_marks(len(tokens))})",
                           tokens)
        return {str(row["lease_token"]) for row in held}

    # --- digests ---------------------------------------------------------------------------------
    def claim_digest(self, channel: str, leader: Job, limit: int, threshold: int) -> list[Job]:
        """When at least `threshold` other notices wait for `channel`, bind them and `leader` into one
        digest (a durable `digest_key`) under the leader's lease; otherwise claim nothing.

        A notice whose own post was begun (a delivery under its key: Slack may have taken it) is
        never folded in: it is finished as itself, or its invoice would be announced twice."""
        now = self._clock()
        digest_key = f"digest:{leader.id}"
        with self._write() as db:
            rows = db.rows(
                "SELECT * FROM jobs WHERE kind = 'channel_notice' AND tenant_id = ? AND channel = ? AND id <> ? "
                "AND digest_key IS NULL "
                "AND (status = 'pending' OR (status = 'running' AND lease_until < ?)) "
                # A rep's own news first: whichever notice wins the channel's next slot carries it.
                "AND NOT EXISTS (SELECT 1 FROM deliveries WHERE deliveries.tenant_id = jobs.tenant_id "
                "AND deliveries.key = jobs.key) "
                f"ORDER BY CASE WHEN lane = 'own' THEN 0 ELSE 1 END, id "
                f"LIMIT ?{self._dialect.skip_locked}", [leader.tenant_id, channel, leader.id, now, limit])
            if len(rows) < threshold:
                return []
            ids = [leader.id, *(int(row["id"]) for row in rows)]
            lease_until = db.one("SELECT lease_until FROM jobs WHERE id = ?", [leader.id])
            db.execute(f"UPDATE jobs SET status = 'running', digest_key = ?, lease_token = ?, lease_until = ?, "
                       f"updated_at = ? WHERE id IN ({_marks(len(ids))})",
                       [digest_key, leader.lease_token, (lease_until or {}).get("lease_until") or now, now, *ids])
        return [_job({**row, "digest_key": digest_key, "lease_token": leader.lease_token}) for row in rows]

    def digest_members(self, digest_key: str) -> list[Job]:
        return [_job(row) for row in self._read.rows(
            "SELECT * FROM jobs WHERE digest_key = ? AND status <> 'done' ORDER BY id", [digest_key])]

    def complete_members(self, jobs: list[Job]) -> None:
        self._finish_members(jobs, "UPDATE jobs SET status = 'done', lease_until = 0, updated_at = ?",
                             [self._clock()])

    def return_members(self, jobs: list[Job], delay: float, error: str) -> None:
        """Hand folded notices back, still bound to their digest, for the leader's next attempt."""
        now = self._clock()
        self._finish_members(jobs, "UPDATE jobs SET status = 'pending', run_after = ?, lease_until = 0, "
                                   "last_error = ?, updated_at = ?", [now + delay, error[:MAX_ERROR], now])

    def release_members(self, jobs: list[Job]) -> None:
        """Unbind notices from their digest (it cannot name them): they wait again as themselves,
        ready at once, for the next notice or digest of their channel; their lease is gone, so the
        digest's holder can no longer finish them."""
        self._finish_members(jobs, "UPDATE jobs SET status = 'pending', digest_key = NULL, lease_token = NULL, "
                                   "lease_until = 0, updated_at = ?", [self._clock()])

    def _finish_members(self, jobs: list[Job], sql: str, params: Sequence[Any]) -> None:
        if not jobs:
            return
        with self._write() as db:
            for token in {job.lease_token for job in jobs}:
                ids = [job.id for job in jobs if job.lease_token == token]
                db.execute(f"{sql} WHERE id IN ({_marks(len(ids))}) AND lease_token = ?", [*params, *ids, token])

    # --- what is waiting -------------------------------------------------------------------------
    def oldest_due(self) -> dict[str, float]:
        """Per lane, how long its oldest ready job has waited: one index lookup per lane."""
        now = self._clock()
        oldest: dict[str, float] = {}
        for lane in Lane:
            row = self._read.one("SELECT min(run_after) AS first FROM jobs WHERE lane = ? AND status = 'pending'",
                                 [lane.value])
            first = row["first"] if row else None
            if first is not None and first <= now:
                oldest[lane.value] = round(now - float(first), 3)
        return oldest

    def waiting(self) -> dict[tuple[str, str], int]:
        """Unfinished jobs per (lane, status): pending or running. Reads the index of unfinished
        jobs only (done ones are not counted), for a scrape every few seconds, not for a probe."""
        counts: dict[tuple[str, str], int] = {}
        for lane in Lane:  # one range of the (lane, status, ...) index per lane and status
            for row in self._read.rows("SELECT status, count(*) AS n FROM jobs WHERE lane = ? AND status IN "
                                       "('pending', 'running') GROUP BY status", [lane.value]):
                counts[(lane.value, str(row["status"]))] = int(row["n"])
        return counts

    def stats(self) -> QueueStats:
        """Counts per status: they read the whole table, so they are for tests and tools, not probes."""
        now = self._clock()
        counts = {str(row["status"]): int(row["n"])
                  for row in self._read.rows("SELECT status, count(*) AS n FROM jobs GROUP BY status")}
        # Unfinished work: running, ready, waiting for a retry or a channel's pace; not the next
        # period's scheduled job.
        due = self._read.one("SELECT count(*) AS n FROM jobs WHERE status = 'running' OR (status = 'pending' AND "
                             "(run_after <= ? OR lane <> 'periodic' OR attempts > 0))", [now])
        return QueueStats(counts=counts, due=int(due["n"]) if due else 0, oldest_due_seconds=self.oldest_due())
