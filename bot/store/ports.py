"""What the bot needs from a database: repositories per aggregate behind a unit of work.

`Store.unit_of_work()` is one write transaction: every state change and the jobs it queues
(`uow.jobs`, an outbox) commit together or not at all. `Store.reads` answers one query at a time
from a connection of its own, so reads never wait behind a writer. Records come back typed
(`bot.domain`); no JSON strings or engine-specific values leave the store. `Store.pace()` and
`Store.leases` are what processes on one database share outside any unit of work: Slack's pace per
channel, and what only one of them may do at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Protocol

from bot.domain.invoices import Invoice, InvoiceLine, InvoiceSnapshot, StateChange
from bot.domain.records import (
    AuditEntry,
    CurrencyTotals,
    Customer,
    Delivery,
    EventSeen,
    Lease,
    Price,
    Route,
    StripeEvent,
    Visibility,
)
from bot.jobs.model import JobPayload
from bot.jobs.ports import JobQueue
from bot.store.scope import TenantScope


class CustomerReads(Protocol):
    def get(self, stripe_id: str) -> Customer | None: ...
    def by_email(self, email: str) -> Customer | None: ...
    def search(self, text: str, limit: int = 20) -> list[Customer]: ...


class Customers(CustomerReads, Protocol):
    def save(self, stripe_id: str, email: str, name: str) -> None: ...
    def forget_unseen(self, since: float) -> int: ...


class PriceReads(Protocol):
    def get(self, stripe_id: str) -> Price | None: ...
    def search(self, text: str, limit: int = 20) -> list[Price]: ...


class Prices(PriceReads, Protocol):
    def save(self, price: Price) -> None: ...
    def retire_unseen(self, since: float) -> int: ...


class InvoiceReads(Protocol):
    def made_in_slack(self, stripe_ids: Sequence[str]) -> set[str]:
        """Which of these invoices the bot made for a rep (one indexed look-up for many)."""
        ...

    def get(self, stripe_id: str) -> Invoice | None: ...
    def get_many(self, stripe_ids: Sequence[str], *, for_update: bool = False) -> dict[str, Invoice]:
        """The stored ones of these invoices, by id: one query for a batch of events; `for_update`
        (in a unit of work) locks them until it ends."""
        ...

    def by_view(self, view_id: str) -> Invoice | None: ...
    def find(self, number_or_id: str) -> Invoice | None: ...
    def search(self, status: str | None = None, text: str | None = None, limit: int = 20, offset: int = 0,
               now: float | None = None, visible: Visibility | None = None) -> list[Invoice]:
        """Newest first; with `visible`, only what that person may see (None: everything)."""
        ...

    def of_rep(self, user_id: str, limit: int = 10) -> list[Invoice]: ...
    def channels(self) -> list[str]: ...
    def totals(self, now: float | None = None, visible: Visibility | None = None) -> list[CurrencyTotals]: ...
    def overdue_unannounced(self, now: float | None = None, limit: int = 500) -> list[Invoice]: ...


class Invoices(InvoiceReads, Protocol):
    def add_own(self, snapshot: InvoiceSnapshot, *, channel_id: str, rep_user_id: str, team_id: str,
                view_id: str) -> None:
        """An invoice the bot just created for a rep (what only the bot knows: rep, channel, modal)."""
        ...

    def apply(self, snapshot: InvoiceSnapshot, at: int, held: Invoice | None = None) -> StateChange:
        """Apply a snapshot taken at `at` unless the row already knows a later state; unknown
        invoices are added, so later events and commands find them. `held`: the row as this unit
        of work read it with a lock (`get_many(for_update=True)`), so it need not be read again."""
        ...

    def set_lines(self, stripe_id: str, lines: tuple[InvoiceLine, ...]) -> None: ...
    def set_message(self, stripe_id: str, channel_id: str, message_ts: str) -> None: ...
    def mark_reminded(self, stripe_id: str, at: float) -> None: ...
    def mark_overdue_once(self, stripe_id: str, at: float) -> bool:
        """True only for the first caller: the overdue notice goes out once per invoice."""
        ...


class EventReads(Protocol):
    def get(self, event_id: str) -> StripeEvent | None: ...
    def get_many(self, event_ids: Sequence[str], *, for_decision: bool = False) -> list[StripeEvent]:
        """Oldest first; `for_decision` (in a unit of work) locks them for this decision."""
        ...

    def needing(self, event_ids: Sequence[str], types: Sequence[str]) -> list[EventSeen]:
        """The undecided ones of `types`, without their payloads."""
        ...

    def for_invoice(self, invoice_id: str) -> list[EventSeen]: ...


class Events(EventReads, Protocol):
    def get_for_decision(self, event_id: str) -> StripeEvent | None:
        """The event, locked for this unit of work: concurrent deciders of one event take turns."""
        ...

    def record(self, event: dict[str, Any], raw: str) -> bool:
        """Store a webhook event once by id; False when it was already stored."""
        ...

    def record_many(self, events: Sequence[tuple[dict[str, Any], str]]) -> list[bool]:
        """`record` for many (a group commit): which were new, in order."""
        ...

    def decide(self, event_id: str, outcome: str) -> None: ...

    def prune_decided(self, older_than: float, limit: int) -> int:
        """Forget up to `limit` events received and decided over `older_than` seconds ago (never an
        undecided one); how many went. Until then a redelivery of the event is a duplicate."""
        ...


class DeliveryReads(Protocol):
    def get(self, key: str) -> Delivery | None: ...


class Deliveries(DeliveryReads, Protocol):
    def begin(self, key: str, channel: str, thread_ts: str | None) -> Delivery | None:
        """Record the intent to post; returns the earlier record when there was one."""
        ...

    def finish(self, key: str, ts: str) -> None: ...

    def prune_sent(self, older_than: float, limit: int) -> int:
        """Forget up to `limit` posts begun over `older_than` seconds ago and known to be sent (never
        one still `sending`, nor one whose job is unfinished); how many went."""
        ...


class AuditReads(Protocol):
    def for_invoice(self, invoice_id: str) -> list[AuditEntry]: ...


class Audit(AuditReads, Protocol):
    def add(self, actor: str, action: str, invoice_id: str | None, stripe_ids: dict[str, Any],
            detail: dict[str, Any]) -> None: ...


class RouteReads(Protocol):
    def lookup(self, kind: str, key: str) -> str | None: ...
    def all(self) -> list[Route]: ...


class Routes(RouteReads, Protocol):
    def set(self, kind: str, key: str, channel_id: str, set_by: str) -> None: ...


class JobOutbox(Protocol):
    def add(self, payload: JobPayload, key: str, *, delay: float = 0.0, channel: str | None = None) -> bool:
        """Queue a job once per key, committed with the unit of work; False when the key exists."""
        ...

    def add_many(self, jobs: Sequence[tuple[JobPayload, str]]) -> None:
        """Queue many jobs (each once per key) in one statement."""
        ...

    def prune_finished(self, older_than: float, limit: int) -> int:
        """Delete up to `limit` jobs done or failed over `older_than` seconds ago (never a pending or
        running one); how many went. A pruned job's key may be queued again."""
        ...


class ChannelPace(Protocol):
    """When each channel may next receive a post, kept in the database: every process and replica
    on it keeps one pace per channel (Slack's limit is per channel, whoever posts)."""

    def claim(self, channel: str) -> float:
        """Take the channel's next slot now (0.0), or say how many seconds until it is free."""
        ...

    def reserve(self, channel: str, extra: float = 0.0) -> None:
        """Nobody posts in `channel` for `interval + extra` seconds from now (after a post, or a
        Retry-After); never brings a later slot earlier."""
        ...


class Leases(Protocol):
    """What one process at a time may do, by name: held by a token until it expires unless renewed."""

    def acquire(self, name: str, token: str, holder: str, ttl: float) -> Lease:
        """Take the lease when it is free, expired or already `token`'s; the lease as it stands
        after (ours when its token is `token`, otherwise its live holder's)."""
        ...

    def renew(self, name: str, token: str, ttl: float) -> bool:
        """Hold on for `ttl` more seconds; False when the lease is no longer `token`'s."""
        ...

    def release(self, name: str, token: str) -> None: ...


class Reads(Protocol):
    @property
    def customers(self) -> CustomerReads: ...
    @property
    def prices(self) -> PriceReads: ...
    @property
    def invoices(self) -> InvoiceReads: ...
    @property
    def events(self) -> EventReads: ...
    @property
    def deliveries(self) -> DeliveryReads: ...
    @property
    def audit(self) -> AuditReads: ...
    @property
    def routes(self) -> RouteReads: ...


class UnitOfWork(Protocol):
    """`with store.unit_of_work() as uow: ...; uow.commit()`; leaving without commit rolls back."""

    @property
    def customers(self) -> Customers: ...
    @property
    def prices(self) -> Prices: ...
    @property
    def invoices(self) -> Invoices: ...
    @property
    def events(self) -> Events: ...
    @property
    def deliveries(self) -> Deliveries: ...
    @property
    def audit(self) -> Audit: ...
    @property
    def routes(self) -> Routes: ...
    @property
    def jobs(self) -> JobOutbox: ...

    def commit(self) -> None: ...
    def __enter__(self) -> UnitOfWork: ...
    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None: ...


class Store(Protocol):
    """The whole database. Business data is reached only through a tenant: `reads(tenant)`,
    `unit_of_work(tenant)`, or `tenant(tenant)` (a `TenantScope`, what use cases hold). The job
    queue, leases and the tenant directory span tenants: each job names its own."""

    def reads(self, tenant: str) -> Reads: ...
    def tenant(self, tenant: str) -> TenantScope: ...

    @property
    def queue(self) -> JobQueue: ...

    @property
    def leases(self) -> Leases: ...

    def unit_of_work(self, tenant: str) -> UnitOfWork: ...

    def pace(self, interval: float, tenant: str) -> ChannelPace:
        """Slack's pace per channel of `tenant`, `interval` seconds between posts, shared through the database."""
        ...

    def on_commit(self, callback: Callable[[set[str]], None]) -> None:
        """Call `callback(lanes)` after each commit that queued jobs in those lanes (to wake workers)."""
        ...

    def ping(self) -> bool: ...
    def close(self) -> None: ...
