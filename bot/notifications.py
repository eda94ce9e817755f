"""From a stored Stripe event to the invoice's new state and the Slack messages it deserves.

Processing an event decides, once, what changed (the decision is stored with the event, so a
retry after a crash decides the same) and queues each Slack message as its own job with a key
derived from the event, so every message goes out once even if the worker dies half-way.
Channel notices are paced per channel; when more wait than the pace can post promptly they are
folded into one digest that still names every invoice.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from bot import blocks, money
from bot.delivery import SlackFailure, SlackOut
from bot.invoicing import InvoicingService, invoice_row
from bot.queue import GiveUp, RetryLater
from bot.store import Job, SqliteStore, StateChange

logger = logging.getLogger(__name__)

POST_INTERVAL = 1.0  # Slack allows about one chat.postMessage per second per channel
DIGEST_THRESHOLD = 3  # more notices than this waiting for one channel become a digest
DIGEST_MAX_ITEMS = 250
NOTICE_KINDS = ("paid", "failed", "processing", "overdue", "foreign")

THREAD_TEXT = {
    "invoice.finalized": "Finalized as {number}",
    "invoice.sent": ":email: Emailed to the customer by Stripe",
    "invoice.voided": ":no_entry_sign: Voided",
    "invoice.marked_uncollectible": ":warning: Marked uncollectible",
}


@dataclass(frozen=True)
class Outcome:
    """What an event means for Slack, decided once per event."""

    invoice_id: str | None
    refresh: bool
    thread_text: str | None
    notice: str | None  # one of NOTICE_KINDS

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: str) -> Outcome:
        return cls(**json.loads(text))


class ChannelPacer:
    """Remembers when each channel may next receive a post from this process."""

    def __init__(self, interval: float = POST_INTERVAL) -> None:
        self.interval = interval
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait_time(self, channel: str) -> float:
        with self._lock:
            return max(0.0, self._next.get(channel, 0.0) - time.monotonic())

    def reserve(self, channel: str, extra: float = 0.0) -> None:
        with self._lock:
            self._next[channel] = time.monotonic() + self.interval + extra


class NotificationService:
    def __init__(self, store: SqliteStore, slack: SlackOut, invoicing: InvoicingService, *,
                 payments_channel: str, announce_foreign: bool = True, pacer: ChannelPacer | None = None) -> None:
        self.store = store
        self.slack = slack
        self.invoicing = invoicing
        self.payments_channel = payments_channel
        self.announce_foreign = announce_foreign
        self.pacer = pacer or ChannelPacer()

    # --- deciding ----------------------------------------------------------------------------
    def process_event(self, event_id: str) -> None:
        row = self.store.get_event(event_id)
        if row is None:
            raise GiveUp(f"event {event_id} is not stored")
        event = json.loads(row["payload"])
        outcome = self.store.event_outcome(event_id)
        if outcome is None:
            outcome = self.store.decide_event(event_id, lambda: self._decide(event))
        self._queue_messages(event_id, event, Outcome.from_json(outcome))
        self.store.mark_event_processed(event_id)

    def _decide(self, event: dict[str, Any]) -> str:
        """Runs inside the store's transaction that records the outcome (no Slack or Stripe here)."""
        kind = event["type"]
        obj = (event.get("data") or {}).get("object") or {}
        created = int(event.get("created") or 0)
        if kind.startswith("invoice.") and obj.get("object") == "invoice":
            return self._decide_invoice(kind, obj, created).to_json()
        if kind == "payment_intent.processing":
            invoice_id = _invoice_of_payment_intent(obj)
            known = invoice_id and self.store.get_invoice(invoice_id)
            return Outcome(invoice_id if known else None, False,
                           ":hourglass_flowing_sand: Payment processing (bank debit)" if known else None,
                           "processing" if known else None).to_json()
        return Outcome(None, False, None, None).to_json()

    def _decide_invoice(self, kind: str, invoice: dict[str, Any], created: int) -> Outcome:
        invoice_id = invoice["id"]
        known_before = self.store.get_invoice(invoice_id)
        fields = invoice_row(invoice, known=known_before)
        if kind == "invoice.deleted":
            fields["status"] = "deleted"
        change: StateChange = self.store.apply_invoice_state(invoice_id, fields, created)
        if kind in ("invoice.paid", "invoice.payment_succeeded"):
            if not change.status_changed or change.status != "paid":
                return Outcome(invoice_id, change.applied, None, None)
            amount = money.format_amount(invoice.get("amount_paid") or invoice.get("total") or 0, fields["currency"])
            how = " out of band" if invoice.get("paid_out_of_band") else ""
            return Outcome(invoice_id, True, f":white_check_mark: Paid {amount}{how}", "paid")
        if kind == "invoice.payment_failed":
            reason = _failure_reason(invoice)
            return Outcome(invoice_id, change.applied,
                           f":x: Payment failed: {reason}. Stripe emailed the customer.", "failed")
        if kind == "invoice.overdue":
            first = self.store.mark_overdue_once(invoice_id)
            return Outcome(invoice_id, change.applied, ":alarm_clock: Overdue" if first else None,
                           "overdue" if first else None)
        if kind in THREAD_TEXT and change.status_changed or kind == "invoice.sent":
            text = THREAD_TEXT[kind].format(number=invoice.get("number") or "")
            return Outcome(invoice_id, change.applied, text, None)
        return Outcome(invoice_id, change.applied, None, None)

    # --- queueing the messages ---------------------------------------------------------------
    def _queue_messages(self, event_id: str, event: dict[str, Any], outcome: Outcome) -> None:
        if outcome.invoice_id is None:
            return
        invoice = self.store.get_invoice(outcome.invoice_id)
        if invoice is None:
            return
        ours = bool(invoice.get("message_ts"))
        if outcome.refresh and ours:
            self.store.enqueue("refresh_message", f"refresh:{event_id}", {"invoice_id": outcome.invoice_id})
        if outcome.thread_text and ours:
            self.store.enqueue("thread_reply", f"thread:{event_id}",
                               {"invoice_id": outcome.invoice_id, "text": outcome.thread_text,
                                "remind_button": outcome.notice == "overdue"})
        if outcome.notice and (ours or self.announce_foreign):
            channel = self.route(invoice)
            self.store.enqueue("channel_notice", f"notice:{event_id}:{channel}",
                               {"channel": channel, "kind": outcome.notice, "invoice_id": outcome.invoice_id,
                                "text": outcome.thread_text or ""}, channel=channel)

    def route(self, invoice: dict[str, Any]) -> str:
        for kind, key in (("customer", invoice.get("customer_id")), ("rep", invoice.get("rep_user_id"))):
            if key:
                channel = self.store.route_for(kind, key)
                if channel:
                    return channel
        return self.payments_channel

    # --- sending -----------------------------------------------------------------------------
    def refresh_message(self, job: Job) -> None:
        invoice = self.store.get_invoice(job.payload["invoice_id"])
        if invoice and invoice.get("message_ts"):
            self.invoicing.publish_message(invoice)

    def thread_reply(self, job: Job) -> None:
        invoice = self.store.get_invoice(job.payload["invoice_id"])
        if not invoice or not invoice.get("message_ts"):
            return
        text = job.payload["text"]
        extra: list[dict[str, Any]] = []
        if job.payload.get("remind_button") and invoice.get("rep_user_id"):
            text = f"<@{invoice['rep_user_id']}> {text}: the customer hasn't paid yet."
            extra = blocks.remind_blocks(invoice["stripe_id"])
        self._post(invoice["channel_id"], text, blocks.notice(text) + extra, thread_ts=invoice["message_ts"])

    def channel_notice(self, job: Job) -> None:
        channel = job.payload["channel"]
        wait = self.pacer.wait_time(channel)
        if wait > 0:
            raise RetryLater("channel pace", wait)
        waiting = self.store.pending_notices(channel, exclude_job=job.id, limit=DIGEST_MAX_ITEMS - 1)
        if len(waiting) >= DIGEST_THRESHOLD:
            self._post_digest(channel, [job] + waiting)
            return
        invoice = self.store.get_invoice(job.payload["invoice_id"]) or {"stripe_id": job.payload["invoice_id"],
                                                                         "currency": "usd", "status": "open"}
        text, notice_blocks = blocks.payment_notice(job.payload["kind"], invoice, self._message_link(invoice))
        self._post(channel, text, notice_blocks)

    def _post_digest(self, channel: str, jobs: list[Job]) -> None:
        items = []
        for job in jobs:
            invoice = self.store.get_invoice(job.payload["invoice_id"]) or {
                "stripe_id": job.payload["invoice_id"], "currency": "usd", "total": 0}
            items.append((job.payload["kind"], invoice))
        text, digest_blocks = blocks.digest(items)
        try:
            self._post(channel, text, digest_blocks)
        except (RetryLater, GiveUp) as error:
            # Hand the folded notices back so the next attempt (or digest) carries them again.
            delay = error.delay if isinstance(error, RetryLater) and error.delay else POST_INTERVAL
            for job in jobs[1:]:
                self.store.retry_job(job.id, delay, str(error))
            raise
        # The digest stands for every job in it; the first is completed by the worker.
        self.store.complete_jobs([job.id for job in jobs[1:]])

    def _message_link(self, invoice: dict[str, Any]) -> str | None:
        if invoice.get("channel_id") and invoice.get("message_ts"):
            return self.slack.permalink(invoice["channel_id"], invoice["message_ts"])
        return None

    def _post(self, channel: str, text: str, message_blocks: list[dict[str, Any]], thread_ts: str | None = None) -> None:
        try:
            self.slack.post(channel, text, message_blocks, thread_ts=thread_ts)
        except SlackFailure as failure:
            if failure.retry_after:
                self.pacer.reserve(channel, failure.retry_after)
            if failure.retryable:
                raise RetryLater(f"Slack: {failure.error}", failure.retry_after) from None
            raise GiveUp(f"Slack refused the message for {channel}: {failure.error}") from None
        self.pacer.reserve(channel)


def _invoice_of_payment_intent(payment_intent: dict[str, Any]) -> str | None:
    invoice = payment_intent.get("invoice")
    if isinstance(invoice, dict):
        return invoice.get("id")
    if isinstance(invoice, str):
        return invoice
    metadata = payment_intent.get("metadata") or {}
    return metadata.get("invoice") or metadata.get("invoice_id")


def _failure_reason(invoice: dict[str, Any]) -> str:
    error = invoice.get("last_finalization_error") or {}
    payment_error = (invoice.get("last_payment_error") or {}) if isinstance(invoice.get("last_payment_error"),
                                                                            dict) else {}
    for source in (payment_error, error):
        for key in ("decline_code", "code", "message"):
            if source.get(key):
                return str(source[key]).replace("_", " ")
    return "the customer's payment method was declined"
