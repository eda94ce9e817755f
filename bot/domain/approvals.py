"""Approval above a limit: which invoices wait for an approver before they are sent, and the record
of each request and its decision.

`APPROVAL_LIMITS` names a limit per currency in major units, as people write amounts
(`usd:5000,eur:4500.50`); it is kept in minor units (`bot.money`). An invoice whose total is above
its currency's limit is created as a draft and waits; a currency without a limit never waits.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from bot import money

PENDING = "pending"
APPROVED = "approved"
REJECTED = "rejected"
DECISIONS = (APPROVED, REJECTED)

MAX_REASON = 500
# Bidi embeddings, overrides and isolates reorder how text displays (as in `bot.forms`).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def parse_limits(text: str) -> dict[str, int]:
    """`usd:5000,eur:4,500.50` -> {"usd": 500000, "eur": 450050}: each currency's limit in minor units.

    Items are separated by commas; a comma inside an amount (thousands) stays with its amount. Raises
    ValueError saying which item is wrong and how: not `currency:amount`, a currency Stripe does not
    support, an amount that is not one (`bot.money.parse_amount`'s words), or a currency named twice.
    A limit of 0 holds every invoice in that currency."""
    items: list[str] = []
    for piece in text.split(","):
        if ":" in piece or not items:
            items.append(piece)
        else:  # "usd:5,000" split inside its amount: the thousands belong to the item before
            items[-1] += "," + piece
    limits: dict[str, int] = {}
    for item in (item.strip() for item in items):
        if not item:
            continue
        code, colon, amount = item.partition(":")
        code, amount = code.strip(), amount.strip()
        if not colon or not code or not amount:
            raise ValueError(f"{item!r} is not currency:amount, like usd:5000")
        if not money.is_supported(code):
            raise ValueError(f"{item!r}: {code.upper()} is not a currency Stripe supports "
                             "(use its 3-letter code, like usd)")
        code = code.lower()
        if code in limits:
            raise ValueError(f"names {code.upper()} twice")
        if amount.isascii() and amount.isdigit() and int(amount) == 0:
            limits[code] = 0
            continue
        try:
            limits[code] = money.parse_amount(amount, code, max_integer_digits=12)
        except money.AmountError as error:
            raise ValueError(f"{item!r}: {error}") from None
    return limits


def limit_exceeded(total: int, currency: str, limits: Mapping[str, int]) -> int | None:
    """The limit an invoice of `total` (minor units) in `currency` is above, or None when it may go out."""
    limit = limits.get(currency.lower())
    return limit if limit is not None and total > limit else None


def reason_problem(reason: str | None) -> str | None:
    """What is wrong with a rejection's reason (shown under its field), or None. The rep reads it."""
    text = (reason or "").strip()
    if not text:
        return "Say why, so the rep knows what to change."
    if len(text) > MAX_REASON:
        return f"At most {MAX_REASON} characters."
    for char in text:
        if char in "\n\t":
            continue
        if unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") or char in _BIDI_CONTROLS:
            return f"Remove the invisible character U+{ord(char):04X}; type plain text."
    return None


@dataclass(frozen=True)
class Approval:
    """One invoice's request for approval, and its decision once made (the first one counts).

    `key_base` is what the held path's Stripe idempotency keys derive from (the form's view id, or the
    invoice id for a draft's Send button), so the approval finalizes and sends with the very keys the
    direct path would have used."""

    invoice_id: str
    status: str
    requested_by: str
    key_base: str
    total: int
    currency: str
    limit: int
    channel_id: str | None = None
    view_id: str | None = None
    decided_by: str | None = None
    decided_at: float | None = None
    reason: str | None = None
    messages: tuple[tuple[str, str], ...] = ()  # (channel, ts) of each request posted to approvers
    created_at: float = 0.0

    @property
    def pending(self) -> bool:
        return self.status == PENDING
