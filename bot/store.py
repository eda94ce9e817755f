"""The store: every SQL statement of the bot lives here.

`Store` is the interface the rest of the bot sees; `SqliteStore` implements it over
sqlite-utils (WAL mode, one connection whose writes are serialized by a lock, schema by
sqlite-utils' `Migrations`). A PostgreSQL store for multi-instance deployments would
implement the same protocol and be chosen by `DATABASE_URL` in `open_store`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

# Invoice statuses only move forward. Stripe lets an uncollectible invoice still be paid or voided.
STATUS_RANK = {"draft": 0, "open": 1, "uncollectible": 2, "paid": 3, "void": 3, "deleted": 3}

migrations = Migrations("invoicebot")


@migrations()
def m001_initial(db: Database) -> None:
    db["customers"].create(
        {"stripe_id": str, "email": str, "name": str, "created_at": float, "updated_at": float},
        pk="stripe_id",
    )
    db["customers"].create_index(["email"])
    db["prices"].create(
        {
            "stripe_id": str,
            "product_id": str,
            "product_name": str,
            "unit_amount": int,
            "currency": str,
            "active": int,
            "updated_at": float,
        },
        pk="stripe_id",
    )
    db["invoices"].create(
        {
            "stripe_id": str,
            "number": str,
            "status": str,
            "currency": str,
            "total": int,
            "amount_paid": int,
            "amount_remaining": int,
            "due_date": int,
            "hosted_url": str,
            "customer_id": str,
            "customer_name": str,
            "customer_email": str,
            "lines_json": str,
            "channel_id": str,
            "message_ts": str,
            "rep_user_id": str,
            "team_id": str,
            "view_id": str,
            "state_at": int,
            "last_reminded_at": float,
            "created_at": float,
            "updated_at": float,
        },
        pk="stripe_id",
        not_null={"status", "currency"},
        defaults={"total": 0, "amount_paid": 0, "amount_remaining": 0, "state_at": 0},
    )
    db["invoices"].create_index(["number"])
    db["invoices"].create_index(["status", "created_at"])
    db["invoices"].create_index(["rep_user_id", "created_at"])
    db["invoices"].create_index(["view_id"], unique=True)
    db["stripe_events"].create(
        {
            "id": str,
            "type": str,
            "created": int,
            "object_id": str,
            "payload": str,
            "received_at": float,
            "processed_at": float,
        },
        pk="id",
    )
    db["jobs"].create(
        {
            "id": int,
            "kind": str,
            "key": str,
            "payload": str,
            "status": str,
            "attempts": int,
            "run_after": float,
            "lease_until": float,
            "last_error": str,
            "created_at": float,
            "updated_at": float,
        },
        pk="id",
        not_null={"kind", "key", "status"},
        defaults={"attempts": 0, "run_after": 0.0, "lease_until": 0.0},
    )
    db["jobs"].create_index(["key"], unique=True)
    db["jobs"].create_index(["status", "run_after"])
    db["audit"].create(
        {
            "id": int,
            "at": float,
            "actor": str,
            "action": str,
            "invoice_id": str,
            "stripe_ids": str,
            "detail": str,
        },
        pk="id",
    )
    db["audit"].create_index(["invoice_id", "at"])
    db["routes"].create({"kind": str, "key": str, "channel_id": str, "set_by": str, "at": float}, pk=("kind", "key"))


@migrations()
def m002_event_outcomes_and_notices(db: Database) -> None:
    db["stripe_events"].add_column("outcome", str)
    db["invoices"].add_column("overdue_notified_at", float)
    db["jobs"].add_column("channel", str)
    db["jobs"].create_index(["kind", "channel", "status"])


@migrations()
def m003_deliveries(db: Database) -> None:
    # One row per Slack message the bot means to post once: written before the post, completed
    # with its ts after, so a restart can tell "maybe posted" (look in Slack) from "never tried".
    db["deliveries"].create(
        {"key": str, "channel": str, "thread_ts": str, "status": str, "ts": str, "started_at": float},
        pk="key",
    )
    db["jobs"].add_column("digest_key", str)
    db["jobs"].create_index(["digest_key"])


@dataclass(frozen=True)
class StateChange:
    applied: bool
    previous_status: str | None
    status: str

    @property
    def status_changed(self) -> bool:
        return self.applied and self.previous_status != self.status


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    key: str
    payload: dict[str, Any]
    attempts: int
    digest_key: str | None = None


class Store(Protocol):
    """What the bot needs from a database; one implementation per engine."""

    def query(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[dict[str, Any]]: ...
    def ping(self) -> bool: ...
    def close(self) -> None: ...
    # customers and catalog
    def find_customer_by_email(self, email: str) -> dict[str, Any] | None: ...
    def get_customer(self, stripe_id: str) -> dict[str, Any] | None: ...
    def save_customer(self, stripe_id: str, email: str, name: str) -> None: ...
    def search_customers(self, text: str, limit: int = 20) -> list[dict[str, Any]]: ...
    def save_price(self, price: dict[str, Any]) -> None: ...
    def get_price(self, stripe_id: str) -> dict[str, Any] | None: ...
    def search_prices(self, text: str, limit: int = 20) -> list[dict[str, Any]]: ...
    # invoices
    def get_invoice(self, stripe_id: str) -> dict[str, Any] | None: ...
    def get_invoice_by_view(self, view_id: str) -> dict[str, Any] | None: ...
    def find_invoice(self, number_or_id: str) -> dict[str, Any] | None: ...
    def save_invoice(self, fields: dict[str, Any]) -> None: ...
    def apply_invoice_state(self, stripe_id: str, fields: dict[str, Any], at: int) -> StateChange: ...
    def set_invoice_message(self, stripe_id: str, channel_id: str, message_ts: str) -> None: ...
    def list_invoices(
        self, status: str | None = None, text: str | None = None, limit: int = 20, offset: int = 0,
        now: float | None = None,
    ) -> list[dict[str, Any]]: ...
    def events_for(self, invoice_id: str) -> list[dict[str, Any]]: ...
    def overdue_unannounced(self, now: float | None = None, limit: int = 500) -> list[dict[str, Any]]: ...
    # events and jobs
    def record_event(self, event: dict[str, Any], raw: str, job_kind: str) -> bool: ...
    def record_events(self, events: list[tuple[dict[str, Any], str]], job_kind: str) -> list[bool]: ...
    def mark_event_processed(self, event_id: str) -> None: ...
    def enqueue(self, kind: str, key: str, payload: dict[str, Any], delay: float = 0.0) -> bool: ...
    def claim_job(self, kinds: tuple[str, ...] | None = None, lease_seconds: float = 60.0) -> Job | None: ...
    def complete_job(self, job_id: int) -> None: ...
    def retry_job(self, job_id: int, delay: float, error: str) -> None: ...
    def fail_job(self, job_id: int, error: str) -> None: ...
    def release_running_jobs(self) -> int: ...
    def job_counts(self) -> dict[str, int]: ...
    # audit and routing
    def audit(
        self, actor: str, action: str, invoice_id: str | None, stripe_ids: dict[str, Any], detail: dict[str, Any]
    ) -> None: ...
    def audit_for(self, invoice_id: str) -> list[dict[str, Any]]: ...
    def set_route(self, kind: str, key: str, channel_id: str, set_by: str) -> None: ...
    def list_routes(self) -> list[dict[str, Any]]: ...
    # invoices seen by people
    def home_totals(self, now: float | None = None) -> list[dict[str, Any]]: ...
    def invoices_of_rep(self, user_id: str, limit: int = 10) -> list[dict[str, Any]]: ...
    # event decisions, digests and once-only deliveries
    def get_event(self, event_id: str) -> dict[str, Any] | None: ...
    def event_outcome(self, event_id: str) -> str | None: ...
    def decide_event(self, event_id: str, decide: Callable[[], str]) -> str: ...
    def mark_overdue_once(self, stripe_id: str) -> bool: ...
    def claim_digest(self, channel: str, leader: Job, limit: int, threshold: int,
                     lease_seconds: float = 60.0) -> list[Job]: ...
    def digest_members(self, digest_key: str) -> list[Job]: ...
    def complete_jobs(self, job_ids: list[int]) -> None: ...
    def begin_delivery(self, key: str, channel: str, thread_ts: str | None) -> dict[str, Any] | None: ...
    def finish_delivery(self, key: str, ts: str) -> None: ...
    def route_for(self, kind: str, key: str) -> str | None: ...


class SqliteStore:
    def __init__(self, path: str) -> None:
        # One connection for every thread; the lock serializes use, and the busy timeout lets a
        # second process holding the file (a backup, a migration) delay us instead of failing us.
        connection = sqlite3.connect(path, check_same_thread=False, timeout=30.0)
        self.db = Database(connection)
        self._lock = threading.RLock()
        if path != ":memory:":
            self.db.enable_wal()
        self.db.execute("PRAGMA synchronous=NORMAL")
        migrations.apply(self.db)

    @contextmanager
    def _transaction(self) -> Iterator[Database]:
        with self._lock, self.db.atomic():
            yield self.db

    def _rows(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.db.query(sql, params))

    def _one(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> dict[str, Any] | None:
        rows = self._rows(sql + " LIMIT 1", params)
        return rows[0] if rows else None

    def query(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Read-only SQL for diagnostics and tests, serialized with the bot's own use of the connection."""
        return self._rows(sql, params)

    def ping(self) -> bool:
        try:
            return self._one("SELECT 1 AS ok") == {"ok": 1}
        except sqlite3.Error:
            return False

    def close(self) -> None:
        with self._lock:
            self.db.close()

    # --- customers and catalog ---------------------------------------------------------------
    def find_customer_by_email(self, email: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM customers WHERE email = ? ORDER BY created_at", [email.strip().lower()])

    def get_customer(self, stripe_id: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM customers WHERE stripe_id = ?", [stripe_id])

    def save_customer(self, stripe_id: str, email: str, name: str) -> None:
        now = time.time()
        with self._transaction() as db:
            existing = db["customers"].count_where("stripe_id = ?", [stripe_id])
            row = {"stripe_id": stripe_id, "email": (email or "").strip().lower(), "name": name or "",
                   "updated_at": now}
            if existing:
                db["customers"].update(stripe_id, row)
            else:
                db["customers"].insert({**row, "created_at": now})

    def search_customers(self, text: str, limit: int = 20) -> list[dict[str, Any]]:
        pattern = f"%{_escape_like(text.strip().lower())}%"
        return self._rows(
            "SELECT * FROM customers WHERE lower(name) LIKE ? ESCAPE '\\' OR email LIKE ? ESCAPE '\\' "
            "ORDER BY updated_at DESC LIMIT ?",
            [pattern, pattern, limit],
        )

    def save_price(self, price: dict[str, Any]) -> None:
        with self._transaction() as db:
            db["prices"].upsert({**price, "updated_at": time.time()}, pk="stripe_id")

    def get_price(self, stripe_id: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM prices WHERE stripe_id = ?", [stripe_id])

    def search_prices(self, text: str, limit: int = 20) -> list[dict[str, Any]]:
        pattern = f"%{_escape_like(text.strip().lower())}%"
        return self._rows(
            "SELECT * FROM prices WHERE active = 1 AND (lower(product_name) LIKE ? ESCAPE '\\' OR stripe_id LIKE ?"
            " ESCAPE '\\') ORDER BY product_name LIMIT ?",
            [pattern, pattern, limit],
        )

    # --- invoices ----------------------------------------------------------------------------
    def get_invoice(self, stripe_id: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM invoices WHERE stripe_id = ?", [stripe_id])

    def get_invoice_by_view(self, view_id: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM invoices WHERE view_id = ?", [view_id])

    def find_invoice(self, number_or_id: str) -> dict[str, Any] | None:
        return self._one(
            "SELECT * FROM invoices WHERE stripe_id = ? OR upper(number) = upper(?)", [number_or_id, number_or_id]
        )

    def save_invoice(self, fields: dict[str, Any]) -> None:
        """Insert or update an invoice row with what the bot itself learnt (not event driven)."""
        now = time.time()
        with self._transaction() as db:
            if db["invoices"].count_where("stripe_id = ?", [fields["stripe_id"]]):
                db["invoices"].update(fields["stripe_id"], {**fields, "updated_at": now})
            else:
                db["invoices"].insert({**fields, "created_at": now, "updated_at": now})

    def apply_invoice_state(self, stripe_id: str, fields: dict[str, Any], at: int) -> StateChange:
        """Apply a Stripe snapshot taken at `at` unless the row already knows a later state.

        Status only moves forward (draft < open < uncollectible < paid | void); within one status
        the newest snapshot wins, so a late `invoice.finalized` never turns a paid invoice back to
        open. Unknown invoices are created, so later events and commands can find them.
        """
        now = time.time()
        with self._transaction() as db:
            current = next(db.query("SELECT status, state_at FROM invoices WHERE stripe_id = ?", [stripe_id]), None)
            if current is None:
                db["invoices"].insert({"currency": "usd", **fields, "stripe_id": stripe_id, "state_at": at,
                                       "created_at": now, "updated_at": now})
                return StateChange(applied=True, previous_status=None, status=fields.get("status", "draft"))
            status = fields.get("status", current["status"])
            new_rank = STATUS_RANK.get(status, 0)
            old_rank = STATUS_RANK.get(current["status"], 0)
            stale = new_rank < old_rank or (new_rank == old_rank and at < (current["state_at"] or 0))
            if stale or (new_rank == old_rank and status != current["status"]):
                return StateChange(applied=False, previous_status=current["status"], status=current["status"])
            db["invoices"].update(stripe_id, {**fields, "state_at": at, "updated_at": now})
            return StateChange(applied=True, previous_status=current["status"], status=status)

    def set_invoice_message(self, stripe_id: str, channel_id: str, message_ts: str) -> None:
        with self._transaction() as db:
            db["invoices"].update(stripe_id, {"channel_id": channel_id, "message_ts": message_ts})

    def invoices_of_rep(self, user_id: str, limit: int = 10) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT * FROM invoices WHERE rep_user_id = ? AND status != 'deleted' ORDER BY created_at DESC LIMIT ?",
            [user_id, limit],
        )

    def home_totals(self, now: float | None = None) -> list[dict[str, Any]]:
        """Per currency: open total, overdue count and total, paid this month (UTC)."""
        now = time.time() if now is None else now
        month_start = datetime.fromtimestamp(now, UTC).replace(day=1, hour=0, minute=0, second=0,
                                                               microsecond=0).timestamp()
        return self._rows(
            "SELECT currency, "
            "SUM(CASE WHEN status = 'open' THEN amount_remaining ELSE 0 END) AS open_total, "
            "SUM(CASE WHEN status = 'open' THEN 1 ELSE 0 END) AS open_count, "
            "SUM(CASE WHEN status = 'open' AND due_date < ? THEN amount_remaining ELSE 0 END) AS overdue_total, "
            "SUM(CASE WHEN status = 'open' AND due_date < ? THEN 1 ELSE 0 END) AS overdue_count, "
            "SUM(CASE WHEN status = 'paid' AND updated_at >= ? THEN amount_paid ELSE 0 END) AS paid_month "
            "FROM invoices GROUP BY currency ORDER BY currency",
            [int(now), int(now), month_start],
        )

    def list_invoices(
        self, status: str | None = None, text: str | None = None, limit: int = 20, offset: int = 0,
        now: float | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first. `overdue` means open with its due date passed; deleted drafts never show."""
        where, params = ["status != 'deleted'"], []
        if status == "overdue":
            where.append("status = 'open' AND due_date < ?")
            params.append(int(time.time() if now is None else now))
        elif status:
            where.append("status = ?")
            params.append(status)
        if text:
            pattern = f"%{_escape_like(text.strip().lower())}%"
            where.append("(lower(customer_name) LIKE ? ESCAPE '\\' OR lower(customer_email) LIKE ? ESCAPE '\\')")
            params += [pattern, pattern]
        return self._rows(
            f"SELECT * FROM invoices WHERE {' AND '.join(where)} ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )

    def events_for(self, invoice_id: str) -> list[dict[str, Any]]:
        return self._rows("SELECT id, type, created FROM stripe_events WHERE object_id = ? ORDER BY created, "
                          "received_at", [invoice_id])

    def overdue_unannounced(self, now: float | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """Open invoices whose due date has passed and that nobody has been told about yet."""
        return self._rows("SELECT * FROM invoices WHERE status = 'open' AND due_date < ? AND overdue_notified_at IS "
                          "NULL ORDER BY due_date LIMIT ?", [int(time.time() if now is None else now), limit])

    # --- Stripe events and the work queue -----------------------------------------------------
    def record_event(self, event: dict[str, Any], raw: str, job_kind: str) -> bool:
        """Store a webhook event once and queue its processing, in one transaction."""
        return self.record_events([(event, raw)], job_kind)[0]

    def record_events(self, events: list[tuple[dict[str, Any], str]], job_kind: str) -> list[bool]:
        """`record_event` for many events in one transaction (group commit): which were new, in order."""
        now = time.time()
        stored: list[bool] = []
        with self._transaction() as db:
            for event, raw in events:
                data_object = (event.get("data") or {}).get("object") or {}
                cursor = db.execute(
                    "INSERT OR IGNORE INTO stripe_events (id, type, created, object_id, payload, received_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [event["id"], event.get("type", ""), int(event.get("created") or 0), data_object.get("id"), raw,
                     now],
                )
                stored.append(cursor.rowcount == 1)
                if cursor.rowcount == 1:
                    db.execute(
                        "INSERT OR IGNORE INTO jobs (kind, key, payload, status, attempts, run_after, lease_until, "
                        "created_at, updated_at) VALUES (?, ?, ?, 'pending', 0, 0, 0, ?, ?)",
                        [job_kind, f"event:{event['id']}", json.dumps({"event_id": event["id"]}), now, now],
                    )
        return stored

    def get_event(self, event_id: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM stripe_events WHERE id = ?", [event_id])

    def event_outcome(self, event_id: str) -> str | None:
        row = self._one("SELECT outcome FROM stripe_events WHERE id = ?", [event_id])
        return row["outcome"] if row else None

    def decide_event(self, event_id: str, decide: Callable[[], str]) -> str:
        """Run `decide` (which may update invoices) and record its outcome in one transaction."""
        with self._transaction() as db:
            row = next(db.query("SELECT outcome FROM stripe_events WHERE id = ?", [event_id]), None)
            if row and row["outcome"]:
                return str(row["outcome"])
            outcome = decide()
            db.execute("UPDATE stripe_events SET outcome = ? WHERE id = ?", [outcome, event_id])
            return outcome

    def mark_overdue_once(self, stripe_id: str) -> bool:
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE invoices SET overdue_notified_at = ? WHERE stripe_id = ? AND overdue_notified_at IS NULL",
                [time.time(), stripe_id],
            )
            return cursor.rowcount == 1

    def mark_event_processed(self, event_id: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE stripe_events SET processed_at = ? WHERE id = ?", [time.time(), event_id])

    def enqueue(self, kind: str, key: str, payload: dict[str, Any], delay: float = 0.0,
                channel: str | None = None) -> bool:
        """Queue a job once per key; a second enqueue with the same key is a no-op."""
        now = time.time()
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO jobs (kind, key, payload, status, attempts, run_after, lease_until, "
                "created_at, updated_at, channel) VALUES (?, ?, ?, 'pending', 0, ?, 0, ?, ?, ?)",
                [kind, key, json.dumps(payload), now + delay, now, now, channel],
            )
            return cursor.rowcount == 1

    def claim_digest(self, channel: str, leader: Job, limit: int, threshold: int,
                     lease_seconds: float = 60.0) -> list[Job]:
        """When at least `threshold` other notices wait for `channel`, bind them and `leader` into one
        digest (a durable `digest_key`) and claim them; otherwise claim nothing."""
        now = time.time()
        digest_key = f"digest:{leader.id}"
        with self._transaction() as db:
            rows = list(db.query(
                "SELECT * FROM jobs WHERE kind = 'channel_notice' AND channel = ? AND id != ? AND digest_key IS NULL "
                "AND (status = 'pending' OR (status = 'running' AND lease_until < ?)) ORDER BY id LIMIT ?",
                [channel, leader.id, now, limit],
            ))
            if len(rows) < threshold:
                return []
            ids = [leader.id, *(row["id"] for row in rows)]
            db.execute(
                f"UPDATE jobs SET status = 'running', digest_key = ?, lease_until = ?, updated_at = ? "
                f"WHERE id IN ({', '.join('?' for _ in ids)})",
                [digest_key, now + lease_seconds, now, *ids],
            )
        return [Job(row["id"], row["kind"], row["key"], json.loads(row["payload"]), row["attempts"], digest_key)
                for row in rows]

    def digest_members(self, digest_key: str) -> list[Job]:
        rows = self._rows("SELECT * FROM jobs WHERE digest_key = ? AND status != 'done' ORDER BY id", [digest_key])
        return [Job(row["id"], row["kind"], row["key"], json.loads(row["payload"]), row["attempts"], digest_key)
                for row in rows]

    # --- deliveries: Slack messages posted once ------------------------------------------------
    def begin_delivery(self, key: str, channel: str, thread_ts: str | None) -> dict[str, Any] | None:
        """Record the intent to post; returns the earlier record when there was one."""
        with self._transaction() as db:
            earlier = next(db.query("SELECT * FROM deliveries WHERE key = ?", [key]), None)
            if earlier is None:
                db["deliveries"].insert({"key": key, "channel": channel, "thread_ts": thread_ts,
                                         "status": "sending", "ts": None, "started_at": time.time()})
            return earlier

    def finish_delivery(self, key: str, ts: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE deliveries SET status = 'sent', ts = ? WHERE key = ?", [ts, key])

    def complete_jobs(self, job_ids: list[int]) -> None:
        if not job_ids:
            return
        with self._transaction() as db:
            db.execute(
                f"UPDATE jobs SET status = 'done', updated_at = ? WHERE id IN ({', '.join('?' for _ in job_ids)})",
                [time.time(), *job_ids],
            )

    def claim_job(self, kinds: tuple[str, ...] | None = None, lease_seconds: float = 60.0) -> Job | None:
        now = time.time()
        kind_filter = ""
        kind_params: list[Any] = []
        if kinds:
            kind_filter = f" AND kind IN ({', '.join('?' for _ in kinds)})"
            kind_params = list(kinds)
        with self._transaction() as db:
            # Each query walks idx_jobs_status_run_after in order and stops at the first match; one query
            # with OR made SQLite collect and sort every due job on each claim (O(backlog) per claim).
            row = next(db.query(f"SELECT * FROM jobs WHERE status = 'pending' AND run_after <= ?{kind_filter} "
                                "ORDER BY run_after, id LIMIT 1", [now, *kind_params]), None) or next(
                db.query(f"SELECT * FROM jobs WHERE status = 'running' AND lease_until < ?{kind_filter} "
                         "ORDER BY run_after, id LIMIT 1", [now, *kind_params]), None)
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_until = ?, updated_at = ? "
                "WHERE id = ?",
                [now + lease_seconds, now, row["id"]],
            )
            if row["digest_key"]:
                # A digest's notices travel together: no other worker may post any of them meanwhile.
                db.execute(
                    "UPDATE jobs SET status = 'running', lease_until = ?, updated_at = ? "
                    "WHERE digest_key = ? AND status != 'done'",
                    [now + lease_seconds, now, row["digest_key"]],
                )
        return Job(row["id"], row["kind"], row["key"], json.loads(row["payload"]), row["attempts"] + 1,
                   row["digest_key"])

    def complete_job(self, job_id: int) -> None:
        with self._transaction() as db:
            db.execute("UPDATE jobs SET status = 'done', updated_at = ? WHERE id = ?", [time.time(), job_id])

    def retry_job(self, job_id: int, delay: float, error: str) -> None:
        now = time.time()
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET status = 'pending', run_after = ?, last_error = ?, updated_at = ? WHERE id = ?",
                [now + delay, error[:2000], now, job_id],
            )

    def fail_job(self, job_id: int, error: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET status = 'failed', last_error = ?, updated_at = ? WHERE id = ?",
                [error[:2000], time.time(), job_id],
            )

    def release_running_jobs(self) -> int:
        """At start-up nothing of ours is running: jobs left 'running' by a crash run again."""
        with self._transaction() as db:
            cursor = db.execute("UPDATE jobs SET status = 'pending', lease_until = 0 WHERE status = 'running'")
            return cursor.rowcount

    def job_counts(self) -> dict[str, int]:
        """Jobs per status, plus `due`: work in progress, i.e. running, ready, or waiting to be retried
        (jobs merely scheduled for later, like the periodic catalog refresh, are not due)."""
        counts = {row["status"]: row["n"]
                  for row in self._rows("SELECT status, count(*) AS n FROM jobs GROUP BY status")}
        due = self._one("SELECT count(*) AS n FROM jobs WHERE status = 'running' OR (status = 'pending' AND "
                        "(run_after <= ? OR attempts > 0))", [time.time()])
        counts["due"] = due["n"] if due else 0
        return counts

    # --- audit and routing --------------------------------------------------------------------
    def audit(
        self, actor: str, action: str, invoice_id: str | None, stripe_ids: dict[str, Any], detail: dict[str, Any]
    ) -> None:
        with self._transaction() as db:
            db["audit"].insert(
                {
                    "at": time.time(),
                    "actor": actor,
                    "action": action,
                    "invoice_id": invoice_id,
                    "stripe_ids": json.dumps(stripe_ids),
                    "detail": json.dumps(detail),
                }
            )

    def audit_for(self, invoice_id: str) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM audit WHERE invoice_id = ? ORDER BY at, id", [invoice_id])

    def set_route(self, kind: str, key: str, channel_id: str, set_by: str) -> None:
        with self._transaction() as db:
            db["routes"].upsert(
                {"kind": kind, "key": key, "channel_id": channel_id, "set_by": set_by, "at": time.time()},
                pk=("kind", "key"),
            )

    def list_routes(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM routes ORDER BY kind, key")

    def route_for(self, kind: str, key: str) -> str | None:
        row = self._one("SELECT channel_id FROM routes WHERE kind = ? AND key = ?", [kind, key])
        return row["channel_id"] if row else None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def open_store(database_url: str) -> Store:
    if database_url.startswith("sqlite:///"):
        return SqliteStore(database_url.removeprefix("sqlite:///"))
    raise ValueError(f"unsupported DATABASE_URL scheme: {database_url.split(':', 1)[0]}")
