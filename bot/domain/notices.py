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
    # What the notice says beyond the invoice (mrkdwn, escaped), when not the thread's line: a credit note's
    # number and amount (its thread line may be the job's that issued it).
    notice_text: str | None = None

    def to_json(self) -> str:
        # Not dataclasses.asdict: its deep copy cost more than the rest of a decision (a backlog drains in batches).
        data: dict[str, Any] = {"invoice_id": self.invoice_id, "refresh": self.refresh,
                                "thread_text": self.thread_text, "notice": self.notice}
        if self.notice_text is not None:
            data["notice_text"] = self.notice_text
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> Outcome:
        data = json.loads(text)
        return cls(data.get("invoice_id"), bool(data.get("refresh")), data.get("thread_text"), data.get("notice"),
                   data.get("notice_text"))


NOTHING = Outcome(None, False, None, None)


def decide_invoice_event(kind: str, invoice: dict[str, Any], change: StateChange, *, currency: str,
                         failure_reason: str | None, first_overdue: bool) -> Outcome:
    """A status change is news whichever event brings it first (`invoice.updated` often beats
    `invoice.paid`); the other events of the same change then find nothing new to say."""
    texts: list[str] = []
    notice: str | None = None
    if change.status_changed:
        settled = not invoice.get("amount_paid") and invoice.get("pre_payment_credit_notes_amount")
        if change.status == "paid" and settled:
            texts.append(":receipt: Settled by credit notes: nothing is left to pay")  # no money came in: no notice
        elif change.status == "paid":
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



# --- credit notes (bot/services/credit_notes.py) ---------------------------------------------------------------
CREDIT_NOTE_EVENTS = ("credit_note.created", "credit_note.voided")
CREDIT_NOTICES = ("credited", "credit_voided")  # announced like NOTICE_KINDS, not counted among payments


def credit_note_invoice(credit_note: dict[str, Any]) -> str | None:
    """The invoice a credit note is on (an id, or an expanded object)."""
    invoice = credit_note.get("invoice")
    found = invoice.get("id") if isinstance(invoice, dict) else invoice
    return found if isinstance(found, str) and found else None


def made_by_invoicebot(credit_note: dict[str, Any]) -> bool:
    """Issued from Slack: the job that issued it put its line in the invoice's thread already."""
    metadata = credit_note.get("metadata")
    return isinstance(metadata, dict) and metadata.get("created_via") == "invoicebot"


def credit_note_effect(credit_note: dict[str, Any], currency: str) -> str:
    """Where a credit note's amount went, in words (escaped): off what was due, refunded, to the balance, outside."""
    def amount(minor: int) -> str:
        return escape(money.format_amount(minor, currency))

    pre = _integer(credit_note.get("pre_payment_amount"))
    post = _integer(credit_note.get("post_payment_amount"))
    refunds = credit_note.get("refunds")
    refunded = sum(_integer(refund.get("amount_refunded")) for refund in refunds or [] if isinstance(refund, dict)) \
        if isinstance(refunds, list) else 0
    outside = _integer(credit_note.get("out_of_band_amount"))
    balance = post - refunded - outside
    parts = []
    if pre:
        parts.append(f"{amount(pre)} off what is due")
    if refunded:
        parts.append(f"{amount(refunded)} refunded")
    if balance > 0:
        parts.append(f"{amount(balance)} to the customer's credit balance")
    if outside:
        parts.append(f"{amount(outside)} paid back outside Stripe")
    return ", ".join(parts)


def credit_note_line(credit_note: dict[str, Any], currency: str, *, by: str | None = None) -> str:
    """A credit note's line for a thread or a notice (mrkdwn, escaped): number, amount, effect, reason."""
    total = escape(money.format_amount(_integer(credit_note.get("total") or credit_note.get("amount")), currency))
    number = escape(str(credit_note.get("number") or credit_note.get("id") or "a credit note"))
    effect = credit_note_effect(credit_note, currency)
    reason = credit_note.get("reason")
    text = f":receipt: Credit note {number} for {total}" + (f" issued by <@{by}>" if by else "")
    if effect:
        text += f": {effect}"
    if isinstance(reason, str) and reason:
        text += f" (reason: {escape(reason.replace('_', ' '))})"
    return text


def decide_credit_note_event(kind: str, credit_note: dict[str, Any], *, currency: str, voided_since: bool) -> Outcome:
    """`credit_note.created` or `.voided`: the invoice's message shows what Stripe now counts (its own
    `invoice.updated` brings the amounts, in whichever order), its thread a line, the payments channel a notice.
    A note issued from Slack has its thread line already (the job that issued it); a `created` decided after the
    note's `voided` was stored is old news and says nothing (the void's line tells it all)."""
    invoice_id = credit_note_invoice(credit_note)
    if invoice_id is None:
        return NOTHING
    if kind == "credit_note.voided":
        total = escape(money.format_amount(_integer(credit_note.get("total") or credit_note.get("amount")), currency))
        number = escape(str(credit_note.get("number") or credit_note.get("id") or "a credit note"))
        text = f":wastebasket: Credit note {number} ({total}) voided: what it credited is due again"
        return Outcome(invoice_id, True, text, "credit_voided", text)
    if voided_since:
        return Outcome(invoice_id, True, None, None)
    text = credit_note_line(credit_note, currency)
    return Outcome(invoice_id, True, None if made_by_invoicebot(credit_note) else text, "credited", text)


def _integer(value: object) -> int:
    return value if type(value) is int else 0
