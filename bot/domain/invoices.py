"""An invoice as the bot knows it, and the rule for how its state may change.

Stripe is the source of truth; the bot keeps a copy (`Invoice`) that it updates from snapshots
(`InvoiceSnapshot`) taken from Stripe's invoice objects, by API answer or webhook. Snapshots
arrive out of order, so a snapshot is applied only when it does not move the state backwards
(`supersedes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bot.domain.chasing import ChaseState, chase_marks

# Invoice statuses only move forward. Stripe lets an uncollectible invoice still be paid or voided.
STATUS_RANK = {"draft": 0, "open": 1, "uncollectible": 2, "paid": 3, "void": 3, "deleted": 3}
MAX_INVOICE_LINES = 250  # Stripe's limit on an invoice's lines


def supersedes(new_status: str, new_at: int, old_status: str, old_at: int) -> bool:
    """May a snapshot taken at `new_at` replace the state known from `old_at`?

    Status only moves forward (draft < open < uncollectible < paid | void); within one status the
    newest snapshot wins, so a late `invoice.finalized` never turns a paid invoice back to open.
    Of two final states (paid, void) the first one known stays.
    """
    new_rank, old_rank = STATUS_RANK.get(new_status, 0), STATUS_RANK.get(old_status, 0)
    if new_rank != old_rank:
        return new_rank > old_rank
    return new_status == old_status and new_at >= old_at


@dataclass(frozen=True)
class InvoiceLine:
    description: str | None
    quantity: int
    amount: int  # the line's total in minor units

    def to_dict(self) -> dict[str, Any]:
        return {"description": self.description, "quantity": self.quantity, "amount": self.amount}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InvoiceLine:
        return cls(data.get("description"), int(data.get("quantity") or 1), int(data.get("amount") or 0))


@dataclass(frozen=True)
class InvoiceSnapshot:
    """What Stripe said of an invoice at one moment."""

    stripe_id: str
    status: str
    currency: str
    number: str | None = None
    total: int = 0
    amount_paid: int = 0
    amount_remaining: int = 0
    due_date: int | None = None
    hosted_url: str | None = None
    customer_id: str | None = None
    customer_name: str | None = None  # None: keep what is known
    customer_email: str | None = None
    lines: tuple[InvoiceLine, ...] | None = None  # None: keep the lines already known
    # Its chasing as Stripe's metadata keeps it (bot/domain/chasing.py); None: not a whole Stripe object.
    chase_marks: Mapping[str, str] | None = None
    # What credit notes took off it: Stripe's `pre_payment_credit_notes_amount` (off what was due) and
    # `post_payment_credit_notes_amount` (refunded, credited to the customer's balance or outside Stripe).
    credited_before_payment: int = 0
    credited_after_payment: int = 0
    pdf_url: str | None = None  # Stripe's `invoice_pdf` (a finalized invoice's)

    def with_status(self, status: str) -> InvoiceSnapshot:
        return replace(self, status=status)

    def with_lines(self, lines: tuple[InvoiceLine, ...] | None) -> InvoiceSnapshot:
        return replace(self, lines=lines)

    def with_customer(self, name: str | None, email: str | None) -> InvoiceSnapshot:
        return replace(self, customer_name=name, customer_email=email)

    def keeping_lines_of(self, known: Invoice | None) -> InvoiceSnapshot:
        """Lines already recorded are kept: for the bot's own invoices they hold the rep's words,
        which Stripe's line objects do not repeat for catalog prices."""
        return self.with_lines(None) if known is not None and known.lines else self


def snapshot_from_stripe(invoice: Mapping[str, Any]) -> InvoiceSnapshot:
    """The fields the bot keeps of a Stripe invoice object (an API answer or an event's object)."""
    customer = invoice.get("customer")
    customer_id = customer.get("id") if isinstance(customer, dict) else customer
    name, email = invoice.get("customer_name"), invoice.get("customer_email")
    if isinstance(customer, dict) and not (name or email):  # expanded customer
        name, email = customer.get("name"), customer.get("email")
    raw_lines = (invoice.get("lines") or {}).get("data")
    lines = None if raw_lines is None else tuple(
        InvoiceLine(line.get("description"), int(line.get("quantity") or 1), int(line.get("amount") or 0))
        for line in raw_lines)
    return InvoiceSnapshot(
        stripe_id=str(invoice["id"]),
        status=str(invoice.get("status") or "draft"),
        currency=str(invoice["currency"]),
        number=invoice.get("number"),
        total=int(invoice.get("total") or 0),
        amount_paid=int(invoice.get("amount_paid") or 0),
        amount_remaining=int(invoice.get("amount_remaining") or 0),
        credited_before_payment=int(invoice.get("pre_payment_credit_notes_amount") or 0),
        credited_after_payment=int(invoice.get("post_payment_credit_notes_amount") or 0),
        due_date=invoice.get("due_date"),
        hosted_url=invoice.get("hosted_invoice_url"),
        pdf_url=invoice.get("invoice_pdf"),
        customer_id=customer_id,
        customer_name=name or None,
        customer_email=email or None,
        lines=lines,
        chase_marks=chase_marks(invoice.get("metadata")) if "metadata" in invoice else None,
    )


@dataclass(frozen=True)
class StateChange:
    applied: bool
    previous_status: str | None
    status: str

    @property
    def status_changed(self) -> bool:
        return self.applied and self.previous_status != self.status


@dataclass(frozen=True)
class Invoice:
    """The bot's copy of an invoice, with what only the bot knows (its message, its rep)."""

    stripe_id: str
    status: str
    currency: str
    number: str | None = None
    total: int = 0
    amount_paid: int = 0
    amount_remaining: int = 0
    due_date: int | None = None
    hosted_url: str | None = None
    customer_id: str | None = None
    customer_name: str | None = None
    customer_email: str | None = None
    lines: tuple[InvoiceLine, ...] = ()
    channel_id: str | None = None
    message_ts: str | None = None
    rep_user_id: str | None = None
    team_id: str | None = None
    view_id: str | None = None
    state_at: int = 0
    last_reminded_at: float | None = None
    overdue_notified_at: float | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    chase: ChaseState = field(default_factory=ChaseState)  # promise, dispute, its own cadence (bot/domain/chasing.py)
    # Above APPROVAL_LIMITS: "pending" (held as a draft for an approver), "approved" or "rejected";
    # None when no approval was asked (bot/domain/approvals.py).
    approval: str | None = None
    # Credit notes (bot/services/credit_notes.py), as Stripe counts them on the invoice: see InvoiceSnapshot.
    credited_before_payment: int = 0
    credited_after_payment: int = 0
    pdf_url: str | None = None  # Stripe's `invoice_pdf`: linked from its message beside the hosted page

    @property
    def title(self) -> str:
        return f"Invoice {self.number or 'draft'}"

    @property
    def has_message(self) -> bool:
        return bool(self.channel_id and self.message_ts)

    @property
    def made_in_slack(self) -> bool:
        """Created through the bot (it has a rep), as opposed to the Dashboard or the API."""
        return bool(self.rep_user_id)

    @property
    def credited(self) -> int:
        """What its issued credit notes took off it, in all."""
        return self.credited_before_payment + self.credited_after_payment

    @property
    def creditable(self) -> int:
        """What a credit note may still take (Stripe's rule): what is still due, plus what was paid and not
        credited already; never more than what was paid or is due."""
        return max(0, self.amount_remaining + self.amount_paid - self.credited_after_payment)

    @property
    def customer_label(self) -> str | None:
        return self.customer_name or self.customer_email

    def is_overdue(self, now: float) -> bool:
        return self.status == "open" and bool(self.due_date) and (self.due_date or 0) < now


def snapshot_of(invoice: Invoice) -> InvoiceSnapshot:
    """The Stripe-side fields of a known invoice, to apply a change the bot itself made."""
    return InvoiceSnapshot(
        stripe_id=invoice.stripe_id, status=invoice.status, currency=invoice.currency, number=invoice.number,
        total=invoice.total, amount_paid=invoice.amount_paid, amount_remaining=invoice.amount_remaining,
        due_date=invoice.due_date, hosted_url=invoice.hosted_url, customer_id=invoice.customer_id,
        credited_before_payment=invoice.credited_before_payment, credited_after_payment=invoice.credited_after_payment,
        pdf_url=invoice.pdf_url,
    )
