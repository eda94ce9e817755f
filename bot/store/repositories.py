"""The repositories, in SQL that SQLite and PostgreSQL both accept.

Each repository runs on an `Executor`: a unit of work's transaction, or a reader that answers
each query on a connection of its own. The SQL keeps to the common subset (`?` placeholders,
which the PostgreSQL executor rewrites; `ON CONFLICT`; `RETURNING`; no `rowid`, no `INSERT OR
IGNORE`), so one repository serves both engines and both pass the same contract tests.
Rows become typed records here: JSON decoded, numbers as ints, times as float epoch seconds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

import orjson

from bot.domain.approvals import Approval
from bot.domain.chasing import ChaseState, cadence_text, parse_skipped, read_cadence, skipped_text
from bot.domain.invoice_extras import DiscountCode, TaxRate
from bot.domain.invoices import Invoice, InvoiceLine, InvoiceSnapshot, StateChange, supersedes
from bot.domain.receivables import Aging, Receivable, aging_edges
from bot.domain.records import (
    AuditEntry,
    CurrencyTotals,
    Customer,
    Delivery,
    EventSeen,
    Price,
    Route,
    StripeEvent,
    Visibility,
)
from bot.domain.recurring import Subscription
from bot.jobs.model import JobPayload

Clock = Callable[[], float]
Row = dict[str, Any]


@dataclass(frozen=True)
class Dialect:
    """What differs between the engines in otherwise shared SQL.

    SQLite serializes writers (`BEGIN IMMEDIATE`), so a transaction that reads a row and then
    changes it needs no lock; PostgreSQL at READ COMMITTED lets two transactions read the same
    row, so such reads lock it (`FOR UPDATE`), and picking jobs skips rows another transaction
    holds (`FOR UPDATE SKIP LOCKED`).

    `database_clock` is the server's time in epoch seconds, for what replicas on several hosts must
    time alike (a channel's pace, a lease); None: the store's clock, bound as a parameter (one
    SQLite file is one host, and tests keep their fake clock).
    """

    name: str
    for_update: str
    skip_locked: str
    database_clock: str | None = None


SQLITE = Dialect("sqlite", for_update="", skip_locked="")
# clock_timestamp(), not now(): the time the statement runs, not when its transaction began.
POSTGRES = Dialect("postgres", for_update=" FOR UPDATE", skip_locked=" FOR UPDATE SKIP LOCKED",
                   database_clock="date_part('epoch', clock_timestamp())")


class Executor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; the number of rows it changed."""
        ...

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...


ROWS_PER_INSERT = 400  # both engines take many more parameters than 400 rows of 10 need


def insert_rows(db: Executor, head: str, rows: Sequence[Sequence[Any]], tail: str = "") -> None:
    """One multi-row `INSERT ... VALUES (...), (...)` per few hundred rows. In a writer thread
    sharing the interpreter with an event loop, each statement step gives the loop the GIL and waits
    to get it back: one step per batch instead of one per row made a webhook group commit 5x faster."""
    for start in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[start : start + ROWS_PER_INSERT]
        marks = ", ".join("(" + ", ".join("?" for _ in chunk[0]) + ")" for _ in chunk)
        db.execute(f"{head}{marks}{tail}", [value for row in chunk for value in row])


def delete_some(db: Executor, dialect: Dialect, tenant: str, table: str, key: str, condition: str,
                params: Sequence[Any], limit: int) -> int:
    """Delete up to `limit` rows of `table` that meet `condition`; how many went. A sub-select picks
    them by `key` through an index and stops at `limit`. On PostgreSQL it locks them, skipping rows
    another transaction holds, and judges a row changed since the statement began again, as it is
    now: a row that stopped meeting the condition is not picked, and none changes until the delete."""
    return db.execute(f"DELETE FROM {table} WHERE tenant_id = ? AND {key} IN (SELECT {key} FROM {table} "
                      f"WHERE tenant_id = ? AND {condition} LIMIT ?{dialect.skip_locked})",
                      [tenant, tenant, *params, limit])


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _contains(text: str) -> str:
    return f"%{escape_like(text.strip().lower())}%"


def _int(value: Any) -> int:
    return int(value or 0)


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


# --- customers and prices -----------------------------------------------------------------------
def _customer(row: Row) -> Customer:
    return Customer(row["stripe_id"], row["email"] or "", row["name"] or "")


class SqlCustomers:
    def __init__(self, db: Executor, clock: Clock, tenant: str) -> None:
        self.db = db
        self.clock = clock
        self.tenant = tenant

    def get(self, stripe_id: str) -> Customer | None:
        row = self.db.one("SELECT * FROM customers WHERE tenant_id = ? AND stripe_id = ?", [self.tenant, stripe_id])
        return _customer(row) if row else None

    def by_email(self, email: str) -> Customer | None:
        row = self.db.one("SELECT * FROM customers WHERE tenant_id = ? AND email = ? "
                          "ORDER BY created_at, stripe_id LIMIT 1", [self.tenant, email.strip().lower()])
        return _customer(row) if row else None

    def search(self, text: str, limit: int = 20) -> list[Customer]:
        pattern = _contains(text)
        return [_customer(row) for row in self.db.rows(
            "SELECT * FROM customers WHERE tenant_id = ? "
            "AND (lower(name) LIKE ? ESCAPE '\\' OR email LIKE ? ESCAPE '\\') "
            "ORDER BY updated_at DESC, stripe_id LIMIT ?",
            [self.tenant, pattern, pattern, limit])]

    def save(self, stripe_id: str, email: str, name: str) -> None:
        now = self.clock()
        self.db.execute(
            "INSERT INTO customers (tenant_id, stripe_id, email, name, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, stripe_id) DO UPDATE SET email = excluded.email, "
            "name = excluded.name, "
            "updated_at = excluded.updated_at",
            [self.tenant, stripe_id, (email or "").strip().lower(), name or "", now, now])

    def forget_unseen(self, since: float) -> int:
        """Customers not saved since `since` (a full refresh from Stripe began): gone from Stripe."""
        return self.db.execute("DELETE FROM customers WHERE tenant_id = ? AND updated_at < ?", [self.tenant, since])


def _price(row: Row) -> Price:
    return Price(row["stripe_id"], row["product_id"] or "", row["product_name"] or row["stripe_id"],
                 _int(row["unit_amount"]), row["currency"], bool(row["active"]), row.get("recurring"))


class SqlPrices:
    def __init__(self, db: Executor, clock: Clock, tenant: str) -> None:
        self.db = db
        self.clock = clock
        self.tenant = tenant

    def get(self, stripe_id: str) -> Price | None:
        row = self.db.one("SELECT * FROM prices WHERE tenant_id = ? AND stripe_id = ?", [self.tenant, stripe_id])
        return _price(row) if row else None

    def search(self, text: str, limit: int = 20) -> list[Price]:
        pattern = _contains(text)
        return [_price(row) for row in self.db.rows(
            "SELECT * FROM prices WHERE tenant_id = ? AND active = ? AND (lower(product_name) LIKE ? ESCAPE '\\' "
            "OR stripe_id LIKE ? ESCAPE '\\') ORDER BY product_name, stripe_id LIMIT ?",
            [self.tenant, True, pattern, pattern, limit])]

    def save(self, price: Price) -> None:
        self.db.execute(
            "INSERT INTO prices (tenant_id, stripe_id, product_id, product_name, unit_amount, currency, active, "
            "updated_at, recurring) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, stripe_id) DO UPDATE "
            "SET product_id = excluded.product_id, "
            "product_name = excluded.product_name, unit_amount = excluded.unit_amount, currency = excluded.currency, "
            "active = excluded.active, updated_at = excluded.updated_at, "
            "recurring = COALESCE(excluded.recurring, prices.recurring)",
            [self.tenant, price.stripe_id, price.product_id, price.product_name, price.unit_amount, price.currency,
             price.active, self.clock(), price.recurring])

    def retire_unseen(self, since: float) -> int:
        """Prices not saved since `since` (a full refresh from Stripe began): no longer active there."""
        return self.db.execute("UPDATE prices SET active = ?, updated_at = ? WHERE tenant_id = ? AND active = ? "
                               "AND updated_at < ?", [False, self.clock(), self.tenant, True, since])


# --- tax rates and discount codes (bot/domain/invoice_extras.py), mirrored like prices -------------------
def _tax_rate(row: Row) -> TaxRate:
    return TaxRate(row["stripe_id"], row["display_name"], row["percentage"], bool(row["inclusive"]),
                   row["jurisdiction"] or "", bool(row["active"]))


class SqlTaxRates:
    def __init__(self, db: Executor, clock: Clock, tenant: str) -> None:
        self.db = db
        self.clock = clock
        self.tenant = tenant

    def get(self, stripe_id: str) -> TaxRate | None:
        row = self.db.one("SELECT * FROM tax_rates WHERE tenant_id = ? AND stripe_id = ?", [self.tenant, stripe_id])
        return _tax_rate(row) if row else None

    def search(self, text: str, limit: int = 20) -> list[TaxRate]:
        pattern = _contains(text)
        return [_tax_rate(row) for row in self.db.rows(
            "SELECT * FROM tax_rates WHERE tenant_id = ? AND active = ? AND (lower(display_name) LIKE ? ESCAPE '\\' "
            "OR lower(jurisdiction) LIKE ? ESCAPE '\\' OR percentage LIKE ? ESCAPE '\\') "
            "ORDER BY display_name, stripe_id LIMIT ?",
            [self.tenant, True, pattern, pattern, pattern, limit])]

    def save(self, rate: TaxRate) -> None:
        self.db.execute(
            "INSERT INTO tax_rates (tenant_id, stripe_id, display_name, percentage, inclusive, jurisdiction, active, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, stripe_id) DO UPDATE "
            "SET display_name = excluded.display_name, percentage = excluded.percentage, "
            "inclusive = excluded.inclusive, jurisdiction = excluded.jurisdiction, active = excluded.active, "
            "updated_at = excluded.updated_at",
            [self.tenant, rate.stripe_id, rate.display_name, rate.percentage, rate.inclusive, rate.jurisdiction,
             rate.active, self.clock()])

    def retire_unseen(self, since: float) -> int:
        """Tax rates not saved since `since` (a full refresh began): archived or gone in Stripe."""
        return self.db.execute("UPDATE tax_rates SET active = ?, updated_at = ? WHERE tenant_id = ? AND active = ? "
                               "AND updated_at < ?", [False, self.clock(), self.tenant, True, since])


def _discount_code(row: Row) -> DiscountCode:
    return DiscountCode(
        stripe_id=row["stripe_id"], kind=row["kind"], code=row["code"], coupon_id=row["coupon_id"],
        name=row["name"] or "", percent_off=row["percent_off"],
        amount_off=None if row["amount_off"] is None else int(row["amount_off"]), currency=row["currency"],
        active=bool(row["active"]), expires_at=_float_or_none(row["expires_at"]),
        minimum_amount=None if row["minimum_amount"] is None else int(row["minimum_amount"]),
        minimum_amount_currency=row["minimum_amount_currency"], customer_id=row["customer_id"])


class SqlDiscountCodes:
    def __init__(self, db: Executor, clock: Clock, tenant: str) -> None:
        self.db = db
        self.clock = clock
        self.tenant = tenant

    def find(self, typed: str) -> DiscountCode | None:
        """What a rep typed: a promotion code (any case, an active one first), else a coupon's id (exactly,
        else in any case)."""
        text = typed.strip()
        rows = self.db.rows("SELECT * FROM discount_codes WHERE tenant_id = ? AND code_lower = ? "
                            "ORDER BY kind DESC, active DESC, updated_at DESC, stripe_id LIMIT 20",
                            [self.tenant, text.lower()])
        codes = [_discount_code(row) for row in rows]
        promotion = next((code for code in codes if code.kind == "promotion_code"), None)
        if promotion is not None:
            return promotion
        return next((code for code in codes if code.code == text), codes[0] if codes else None)

    def save(self, code: DiscountCode) -> None:
        self.db.execute(
            "INSERT INTO discount_codes (tenant_id, kind, stripe_id, code, code_lower, coupon_id, name, percent_off, "
            "amount_off, currency, active, expires_at, minimum_amount, minimum_amount_currency, customer_id, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (tenant_id, kind, stripe_id) DO UPDATE SET code = excluded.code, "
            "code_lower = excluded.code_lower, coupon_id = excluded.coupon_id, name = excluded.name, "
            "percent_off = excluded.percent_off, amount_off = excluded.amount_off, currency = excluded.currency, "
            "active = excluded.active, expires_at = excluded.expires_at, minimum_amount = excluded.minimum_amount, "
            "minimum_amount_currency = excluded.minimum_amount_currency, customer_id = excluded.customer_id, "
            "updated_at = excluded.updated_at",
            [self.tenant, code.kind, code.stripe_id, code.code, code.code.lower(), code.coupon_id, code.name,
             code.percent_off, code.amount_off, code.currency, code.active, code.expires_at, code.minimum_amount,
             code.minimum_amount_currency, code.customer_id, self.clock()])

    def forget(self, kind: str, stripe_id: str) -> None:
        """Stripe says it no longer exists (or no longer applies): the form refuses it from now on."""
        self.db.execute("DELETE FROM discount_codes WHERE tenant_id = ? AND kind = ? AND stripe_id = ?",
                        [self.tenant, kind, stripe_id])

    def forget_unseen(self, since: float) -> int:
        """Codes not saved since `since` (a full refresh began): gone from Stripe."""
        return self.db.execute("DELETE FROM discount_codes WHERE tenant_id = ? AND updated_at < ?",
                               [self.tenant, since])


# --- invoices -----------------------------------------------------------------------------------
def _lines_json(lines: Sequence[InvoiceLine]) -> str:
    return json.dumps([line.to_dict() for line in lines])


def _invoice(row: Row) -> Invoice:
    return Invoice(
        stripe_id=row["stripe_id"],
        status=row["status"],
        currency=row["currency"],
        number=row["number"],
        total=_int(row["total"]),
        amount_paid=_int(row["amount_paid"]),
        amount_remaining=_int(row["amount_remaining"]),
        due_date=None if row["due_date"] is None else int(row["due_date"]),
        hosted_url=row["hosted_url"],
        pdf_url=row.get("pdf_url"),
        customer_id=row["customer_id"],
        customer_name=row["customer_name"],
        customer_email=row["customer_email"],
        lines=tuple(InvoiceLine.from_dict(item) for item in json.loads(row["lines_json"] or "[]")),
        channel_id=row["channel_id"],
        message_ts=row["message_ts"],
        rep_user_id=row["rep_user_id"],
        team_id=row["team_id"],
        view_id=row["view_id"],
        state_at=_int(row["state_at"]),
        last_reminded_at=_float_or_none(row["last_reminded_at"]),
        overdue_notified_at=_float_or_none(row["overdue_notified_at"]),
        created_at=float(row["created_at"] or 0),
        updated_at=float(row["updated_at"] or 0),
        approval=row.get("approval"),
        credited_before_payment=_int(row.get("credited_before_payment")),
        credited_after_payment=_int(row.get("credited_after_payment")),
        chase=_chase_state(row),
    )


def _day_or_none(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _chase_state(row: Row) -> ChaseState:
    """An invoice's chasing (migration 0011's columns)."""
    return ChaseState(
        days=read_cadence(row.get("chase_days")), promised_until=_day_or_none(row.get("promised_until")),
        promise_note=row.get("promise_note"), promise_lapsed_on=_day_or_none(row.get("promise_lapsed_on")),
        dispute_reason=row.get("dispute_reason"), disputed_by=row.get("disputed_by"),
        disputed_at=_float_or_none(row.get("disputed_at")), snoozed_until=_day_or_none(row.get("snoozed_until")),
        skipped=parse_skipped(row.get("skipped_days")), changed_at=_float_or_none(row.get("chasing_changed_at")),
        from_stripe=bool(row.get("chasing_from_stripe")))


def _chase_metadata_columns(state: ChaseState) -> dict[str, Any]:
    """The columns Stripe's metadata also keeps."""
    return {
        "chase_days": cadence_text(state.days) if state.days is not None else None,
        "promised_until": state.promised_until.isoformat() if state.promised_until else None,
        "promise_note": state.promise_note, "promise_lapsed_on":
            state.promise_lapsed_on.isoformat() if state.promise_lapsed_on else None,
        "dispute_reason": state.dispute_reason, "disputed_by": state.disputed_by, "disputed_at": state.disputed_at,
    }


# The Stripe-side columns a snapshot sets, and the value of each.
def _snapshot_columns(snapshot: InvoiceSnapshot) -> dict[str, Any]:
    columns: dict[str, Any] = {
        "status": snapshot.status, "currency": snapshot.currency, "number": snapshot.number,
        "total": snapshot.total, "amount_paid": snapshot.amount_paid, "amount_remaining": snapshot.amount_remaining,
        "due_date": snapshot.due_date, "hosted_url": snapshot.hosted_url, "customer_id": snapshot.customer_id,
        # Credit notes (migration 0012)
        "credited_before_payment": snapshot.credited_before_payment,
        "credited_after_payment": snapshot.credited_after_payment,
        "pdf_url": snapshot.pdf_url,
    }
    if snapshot.customer_name is not None or snapshot.customer_email is not None:
        columns["customer_name"] = snapshot.customer_name
        columns["customer_email"] = snapshot.customer_email
    if snapshot.lines is not None:
        columns["lines_json"] = _lines_json(snapshot.lines)
    return columns


class SqlInvoices:
    def __init__(self, db: Executor, clock: Clock, tenant: str, dialect: Dialect = SQLITE) -> None:
        self.db = db
        self.clock = clock
        self.tenant = tenant
        self.dialect = dialect

    def _first(self, sql: str, params: Sequence[Any]) -> Invoice | None:
        row = self.db.one(sql, params)
        return _invoice(row) if row else None

    def get(self, stripe_id: str) -> Invoice | None:
        return self._first("SELECT * FROM invoices WHERE tenant_id = ? AND stripe_id = ?", [self.tenant, stripe_id])

    def get_many(self, stripe_ids: Sequence[str], *, for_update: bool = False) -> dict[str, Invoice]:
        unique = sorted(set(stripe_ids))
        if not unique:
            return {}
        # Locked in the order of their ids, so two batches touching the same invoices never deadlock.
        lock = f" ORDER BY stripe_id{self.dialect.for_update}" if for_update else ""
        rows = self.db.rows(f"SELECT * FROM invoices WHERE tenant_id = ? AND stripe_id IN "
                            f"({', '.join('?' for _ in unique)}){lock}", [self.tenant, *unique])
        return {str(row["stripe_id"]): _invoice(row) for row in rows}

    def by_view(self, view_id: str) -> Invoice | None:
        return self._first("SELECT * FROM invoices WHERE tenant_id = ? AND view_id = ?", [self.tenant, view_id])

    def by_hosted_url(self, url: str) -> Invoice | None:
        # Compared exactly (the page's token is case-sensitive), up to a query or fragment; the tenant's rows
        # only, without an index of its own: previews are rare next to what the table is read for.
        base = url.split("#", 1)[0].split("?", 1)[0]
        if not base:
            return None
        return self._first(
            "SELECT * FROM invoices WHERE tenant_id = ? AND substr(hosted_url, 1, CAST(? AS INTEGER)) = ? "
            "AND (length(hosted_url) = CAST(? AS INTEGER) OR substr(hosted_url, CAST(? AS INTEGER), 1) IN (?, ?)) "
            "ORDER BY created_at LIMIT 1",
            [self.tenant, len(base), base, len(base), len(base) + 1, "?", "#"])

    def made_in_slack(self, stripe_ids: Sequence[str]) -> set[str]:
        if not stripe_ids:
            return set()
        return {str(row["stripe_id"]) for row in self.db.rows(
            "SELECT stripe_id FROM invoices WHERE tenant_id = ? "
            f"AND stripe_id IN ({', '.join('?' for _ in stripe_ids)}) "
            "AND rep_user_id IS NOT NULL AND rep_user_id <> ''",
            [self.tenant, *stripe_ids])}

    def find(self, number_or_id: str) -> Invoice | None:
        return self._first("SELECT * FROM invoices WHERE tenant_id = ? AND (stripe_id = ? OR upper(number) = upper(?)) "
                           "ORDER BY created_at LIMIT 1", [self.tenant, number_or_id, number_or_id])

    def search(self, status: str | None = None, text: str | None = None, limit: int = 20, offset: int = 0,
               now: float | None = None, visible: Visibility | None = None) -> list[Invoice]:
        """Newest first. `overdue` means open with its due date passed; deleted drafts never show."""
        if visible is not None and visible.nothing:
            return []
        where: list[str] = ["tenant_id = ?", "status <> 'deleted'", *_visible(visible)]
        params: list[Any] = [self.tenant, *_visible_params(visible)]
        if status == "overdue":
            where.append("status = 'open' AND due_date < ?")
            params.append(int(self.clock() if now is None else now))
        elif status:
            where.append("status = ?")
            params.append(status)
        if text:
            pattern = _contains(text)
            where.append("(lower(customer_name) LIKE ? ESCAPE '\\' OR lower(customer_email) LIKE ? ESCAPE '\\')")
            params += [pattern, pattern]
        rows = self.db.rows(f"SELECT * FROM invoices WHERE {' AND '.join(where)} "
                            "ORDER BY created_at DESC, stripe_id DESC LIMIT ? OFFSET ?", [*params, limit, offset])
        return [_invoice(row) for row in rows]

    def of_rep(self, user_id: str, limit: int = 10) -> list[Invoice]:
        return [_invoice(row) for row in self.db.rows(
            "SELECT * FROM invoices WHERE tenant_id = ? AND rep_user_id = ? AND status <> 'deleted' "
            "ORDER BY created_at DESC, stripe_id DESC LIMIT ?", [self.tenant, user_id, limit])]

    def channels(self) -> list[str]:
        """The channels invoices were posted in."""
        return [str(row["channel_id"]) for row in self.db.rows(
            "SELECT DISTINCT channel_id FROM invoices WHERE tenant_id = ? AND channel_id IS NOT NULL "
            "AND channel_id <> '' ORDER BY channel_id", [self.tenant])]

    def totals(self, now: float | None = None, visible: Visibility | None = None) -> list[CurrencyTotals]:
        """Per currency: open total, overdue count and total, paid this month (UTC)."""
        if visible is not None and visible.nothing:
            return []
        now = self.clock() if now is None else now
        scope = " AND ".join(["tenant_id = ?", *_visible(visible)])
        month_start = datetime.fromtimestamp(now, UTC).replace(day=1, hour=0, minute=0, second=0,
                                                               microsecond=0).timestamp()
        rows = self.db.rows(
            "SELECT currency, "
            "SUM(CASE WHEN status = 'open' THEN amount_remaining ELSE 0 END) AS open_total, "
            "SUM(CASE WHEN status = 'open' THEN 1 ELSE 0 END) AS open_count, "
            "SUM(CASE WHEN status = 'open' AND due_date < ? THEN amount_remaining ELSE 0 END) AS overdue_total, "
            "SUM(CASE WHEN status = 'open' AND due_date < ? THEN 1 ELSE 0 END) AS overdue_count, "
            "SUM(CASE WHEN status = 'paid' AND updated_at >= ? THEN amount_paid ELSE 0 END) AS paid_month "
            f"FROM invoices WHERE {scope} GROUP BY currency ORDER BY currency",
            [int(now), int(now), month_start, self.tenant, *_visible_params(visible)])
        return [CurrencyTotals(row["currency"], _int(row["open_total"]), _int(row["open_count"]),
                               _int(row["overdue_total"]), _int(row["overdue_count"]), _int(row["paid_month"]))
                for row in rows]

    def overdue_unannounced(self, now: float | None = None, limit: int = 500) -> list[Invoice]:
        return [_invoice(row) for row in self.db.rows(
            "SELECT * FROM invoices WHERE tenant_id = ? AND status = 'open' AND due_date < ? "
            "AND overdue_notified_at IS NULL ORDER BY due_date, stripe_id LIMIT ?",
            [self.tenant, int(self.clock() if now is None else now), limit])]

    # --- receivables (bot/domain/receivables.py): the digest's and App Home's figures ----------------
    def receivables(self, visible: Visibility | None = None) -> list[Receivable]:
        """Every open invoice (of what `visible` may see), lean: no lines, no message."""
        if visible is not None and visible.nothing:
            return []
        scope = " AND ".join(["tenant_id = ?", "status = 'open'", *_visible(visible)])
        rows = self.db.rows(
            "SELECT stripe_id, currency, amount_remaining, total, number, due_date, customer_name, customer_email, "
            f"rep_user_id, created_at, hosted_url FROM invoices WHERE {scope} ORDER BY stripe_id",
            [self.tenant, *_visible_params(visible)])
        return [Receivable(str(row["stripe_id"]), str(row["currency"]), _int(row["amount_remaining"]),
                           _int(row["total"]), row["number"], None if row["due_date"] is None else int(row["due_date"]),
                           row["customer_name"], row["customer_email"], row["rep_user_id"] or None,
                           float(row["created_at"] or 0), row["hosted_url"]) for row in rows]

    def aging(self, now: float, visible: Visibility | None = None) -> list[Aging]:
        """Per currency, open amounts and counts by days past due, in one aggregate (App Home): the
        buckets of `bot.domain.receivables.bucket_of`, an invoice without a due date being current."""
        if visible is not None and visible.nothing:
            return []
        scope = " AND ".join(["tenant_id = ?", "status = 'open'", *_visible(visible)])
        moment = int(now)
        edges = aging_edges(now)
        due = "due_date IS NOT NULL AND due_date <> 0 AND due_date < ?"
        conditions = [
            ("(due_date IS NULL OR due_date = 0 OR due_date >= ?)", [moment]),
            (f"{due} AND due_date >= ?", [moment, edges[0]]),
            (f"{due} AND due_date < ? AND due_date >= ?", [moment, edges[0], edges[1]]),
            (f"{due} AND due_date < ? AND due_date >= ?", [moment, edges[1], edges[2]]),
            (f"{due} AND due_date < ?", [moment, edges[2]]),
        ]
        columns = ", ".join(
            f"SUM(CASE WHEN {condition} THEN amount_remaining ELSE 0 END) AS a{index}, "
            f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END) AS c{index}"
            for index, (condition, _) in enumerate(conditions))
        params = [value for _, values in conditions for value in (*values, *values)]
        rows = self.db.rows(f"SELECT currency, {columns} FROM invoices WHERE {scope} GROUP BY currency "
                            "ORDER BY currency", [*params, self.tenant, *_visible_params(visible)])
        return [Aging(str(row["currency"]), tuple(_int(row[f"a{index}"]) for index in range(len(conditions))),
                      tuple(_int(row[f"c{index}"]) for index in range(len(conditions)))) for row in rows]

    def invoiced_by_period(self, bounds: Sequence[tuple[float, float, int]]) -> dict[str, list[int]]:
        """Per currency, the totals of invoices made in each period [start, end) of `bounds`: issued ones
        (open, paid or uncollectible), at their full total. One aggregate for every period."""
        if not bounds:
            return {}
        columns = ", ".join(f"SUM(CASE WHEN created_at >= ? AND created_at < ? THEN total ELSE 0 END) AS p{index}"
                            for index in range(len(bounds)))
        params = [value for start, end, _ in bounds for value in (start, end)]
        earliest, latest = min(start for start, _, _ in bounds), max(end for _, end, _ in bounds)
        rows = self.db.rows(
            f"SELECT currency, {columns} FROM invoices WHERE tenant_id = ? "
            "AND status IN ('open', 'paid', 'uncollectible') AND created_at >= ? AND created_at < ? GROUP BY currency",
            [*params, self.tenant, earliest, latest])
        return {str(row["currency"]): [_int(row[f"p{index}"]) for index in range(len(bounds))] for row in rows}

    def collected_between(self, since: float, until: float) -> dict[str, int]:
        """Per currency, what invoices paid in [since, until] brought in: Stripe's moment of the paid state
        where the bot knows it (`state_at`), else when the row last changed."""
        paid_at = "(CASE WHEN state_at > 0 THEN state_at ELSE updated_at END)"
        rows = self.db.rows(
            f"SELECT currency, SUM(amount_paid) AS paid FROM invoices WHERE tenant_id = ? AND status = 'paid' "
            f"AND {paid_at} >= ? AND {paid_at} <= ? GROUP BY currency", [self.tenant, since, until])
        return {str(row["currency"]): _int(row["paid"]) for row in rows if _int(row["paid"])}

    def date_created(self, stripe_id: str, created: float) -> None:
        """An invoice the bot learned of late (reconciled from Stripe's list) is dated as Stripe made it,
        never later than the bot first saw it: its month for DSO, its place in lists."""
        self.db.execute("UPDATE invoices SET created_at = ? WHERE tenant_id = ? AND stripe_id = ? AND "
                        "(created_at IS NULL OR created_at > ?)", [created, self.tenant, stripe_id, created])

    def add_own(self, snapshot: InvoiceSnapshot, *, channel_id: str, rep_user_id: str, team_id: str,
                view_id: str) -> None:
        now = self.clock()
        columns = {**_snapshot_columns(snapshot), "channel_id": channel_id, "rep_user_id": rep_user_id,
                   "team_id": team_id, "view_id": view_id}
        names = ["tenant_id", "stripe_id", *columns, "state_at", "created_at", "updated_at"]
        updates = ", ".join(f"{name} = excluded.{name}" for name in [*columns, "updated_at"])
        self.db.execute(
            f"INSERT INTO invoices ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)}) "
            f"ON CONFLICT (tenant_id, stripe_id) DO UPDATE SET {updates}",
            [self.tenant, snapshot.stripe_id, *columns.values(), 0, now, now])

    def apply(self, snapshot: InvoiceSnapshot, at: int, held: Invoice | None = None) -> StateChange:
        change = self._apply_state(snapshot, at, held)
        if snapshot.chase_marks:
            self._adopt_chasing(snapshot.stripe_id, ChaseState.from_metadata(snapshot.chase_marks), at)
        return change

    def _adopt_chasing(self, stripe_id: str, state: ChaseState, at: int) -> None:
        """Chasing as Stripe's metadata keeps it, for a row that never had any (a rebuilt database) or
        that took it from Stripe before, from an older snapshot; never over what the bot itself changed."""
        columns = _chase_metadata_columns(state)
        if state.disputed and state.disputed_at is None:
            columns["disputed_at"] = float(at)
        assignments = ", ".join(f"{name} = ?" for name in columns)
        self.db.execute(f"UPDATE invoices SET {assignments}, chasing_changed_at = ?, chasing_from_stripe = 1 "
                        "WHERE tenant_id = ? AND stripe_id = ? AND (chasing_changed_at IS NULL OR "
                        "(chasing_from_stripe = 1 AND chasing_changed_at < ?))",
                        [*columns.values(), float(at), self.tenant, stripe_id, float(at)])

    def _apply_state(self, snapshot: InvoiceSnapshot, at: int, held: Invoice | None) -> StateChange:
        now = self.clock()
        columns = _snapshot_columns(snapshot)
        if held is None:
            names = ["tenant_id", "stripe_id", *columns, "state_at", "created_at", "updated_at"]
            inserted = self.db.execute(
                f"INSERT INTO invoices ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)}) "
                "ON CONFLICT (tenant_id, stripe_id) DO NOTHING",
                [self.tenant, snapshot.stripe_id, *columns.values(), at, now, now])
            if inserted:
                return StateChange(applied=True, previous_status=None, status=snapshot.status)
            current = self.db.one(
                f"SELECT status, state_at FROM invoices WHERE tenant_id = ? AND stripe_id = ?{self.dialect.for_update}",
                [self.tenant, snapshot.stripe_id])
            assert current is not None  # it was there a moment ago, and invoices are never deleted
            previous, previous_at = str(current["status"]), _int(current["state_at"])
        else:
            previous, previous_at = held.status, held.state_at
        if not supersedes(snapshot.status, at, previous, previous_at):
            return StateChange(applied=False, previous_status=previous, status=previous)
        assignments = ", ".join(f"{name} = ?" for name in columns)
        self.db.execute(f"UPDATE invoices SET {assignments}, state_at = ?, updated_at = ? WHERE tenant_id = ? "
                        "AND stripe_id = ?", [*columns.values(), at, now, self.tenant, snapshot.stripe_id])
        return StateChange(applied=True, previous_status=previous, status=snapshot.status)

    def set_lines(self, stripe_id: str, lines: tuple[InvoiceLine, ...]) -> None:
        self.db.execute("UPDATE invoices SET lines_json = ?, updated_at = ? WHERE tenant_id = ? AND stripe_id = ?",
                        [_lines_json(lines), self.clock(), self.tenant, stripe_id])

    def set_message(self, stripe_id: str, channel_id: str, message_ts: str) -> None:
        self.db.execute("UPDATE invoices SET channel_id = ?, message_ts = ?, updated_at = ? WHERE tenant_id = ? "
                        "AND stripe_id = ?", [channel_id, message_ts, self.clock(), self.tenant, stripe_id])

    def mark_reminded(self, stripe_id: str, at: float) -> None:
        self.db.execute("UPDATE invoices SET last_reminded_at = ? WHERE tenant_id = ? AND stripe_id = ?",
                        [at, self.tenant, stripe_id])

    def set_chasing(self, stripe_id: str, state: ChaseState, at: float) -> None:
        columns = {**_chase_metadata_columns(state),
                   "snoozed_until": state.snoozed_until.isoformat() if state.snoozed_until else None,
                   "skipped_days": skipped_text(state.skipped)}
        assignments = ", ".join(f"{name} = ?" for name in columns)
        self.db.execute(f"UPDATE invoices SET {assignments}, chasing_changed_at = ?, chasing_from_stripe = 0 "
                        "WHERE tenant_id = ? AND stripe_id = ?", [*columns.values(), at, self.tenant, stripe_id])

    def claim_reminder(self, stripe_id: str, claim: str, at: float, interval: float) -> bool:
        return self.db.execute(
            "UPDATE invoices SET last_reminded_at = ?, reminder_claim = ? WHERE tenant_id = ? AND stripe_id = ? "
            "AND (reminder_claim = ? OR last_reminded_at IS NULL OR last_reminded_at <= ?)",
            [at, claim, self.tenant, stripe_id, claim, at - interval]) == 1

    def to_chase(self, limit: int = 5000) -> list[Invoice]:
        return [_invoice(row) for row in self.db.rows(
            "SELECT * FROM invoices WHERE tenant_id = ? AND status = 'open' AND due_date IS NOT NULL "
            "AND rep_user_id IS NOT NULL AND rep_user_id <> '' ORDER BY due_date, stripe_id LIMIT ?",
            [self.tenant, limit])]

    def mark_overdue_once(self, stripe_id: str, at: float) -> bool:
        return self.db.execute("UPDATE invoices SET overdue_notified_at = ? WHERE tenant_id = ? AND stripe_id = ? "
                               "AND overdue_notified_at IS NULL", [at, self.tenant, stripe_id]) == 1

    def adopt(self, stripe_id: str, *, channel_id: str, rep_user_id: str, team_id: str) -> bool:
        """An invoice a subscription made in Slack generated becomes the rep's (bot/services/recurring.py):
        True only the first time (one made in Slack already is left as it is)."""
        return self.db.execute(
            "UPDATE invoices SET channel_id = ?, rep_user_id = ?, team_id = ?, updated_at = ? WHERE tenant_id = ? "
            "AND stripe_id = ? AND rep_user_id IS NULL",
            [channel_id, rep_user_id, team_id, self.clock(), self.tenant, stripe_id]) == 1

    def set_approval(self, stripe_id: str, approval: str) -> None:
        self.db.execute("UPDATE invoices SET approval = ?, updated_at = ? WHERE tenant_id = ? AND stripe_id = ?",
                        [approval, self.clock(), self.tenant, stripe_id])


def _visible(visible: Visibility | None) -> list[str]:
    if visible is None:
        return []
    channels = ", ".join("?" for _ in visible.channels)
    return [f"(rep_user_id = ? OR channel_id IN ({channels}))" if channels else "rep_user_id = ?"]


def _visible_params(visible: Visibility | None) -> list[Any]:
    return [] if visible is None else [visible.user_id, *sorted(visible.channels)]


# --- Stripe events ------------------------------------------------------------------------------
def _event(row: Row) -> StripeEvent:
    # orjson, as at the webhook's door: what was accepted there always reads back here.
    return StripeEvent(row["id"], row["type"], _int(row["created"]), row["object_id"], orjson.loads(row["payload"]),
                       row["outcome"], float(row["received_at"] or 0), _float_or_none(row["processed_at"]))


class SqlEvents:
    def __init__(self, db: Executor, clock: Clock, tenant: str, dialect: Dialect = SQLITE) -> None:
        self.db = db
        self.clock = clock
        self.tenant = tenant
        self.dialect = dialect

    def get(self, event_id: str) -> StripeEvent | None:
        row = self.db.one("SELECT * FROM stripe_events WHERE tenant_id = ? AND id = ?", [self.tenant, event_id])
        return _event(row) if row else None

    def get_for_decision(self, event_id: str) -> StripeEvent | None:
        """The event, locked until the transaction ends: one decision per event, whoever else tries."""
        row = self.db.one(f"SELECT * FROM stripe_events WHERE tenant_id = ? AND id = ?{self.dialect.for_update}",
                          [self.tenant, event_id])
        return _event(row) if row else None

    def needing(self, event_ids: Sequence[str], types: Sequence[str]) -> list[EventSeen]:
        """Of these events, the undecided ones of `types` (what a decision must look up first), with the
        id of their object: no payload is read."""
        if not event_ids or not types:
            return []
        rows = self.db.rows(f"SELECT id, type, created, object_id FROM stripe_events WHERE tenant_id = ? AND id IN "
                            f"({', '.join('?' for _ in event_ids)}) AND type IN ({', '.join('?' for _ in types)}) "
                            "AND outcome IS NULL", [self.tenant, *event_ids, *types])
        return [EventSeen(row["type"], _int(row["created"]), row["id"], row["object_id"]) for row in rows]

    def get_many(self, event_ids: Sequence[str], *, for_decision: bool = False) -> list[StripeEvent]:
        """Events by id, oldest first (as Stripe created them); locked when `for_decision`, always in
        the order of their ids, so two deciders of overlapping batches never wait for each other."""
        if not event_ids:
            return []
        marks = ", ".join("?" for _ in event_ids)
        lock = self.dialect.for_update if for_decision else ""
        rows = self.db.rows(f"SELECT * FROM stripe_events WHERE tenant_id = ? AND id IN ({marks}) ORDER BY id{lock}",
                            [self.tenant, *event_ids])
        return sorted((_event(row) for row in rows), key=lambda event: (event.created, event.received_at, event.id))

    def for_invoice(self, invoice_id: str) -> list[EventSeen]:
        return [EventSeen(row["type"], _int(row["created"]), row["id"], row["object_id"]) for row in self.db.rows(
            "SELECT id, type, created, object_id FROM stripe_events WHERE tenant_id = ? AND object_id = ? "
            "ORDER BY created, received_at", [self.tenant, invoice_id])]

    def record(self, event: dict[str, Any], raw: str) -> bool:
        return self.record_many([(event, raw)])[0]

    def record_many(self, events: Sequence[tuple[dict[str, Any], str]]) -> list[bool]:
        ids = [str(event["id"]) for event, _ in events]
        known = {str(row["id"]) for row in self.db.rows(
            f"SELECT id FROM stripe_events WHERE tenant_id = ? AND id IN ({', '.join('?' for _ in ids)})",
            [self.tenant, *ids])} if ids else set()
        fresh: list[bool] = []
        rows: list[list[Any]] = []
        now = self.clock()
        for (event, raw), event_id in zip(events, ids, strict=True):
            new = event_id not in known
            known.add(event_id)
            fresh.append(new)
            if new:
                data_object = (event.get("data") or {}).get("object") or {}
                rows.append([self.tenant, event_id, event.get("type", ""), int(event.get("created") or 0),
                             data_object.get("id"), raw, now])
        # ON CONFLICT: another replica may store the same event meanwhile (both then queue it; the
        # job's key makes that one job).
        insert_rows(self.db, "INSERT INTO stripe_events (tenant_id, id, type, created, object_id, payload, "
                             "received_at) VALUES ", rows, " ON CONFLICT (tenant_id, id) DO NOTHING")
        return fresh

    def decide(self, event_id: str, outcome: str) -> None:
        self.db.execute("UPDATE stripe_events SET outcome = ?, processed_at = ? WHERE tenant_id = ? AND id = ?",
                        [outcome, self.clock(), self.tenant, event_id])

    def prune_decided(self, older_than: float, limit: int) -> int:
        """Delete up to `limit` events received and decided more than `older_than` seconds ago; an
        undecided event stays, whatever its age."""
        cutoff = self.clock() - older_than
        return delete_some(self.db, self.dialect, self.tenant, "stripe_events", "id",
                           "processed_at IS NOT NULL AND processed_at < ? AND received_at < ?",
                           [cutoff, cutoff], limit)


# --- deliveries, audit, routes ------------------------------------------------------------------
class SqlDeliveries:
    def __init__(self, db: Executor, clock: Clock, tenant: str, dialect: Dialect = SQLITE) -> None:
        self.db = db
        self.clock = clock
        self.tenant = tenant
        self.dialect = dialect

    def get(self, key: str) -> Delivery | None:
        row = self.db.one("SELECT * FROM deliveries WHERE tenant_id = ? AND key = ?", [self.tenant, key])
        return Delivery(row["key"], row["channel"], row["thread_ts"], row["ts"], float(row["started_at"] or 0)) \
            if row else None

    def begin(self, key: str, channel: str, thread_ts: str | None) -> Delivery | None:
        began = self.db.execute("INSERT INTO deliveries (tenant_id, key, channel, thread_ts, status, ts, started_at) "
                                "VALUES (?, ?, ?, ?, 'sending', NULL, ?) ON CONFLICT (tenant_id, key) DO NOTHING",
                                [self.tenant, key, channel, thread_ts, self.clock()])
        return None if began else self.get(key)

    def finish(self, key: str, ts: str) -> None:
        self.db.execute("UPDATE deliveries SET status = 'sent', ts = ? WHERE tenant_id = ? AND key = ?",
                        [ts, self.tenant, key])

    def prune_sent(self, older_than: float, limit: int) -> int:
        """Delete up to `limit` records of posts begun more than `older_than` seconds ago and known to
        be sent; one still `sending` (maybe posted: a retry looks in Slack first) stays, and so does
        one whose job is unfinished."""
        return delete_some(self.db, self.dialect, self.tenant, "deliveries", "key",
                           "status = 'sent' AND started_at < ? AND NOT EXISTS (SELECT 1 FROM jobs "
                           "WHERE jobs.tenant_id = deliveries.tenant_id AND jobs.key = deliveries.key "
                           "AND jobs.status IN ('pending', 'running'))",
                           [self.clock() - older_than], limit)


def _audit_entry(row: Row) -> AuditEntry:
    return AuditEntry(float(row["at"]), row["actor"], row["action"], row["invoice_id"],
                      json.loads(row["stripe_ids"] or "{}"), json.loads(row["detail"] or "{}"))


class SqlAudit:
    def __init__(self, db: Executor, clock: Clock, tenant: str) -> None:
        self.db = db
        self.clock = clock
        self.tenant = tenant

    def for_invoice(self, invoice_id: str) -> list[AuditEntry]:
        return [_audit_entry(row) for row in self.db.rows(
            "SELECT * FROM audit WHERE tenant_id = ? AND invoice_id = ? ORDER BY at, id", [self.tenant, invoice_id])]

    def add(self, actor: str, action: str, invoice_id: str | None, stripe_ids: dict[str, Any],
            detail: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO audit (tenant_id, at, actor, action, invoice_id, stripe_ids, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [self.tenant, self.clock(), actor, action, invoice_id, json.dumps(stripe_ids), json.dumps(detail)])


def _approval(row: Row) -> Approval:
    return Approval(
        invoice_id=row["invoice_id"], status=row["status"], requested_by=row["requested_by"],
        key_base=row["key_base"], total=_int(row["total"]), currency=row["currency"],
        limit=_int(row["limit_amount"]), channel_id=row["channel_id"], view_id=row["view_id"],
        decided_by=row["decided_by"], decided_at=_float_or_none(row["decided_at"]), reason=row["reason"],
        messages=tuple((str(channel), str(ts)) for channel, ts in json.loads(row["messages_json"] or "[]")),
        created_at=float(row["created_at"] or 0))


class SqlApprovals:
    """Requests for approval, one per invoice, and their one decision (bot/domain/approvals.py)."""

    def __init__(self, db: Executor, clock: Clock, tenant: str) -> None:
        self.db = db
        self.clock = clock
        self.tenant = tenant

    def get(self, invoice_id: str) -> Approval | None:
        row = self.db.one("SELECT * FROM approvals WHERE tenant_id = ? AND invoice_id = ?", [self.tenant, invoice_id])
        return _approval(row) if row else None

    def request(self, approval: Approval) -> bool:
        """Record a pending request once per invoice; False when the invoice already has one."""
        now = self.clock()
        return self.db.execute(
            "INSERT INTO approvals (tenant_id, invoice_id, status, requested_by, key_base, total, currency, "
            "limit_amount, channel_id, view_id, messages_json, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '[]', ?, ?) ON CONFLICT (tenant_id, invoice_id) DO NOTHING",
            [self.tenant, approval.invoice_id, approval.status, approval.requested_by, approval.key_base,
             approval.total, approval.currency, approval.limit, approval.channel_id, approval.view_id, now,
             now]) == 1

    def decide(self, invoice_id: str, status: str, decided_by: str, reason: str | None = None) -> bool:
        """Decide a pending request; False when it was decided already (the first decision counts). On
        PostgreSQL a concurrent decider waits for this row and then finds it no longer pending."""
        now = self.clock()
        return self.db.execute(
            "UPDATE approvals SET status = ?, decided_by = ?, decided_at = ?, reason = ?, updated_at = ? "
            "WHERE tenant_id = ? AND invoice_id = ? AND status = 'pending'",
            [status, decided_by, now, reason, now, self.tenant, invoice_id]) == 1

    def set_messages(self, invoice_id: str, messages: Sequence[tuple[str, str]]) -> None:
        self.db.execute("UPDATE approvals SET messages_json = ?, updated_at = ? WHERE tenant_id = ? "
                        "AND invoice_id = ?", [json.dumps([list(message) for message in messages]), self.clock(),
                                               self.tenant, invoice_id])


def _subscription(row: Row) -> Subscription:
    return Subscription(
        stripe_id=row["stripe_id"], view_id=row["view_id"], rep_user_id=row["rep_user_id"],
        channel_id=row["channel_id"], team_id=row["team_id"], customer_id=row["customer_id"],
        customer_label=row["customer_label"], repeat_every=row["repeat_every"], currency=row["currency"],
        amount=_int(row["amount"]), summary=row["summary"], status=row["status"],
        cancel_at_period_end=bool(row["cancel_at_period_end"]),
        current_period_end=None if row["current_period_end"] is None else int(row["current_period_end"]),
        canceled_by=row["canceled_by"], created_at=float(row["created_at"] or 0),
        updated_at=float(row["updated_at"] or 0))


class SqlSubscriptions:
    """Subscriptions made in Slack (bot/domain/recurring.py), one row per Stripe subscription."""

    def __init__(self, db: Executor, clock: Clock, tenant: str) -> None:
        self.db = db
        self.clock = clock
        self.tenant = tenant

    def get(self, stripe_id: str) -> Subscription | None:
        row = self.db.one("SELECT * FROM subscriptions WHERE tenant_id = ? AND stripe_id = ?",
                          [self.tenant, stripe_id])
        return _subscription(row) if row else None

    def by_view(self, view_id: str) -> Subscription | None:
        row = self.db.one("SELECT * FROM subscriptions WHERE tenant_id = ? AND view_id = ?", [self.tenant, view_id])
        return _subscription(row) if row else None

    def listed(self, rep_user_id: str | None = None, *, include_ended: bool = False,
               limit: int = 50) -> list[Subscription]:
        """Newest first; a rep's own (None: everyone's); ended ones only with `include_ended`."""
        sql = "SELECT * FROM subscriptions WHERE tenant_id = ?"
        params: list[Any] = [self.tenant]
        if rep_user_id is not None:
            sql += " AND rep_user_id = ?"
            params.append(rep_user_id)
        if not include_ended:
            sql += " AND status <> 'canceled'"
        return [_subscription(row) for row in self.db.rows(
            f"{sql} ORDER BY created_at DESC, stripe_id LIMIT ?", [*params, limit])]

    def add(self, subscription: Subscription) -> bool:
        """Record a subscription once (by its Stripe id and by its form); False when it was recorded already."""
        now = self.clock()
        return self.db.execute(
            "INSERT INTO subscriptions (tenant_id, stripe_id, view_id, rep_user_id, channel_id, team_id, customer_id, "
            "customer_label, repeat_every, currency, amount, summary, status, cancel_at_period_end, "
            "current_period_end, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            [self.tenant, subscription.stripe_id, subscription.view_id, subscription.rep_user_id,
             subscription.channel_id, subscription.team_id, subscription.customer_id, subscription.customer_label,
             subscription.repeat_every, subscription.currency, subscription.amount, subscription.summary,
             subscription.status, subscription.cancel_at_period_end, subscription.current_period_end, now,
             now]) == 1

    def update_state(self, stripe_id: str, *, status: str, cancel_at_period_end: bool,
                     current_period_end: int | None, canceled_by: str | None = None) -> bool:
        """Stripe's latest word on it. A subscription once canceled stays canceled (events arrive out of order)."""
        return self.db.execute(
            "UPDATE subscriptions SET status = CASE WHEN status = 'canceled' THEN status ELSE ? END, "
            "cancel_at_period_end = ?, current_period_end = COALESCE(?, current_period_end), "
            "canceled_by = COALESCE(canceled_by, ?), updated_at = ? WHERE tenant_id = ? AND stripe_id = ?",
            [status, cancel_at_period_end, current_period_end, canceled_by, self.clock(), self.tenant,
             stripe_id]) == 1


class SqlRoutes:
    def __init__(self, db: Executor, clock: Clock, tenant: str) -> None:
        self.db = db
        self.clock = clock
        self.tenant = tenant

    def lookup(self, kind: str, key: str) -> str | None:
        row = self.db.one("SELECT channel_id FROM routes WHERE tenant_id = ? AND kind = ? AND key = ?",
                          [self.tenant, kind, key])
        return str(row["channel_id"]) if row else None

    def all(self) -> list[Route]:
        return [Route(row["kind"], row["key"], row["channel_id"], row["set_by"], float(row["at"]))
                for row in self.db.rows("SELECT * FROM routes WHERE tenant_id = ? ORDER BY kind, key", [self.tenant])]

    def set(self, kind: str, key: str, channel_id: str, set_by: str) -> None:
        self.db.execute(
            "INSERT INTO routes (tenant_id, kind, key, channel_id, set_by, at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (tenant_id, kind, key) DO UPDATE SET channel_id = excluded.channel_id, "
            "set_by = excluded.set_by, at = excluded.at", [self.tenant, kind, key, channel_id, set_by, self.clock()])


# --- the outbox: jobs queued in the unit of work -------------------------------------------------
# Spelled as in the partial index of migration 0005, so that SQLite's planner matches the two.
_FINISHED = "status IN ('done', 'failed')"


class SqlJobOutbox:
    def __init__(self, db: Executor, clock: Clock, tenant: str, lanes_touched: set[str],
                 dialect: Dialect = SQLITE) -> None:
        self.db = db
        self.clock = clock
        self.tenant = tenant
        self.lanes_touched = lanes_touched
        self.dialect = dialect

    def add_many(self, jobs: Sequence[tuple[JobPayload, str]]) -> None:
        """Queue many jobs at once (each once per key), with no delay and no channel."""
        if not jobs:
            return
        now = self.clock()
        insert_rows(self.db, "INSERT INTO jobs (tenant_id, kind, key, lane, payload, status, attempts, run_after, "
                             "lease_until, created_at, updated_at) VALUES ",
                    [[self.tenant, payload.KIND, key, payload.lane().value, payload.model_dump_json(), "pending", 0,
                      now, 0, now, now] for payload, key in jobs], " ON CONFLICT (tenant_id, key) DO NOTHING")
        self.lanes_touched.update(payload.lane().value for payload, _ in jobs)

    def add(self, payload: JobPayload, key: str, *, delay: float = 0.0, channel: str | None = None) -> bool:
        now = self.clock()
        lane = payload.lane().value
        added = self.db.execute(
            "INSERT INTO jobs (tenant_id, kind, key, lane, payload, status, attempts, run_after, lease_until, "
            "created_at, updated_at, channel) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, 0, ?, ?, ?) "
            "ON CONFLICT (tenant_id, key) DO NOTHING",
            [self.tenant, payload.KIND, key, lane, payload.model_dump_json(), now + delay, now, now, channel]) == 1
        if added:
            self.lanes_touched.add(lane)
        return added

    def prune_finished(self, older_than: float, limit: int) -> int:
        """Delete up to `limit` jobs done or failed more than `older_than` seconds ago. Pending and
        running jobs stay, and so does a failed notice of a digest still being posted (the digest's
        next claim takes it up again)."""
        return delete_some(self.db, self.dialect, self.tenant, "jobs", "id",
                           f"{_FINISHED} AND updated_at < ? AND (digest_key IS NULL "
                           "OR status = 'done' "
                           "OR NOT EXISTS "
                           "(SELECT 1 FROM jobs d WHERE d.digest_key = jobs.digest_key AND d.status IN ('pending', "
                           "'running')))", [self.clock() - older_than], limit)


class SqlChasingSettings:
    """A workspace's chasing cadence (`/invoice chasing`); no row: the default."""

    def __init__(self, db: Executor, clock: Clock, tenant: str) -> None:
        self.db = db
        self.clock = clock
        self.tenant = tenant

    def cadence(self) -> tuple[int, ...] | None:
        row = self.db.one("SELECT days FROM chasing_settings WHERE tenant_id = ?", [self.tenant])
        return read_cadence(row["days"]) if row else None

    def set_cadence(self, days: tuple[int, ...] | None, set_by: str) -> None:
        if days is None:
            self.db.execute("DELETE FROM chasing_settings WHERE tenant_id = ?", [self.tenant])
            return
        self.db.execute("INSERT INTO chasing_settings (tenant_id, days, set_by, set_at) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (tenant_id) DO UPDATE SET days = excluded.days, set_by = excluded.set_by, "
                        "set_at = excluded.set_at", [self.tenant, cadence_text(days), set_by, self.clock()])


class SqlRepositories:
    """Every repository on one executor: what a unit of work (or a reader) hands out."""

    def __init__(self, db: Executor, clock: Clock, tenant: str, dialect: Dialect = SQLITE,
                 lanes_touched: set[str] | None = None) -> None:
        self.tenant = tenant
        self._customers = SqlCustomers(db, clock, tenant)
        self._prices = SqlPrices(db, clock, tenant)
        self._tax_rates = SqlTaxRates(db, clock, tenant)
        self._discount_codes = SqlDiscountCodes(db, clock, tenant)
        self._invoices = SqlInvoices(db, clock, tenant, dialect)
        self._events = SqlEvents(db, clock, tenant, dialect)
        self._deliveries = SqlDeliveries(db, clock, tenant, dialect)
        self._audit = SqlAudit(db, clock, tenant)
        self._routes = SqlRoutes(db, clock, tenant)
        self._chasing = SqlChasingSettings(db, clock, tenant)
        self._approvals = SqlApprovals(db, clock, tenant)
        self._subscriptions = SqlSubscriptions(db, clock, tenant)
        self._jobs = SqlJobOutbox(db, clock, tenant, lanes_touched if lanes_touched is not None else set(), dialect)

    @property
    def customers(self) -> SqlCustomers:
        return self._customers

    @property
    def prices(self) -> SqlPrices:
        return self._prices

    @property
    def tax_rates(self) -> SqlTaxRates:
        return self._tax_rates

    @property
    def discount_codes(self) -> SqlDiscountCodes:
        return self._discount_codes

    @property
    def invoices(self) -> SqlInvoices:
        return self._invoices

    @property
    def events(self) -> SqlEvents:
        return self._events

    @property
    def deliveries(self) -> SqlDeliveries:
        return self._deliveries

    @property
    def audit(self) -> SqlAudit:
        return self._audit

    @property
    def routes(self) -> SqlRoutes:
        return self._routes

    @property
    def chasing(self) -> SqlChasingSettings:
        return self._chasing

    @property
    def approvals(self) -> SqlApprovals:
        return self._approvals

    @property
    def subscriptions(self) -> SqlSubscriptions:
        return self._subscriptions

    @property
    def jobs(self) -> SqlJobOutbox:
        return self._jobs
