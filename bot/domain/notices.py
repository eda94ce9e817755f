"""What a Stripe event means for Slack, decided once per event. Pure: no I/O.

The decision is stored with the event (`Outcome.to_json`), so a retry after a crash never decides
differently; the Slack messages it calls for are queued in the same transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot import money
from bot.domain.invoices import StateChange
from bot.mrkdwn import escape

NOTICE_KINDS = ("paid", "failed", "processing", "overdue")
STATUS_TEXT = {
    "void": ":no_entry_sign: Voided",
    "uncollectible": ":warning: Marked uncollectible",
    "deleted": ":wastebasket: Draft deleted",
}
OVERDUE_TEXT = ":alarm_clock: Overdue"
PROCESSING_TEXT = ":hourglass_flowing_sand: Payment processing (bank debit)"


@dataclass(frozen=True)
class Outcome:
    invoice_id: str | None
    refresh: bool  # the invoice's own message should show the new state
    thread_text: str | None  # a line for the invoice's thread (mrkdwn, already escaped)
    notice: str | None  # one of NOTICE_KINDS: a notice for the payments channel

    def to_json(self) -> str:
        # Not dataclasses.asdict: its deep copy cost more than the rest of a decision (a backlog drains in batches).
        return json.dumps({"invoice_id": self.invoice_id, "refresh": self.refresh, "thread_text": self.thread_text,
                           "notice": self.notice})

    @classmethod
    def from_json(cls, text: str) -> Outcome:
        data = json.loads(text)
        return cls(data.get("invoice_id"), bool(data.get("refresh")), data.get("thread_text"), data.get("notice"))


NOTHING = Outcome(None, False, None, None)


def decide_invoice_event(kind: str, invoice: dict[str, Any], change: StateChange, *, currency: str,
                         failure_reason: str | None, first_overdue: bool) -> Outcome:
    """A status change is news whichever event brings it first (`invoice.updated` often beats
    `invoice.paid`); the other events of the same change then find nothing new to say."""
    texts: list[str] = []
    notice: str | None = None
    if change.status_changed:
        if change.status == "paid":
            amount = money.format_amount(invoice.get("amount_paid") or invoice.get("total") or 0, currency)
            texts.append(f":white_check_mark: Paid {amount}")
            notice = "paid"
        elif change.status == "open" and change.previous_status == "draft":
            texts.append(f"Finalized as {escape(invoice.get('number')) or 'an open invoice'}")
        elif change.status in STATUS_TEXT:
            texts.append(STATUS_TEXT[change.status])
    if kind == "invoice.sent":
        texts.append(":email: Emailed to the customer by Stripe")
    elif kind == "invoice.payment_failed":
        reason = escape((failure_reason or "the payment method was declined").replace("_", " "))
        texts.append(f":x: Payment failed: {reason}. Stripe emailed the customer.")
        notice = "failed"
    elif kind == "invoice.overdue" and first_overdue:
        texts.append(OVERDUE_TEXT)
        notice = "overdue"
    return Outcome(str(invoice["id"]), change.applied, "\n".join(texts) or None, notice)


def decide_processing(invoice_id: str | None, known: bool) -> Outcome:
    if not (invoice_id and known):
        return NOTHING
    return Outcome(invoice_id, False, PROCESSING_TEXT, "processing")


def overdue_outcome(invoice_id: str) -> Outcome:
    return Outcome(invoice_id, False, OVERDUE_TEXT, "overdue")

