"""Typed records the store returns: JSON decoded, times as float epoch seconds (UTC)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Customer:
    stripe_id: str
    email: str
    name: str

    @property
    def label(self) -> str:
        return self.name or self.email or self.stripe_id


@dataclass(frozen=True)
class Price:
    stripe_id: str
    product_id: str
    product_name: str
    unit_amount: int
    currency: str
    active: bool = True
    # Stripe's `recurring` (bot/domain/recurring.py): "month:1"..., "" one-off, None not known yet.
    recurring: str | None = None


@dataclass(frozen=True)
class StripeEvent:
    id: str
    type: str
    created: int
    object_id: str | None
    payload: dict[str, Any]
    outcome: str | None = None
    received_at: float = 0.0
    processed_at: float | None = None

    @property
    def data_object(self) -> dict[str, Any]:
        return dict((self.payload.get("data") or {}).get("object") or {})


@dataclass(frozen=True)
class EventSeen:
    """What is known of an event without its payload."""

    type: str
    created: int
    id: str = ""
    object_id: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    at: float
    actor: str
    action: str
    invoice_id: str | None
    stripe_ids: dict[str, Any] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    kind: str  # "customer" (key: email or cus_ id) or "rep" (key: user id)
    key: str
    channel_id: str
    set_by: str
    at: float


@dataclass(frozen=True)
class Delivery:
    """A Slack message the bot means to post once: recorded before the post, completed with its ts."""

    key: str
    channel: str
    thread_ts: str | None
    ts: str | None
    started_at: float

    @property
    def sent(self) -> bool:
        return self.ts is not None


@dataclass(frozen=True)
class Visibility:
    """The part of the invoices one person may see: their own, and those posted in `channels`."""

    user_id: str
    channels: frozenset[str]
    nothing: bool = False  # a guest or an outsider named in no list


@dataclass(frozen=True)
class CurrencyTotals:
    currency: str
    open_total: int
    open_count: int
    overdue_total: int
    overdue_count: int
    paid_month: int


@dataclass(frozen=True)
class Lease:
    """Who holds something only one process may do at a time, until when (the database's clock)."""

    name: str
    token: str  # the holder's secret: only it renews or releases the lease
    holder: str  # for people: which process (host and pid)
    since: float
    expires_at: float
