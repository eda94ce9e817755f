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

from bot.domain.approvals import Approval
from bot.domain.chasing import ChaseState
from bot.domain.invoices import Invoice, InvoiceLine, InvoiceSnapshot, StateChange
from bot.domain.receivables import Aging, Receivable
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
from bot.domain.tenants import Installation, OneTimeLink, StripeConnection, Tenant, TenantSettings
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

    def to_chase(self, limit: int = 5000) -> list[Invoice]:
        """Open invoices made in Slack that have a due date: what chasing looks at (bot/services/chasing.py)."""
        ...

    # The receivables digest's and App Home's figures (bot/domain/receivables.py).
    def receivables(self, visible: Visibility | None = None) -> list[Receivable]:
        """Every open invoice (of what `visible` may see), without its lines."""
        ...

    def aging(self, now: float, visible: Visibility | None = None) -> list[Aging]: ...

    def invoiced_by_period(self, bounds: Sequence[tuple[float, float, int]]) -> dict[str, list[int]]:
        """Per currency, what issued invoices made in each [start, end) of `bounds` totalled."""
        ...

    def collected_between(self, since: float, until: float) -> dict[str, int]: ...


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
    def set_chasing(self, stripe_id: str, state: ChaseState, at: float) -> None:
        """The invoice's chasing as the bot changed it at `at` (Stripe's metadata no longer replaces it)."""
        ...

    def claim_reminder(self, stripe_id: str, claim: str, at: float, interval: float) -> bool:
        """Take the invoice's reminder for `claim` (a job's key): True when none went out in the `interval`
        before `at`, or when `claim` took it already (the same job, run again); `last_reminded_at` is `at`."""
        ...
    def mark_overdue_once(self, stripe_id: str, at: float) -> bool:
        """True only for the first caller: the overdue notice goes out once per invoice."""
        ...

    def date_created(self, stripe_id: str, created: float) -> None:
        """Date an invoice the bot learned of late as Stripe made it (never later than it was)."""
        ...

    def set_approval(self, stripe_id: str, approval: str) -> None:
        """Where the invoice stands with its approval (`bot.domain.approvals`): what its message shows."""
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


class ApprovalReads(Protocol):
    def get(self, invoice_id: str) -> Approval | None: ...


class Approvals(ApprovalReads, Protocol):
    def request(self, approval: Approval) -> bool:
        """Record a pending request once per invoice; False when the invoice already has one."""
        ...

    def decide(self, invoice_id: str, status: str, decided_by: str, reason: str | None = None) -> bool:
        """Decide a pending request; False when it was decided already (the first decision counts)."""
        ...

    def set_messages(self, invoice_id: str, messages: Sequence[tuple[str, str]]) -> None: ...


class ChasingSettingsReads(Protocol):
    def cadence(self) -> tuple[int, ...] | None:
        """The workspace's cadence as set with `/invoice chasing`; None: the default."""
        ...


class ChasingSettings(ChasingSettingsReads, Protocol):
    def set_cadence(self, days: tuple[int, ...] | None, set_by: str) -> None:
        """None: back to the default."""
        ...


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


class Directory(Protocol):
    """The installed workspaces, across tenants: what a request, an event or a job is resolved by.
    Holds sealed secrets only (`bot.secrets.SecretBox` seals and opens them)."""

    def get(self, tenant_id: str) -> Tenant | None: ...
    def by_team(self, team_id: str) -> Tenant | None: ...
    def by_public_id(self, public_id: str) -> Tenant | None: ...
    def active(self) -> list[str]: ...
    def save_settings(self, tenant_id: str, settings: TenantSettings) -> None: ...

    def save_installation(self, *, team_id: str, enterprise_id: str | None, team_name: str, app_id: str | None,
                          bot_user_id: str, bot_id: str | None, bot_scopes: str, installer_user_id: str,
                          seal_token: Callable[[str], str]) -> Tenant: ...

    def installation(self, tenant_id: str) -> Installation | None: ...

    def uninstall(self, tenant_id: str) -> StripeConnection | None:
        """Erase the installation and Stripe secrets, drop pending jobs; the Stripe connection it had."""
        ...

    def stripe(self, tenant_id: str) -> StripeConnection | None: ...
    def save_stripe(self, connection: StripeConnection) -> None: ...
    def remove_stripe(self, tenant_id: str) -> StripeConnection | None: ...
    def pause_stripe(self, tenant_id: str) -> bool: ...
    def add_state(self, state: str, expires_at: float) -> None: ...
    def take_state(self, state: str) -> bool: ...
    def add_link(self, token_hash: str, tenant_id: str, user_id: str, purpose: str, expires_at: float) -> None: ...
    def link(self, token_hash: str) -> OneTimeLink | None: ...
    def use_link(self, token_hash: str) -> bool: ...
    def sealed(self) -> list[tuple[str, str, str, str, str]]: ...
    def reseal(self, table: str, column: str, tenant_id: str, old: str, new: str) -> bool: ...


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
    @property
    def chasing(self) -> ChasingSettingsReads: ...
    @property
    def approvals(self) -> ApprovalReads: ...


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
    def chasing(self) -> ChasingSettings: ...
    @property
    def approvals(self) -> Approvals: ...
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

    @property
    def directory(self) -> Directory: ...

    def unit_of_work(self, tenant: str) -> UnitOfWork: ...

    def pace(self, interval: float, tenant: str) -> ChannelPace:
        """Slack's pace per channel of `tenant`, `interval` seconds between posts, shared through the database."""
        ...

    def on_commit(self, callback: Callable[[set[str]], None]) -> None:
        """Call `callback(lanes)` after each commit that queued jobs in those lanes (to wake workers)."""
        ...

    def ping(self) -> bool: ...
    def close(self) -> None: ...
