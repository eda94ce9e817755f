"""Recurring invoices: how often one repeats, and the bot's record of a Stripe subscription. Pure: no I/O.

A repeat is Stripe's `recurring` of a price: an interval and a count (`month` x 1, `month` x 3, `year` x 1),
written `month:1` in the store (the catalog cache's `prices.recurring`: `""` for a one-off price, NULL while not
yet known). A subscription made in Slack (`bot/services/recurring.py`) is kept with its rep, channel and
tenant, so each invoice it generates is treated like one made in Slack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The form's choices: its value -> (Stripe's interval, interval_count).
REPEATS: dict[str, tuple[str, int]] = {"month": ("month", 1), "quarter": ("month", 3), "year": ("year", 1)}
REPEAT_LABELS = {"month": "monthly", "quarter": "quarterly", "year": "yearly"}
NO_REPEAT = "none"
ONE_OFF = ""  # `prices.recurring` of a price known not to repeat


def recurring_text(recurring: Any) -> str:
    """Stripe's `recurring` of a price as the store keeps it: `month:1`, or `""` for a one-off price."""
    if not isinstance(recurring, dict) or not recurring.get("interval"):
        return ONE_OFF
    return f"{recurring['interval']}:{int(recurring.get('interval_count') or 1)}"


def repeat_text(repeat: str) -> str:
    """`month:3` for the form's `quarter`."""
    interval, count = REPEATS[repeat]
    return f"{interval}:{count}"


def describe(recurring: str | None) -> str:
    """`month:3` -> "quarterly", `week:2` -> "every 2 weeks"; "once" for a one-off price."""
    if not recurring:
        return "once"
    for repeat, (interval, count) in REPEATS.items():
        if recurring == f"{interval}:{count}":
            return REPEAT_LABELS[repeat]
    unit, _, times = recurring.partition(":")
    return f"every {times} {unit}s" if times not in ("", "1") else f"every {unit}"


def line_problem(repeat: str, price_recurring: str | None) -> str | None:
    """Why a catalog price cannot be a line of an invoice that repeats `repeat` (NO_REPEAT: a one-off invoice),
    or None. `price_recurring` is the cached `prices.recurring`: None (not known yet) is left to Stripe's own
    check, which the job makes before creating anything."""
    if price_recurring is None:
        return None
    if repeat == NO_REPEAT:
        if price_recurring:
            return (f"This price repeats ({describe(price_recurring)}): choose it with Repeat "
                    f"{describe(price_recurring)}, or pick a one-off price")
        return None
    if not price_recurring:
        return (f"This catalog price is one-off, so it can't repeat {REPEAT_LABELS[repeat]}: type the line's "
                "description and amount instead, or pick a price that repeats")
    if price_recurring != repeat_text(repeat):
        return (f"This price repeats {describe(price_recurring)}, the invoice {REPEAT_LABELS[repeat]}: pick a "
                f"{REPEAT_LABELS[repeat]} price, or type the line's description and amount")
    return None


ACTIVE_STATUSES = ("active", "past_due", "unpaid", "incomplete", "trialing", "paused")


@dataclass(frozen=True)
class Subscription:
    """A Stripe subscription made in Slack: who made it, where its invoices are posted, what it bills."""

    stripe_id: str
    view_id: str
    rep_user_id: str
    channel_id: str
    team_id: str
    customer_id: str
    customer_label: str
    repeat_every: str  # "month:1"
    currency: str
    amount: int  # each period's total, minor units
    summary: str  # the lines, as the rep typed them
    status: str  # Stripe's: active, canceled...
    cancel_at_period_end: bool = False
    current_period_end: int | None = None
    canceled_by: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def label(self) -> str:
        return describe(self.repeat_every)


def subscription_of_invoice(invoice: dict[str, Any]) -> str | None:
    """The subscription that generated a Stripe invoice: `parent.subscription_details.subscription` (the
    current API), or the older top-level `subscription`."""
    parent = invoice.get("parent")
    details = parent.get("subscription_details") if isinstance(parent, dict) else None
    found = details.get("subscription") if isinstance(details, dict) else None
    found = found or invoice.get("subscription")
    if isinstance(found, dict):
        found = found.get("id")
    return found if isinstance(found, str) and found else None


def period_end(subscription: dict[str, Any]) -> int | None:
    """When the current period ends: its items' `current_period_end` (the current API) or its own (older ones)."""
    items = (subscription.get("items") or {}).get("data") or []
    ends = [int(item["current_period_end"]) for item in items
            if isinstance(item, dict) and isinstance(item.get("current_period_end"), int)]
    if ends:
        return min(ends)
    own = subscription.get("current_period_end")
    return int(own) if isinstance(own, int) else None
