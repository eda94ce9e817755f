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
from bot.delivery import Courier, SlackFailure, SlackOut
from bot.invoicing import InvoicingService, invoice_row
from bot.queue import GiveUp, RetryLater
from bot.store import Job, StateChange, Store
from bot.stripe_gateway import StripeFailure

logger = logging.getLogger(__name__)

POST_INTERVAL = 1.0  # Slack allows about one chat.postMessage per second per channel
DIGEST_THRESHOLD = 3  # more notices than this waiting for one channel become a digest
DIGEST_MAX_ITEMS = 250
NOTICE_KINDS = ("paid", "failed", "processing", "overdue", "foreign")

STATUS_TEXT = {
    "void": ":no_entry_sign: Voided",
    "uncollectible": ":warning: Marked uncollectible",
    "deleted": ":wastebasket: Draft deleted",
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

    def claim(self, channel: str) -> float:
        """Take the channel's next slot now (0.0), or say how long until it is free: one poster at a time."""
        with self._lock:
            now = time.monotonic()
            wait = self._next.get(channel, 0.0) - now
            if wait > 0:
                return wait
            self._next[channel] = now + self.interval
            return 0.0

    def reserve(self, channel: str, extra: float = 0.0) -> None:
        with self._lock:
            self._next[channel] = time.monotonic() + self.interval + extra


class NotificationService:
    def __init__(self, store: Store, slack: SlackOut, invoicing: InvoicingService, *,
                 payments_channel: str, announce_foreign: bool = True, pacer: ChannelPacer | None = None) -> None:
        self.store = store
        self.slack = slack
        self.invoicing = invoicing
        self.payments_channel = payments_channel
        self.announce_foreign = announce_foreign
        self.pacer = pacer or ChannelPacer()
        self.courier = Courier(store, slack)

    # --- deciding ----------------------------------------------------------------------------
    def process_event(self, event_id: str) -> None:
        row = self.store.get_event(event_id)
        if row is None:
            raise GiveUp(f"event {event_id} is not stored")
        event = json.loads(row["payload"])
        outcome = self.store.event_outcome(event_id)
        if outcome is None:
            facts = self._look_up(event)
            outcome = self.store.decide_event(event_id, lambda: self._decide(event, facts))
        self._queue_messages(event_id, Outcome.from_json(outcome))
        self.store.mark_event_processed(event_id)

    def _look_up(self, event: dict[str, Any]) -> dict[str, Any]:
        """What the decision needs from Stripe, fetched before the store's transaction opens."""
        obj = (event.get("data") or {}).get("object") or {}
        try:
            if event["type"] == "payment_intent.processing":
                return {"invoice_id": self.invoicing.stripe.invoice_for_payment_intent(obj["id"])}
            if event["type"] == "invoice.payment_failed":
                return {"reason": self.invoicing.stripe.payment_failure_reason(obj["id"])}
        except StripeFailure as failure:
            if failure.retryable:
                raise RetryLater(f"Stripe: {failure.message}") from None
            logger.warning("could not look up %s for %s: %s", event["type"], obj.get("id"), failure.message)
        return {}

    def _decide(self, event: dict[str, Any], facts: dict[str, Any]) -> str:
        """Runs inside the store's transaction that records the outcome (no Slack or Stripe here)."""
        kind = event["type"]
        obj = (event.get("data") or {}).get("object") or {}
        created = int(event.get("created") or 0)
        if kind.startswith("invoice.") and obj.get("object") == "invoice":
            return self._decide_invoice(kind, obj, created, facts).to_json()
        if kind == "payment_intent.processing":
            invoice_id = facts.get("invoice_id")
            known = invoice_id and self.store.get_invoice(invoice_id)
            return Outcome(invoice_id if known else None, False,
                           ":hourglass_flowing_sand: Payment processing (bank debit)" if known else None,
                           "processing" if known else None).to_json()
        return Outcome(None, False, None, None).to_json()

    def _decide_invoice(self, kind: str, invoice: dict[str, Any], created: int, facts: dict[str, Any]) -> Outcome:
        """A status change is news whichever event brings it first (`invoice.updated` often beats
        `invoice.paid`); the other events of the same change then find nothing new to say."""
        invoice_id = invoice["id"]
        known_before = self.store.get_invoice(invoice_id)
        fields = invoice_row(invoice, known=known_before)
        if kind == "invoice.deleted":
            fields["status"] = "deleted"
        change: StateChange = self.store.apply_invoice_state(invoice_id, fields, created)
        texts: list[str] = []
        notice: str | None = None
        if change.status_changed:
            if change.status == "paid":
                amount = money.format_amount(invoice.get("amount_paid") or invoice.get("total") or 0,
                                             fields["currency"])
                texts.append(f":white_check_mark: Paid {amount}")
                notice = "paid"
            elif change.status == "open" and change.previous_status == "draft":
                texts.append(f"Finalized as {invoice.get('number') or 'an open invoice'}")
            elif change.status in STATUS_TEXT:
                texts.append(STATUS_TEXT[change.status])
        if kind == "invoice.sent":
            texts.append(":email: Emailed to the customer by Stripe")
        elif kind == "invoice.payment_failed":
            reason = (facts.get("reason") or "the payment method was declined").replace("_", " ")
            texts.append(f":x: Payment failed: {reason}. Stripe emailed the customer.")
            notice = "failed"
        elif kind == "invoice.overdue" and self.store.mark_overdue_once(invoice_id):
            texts.append(":alarm_clock: Overdue")
            notice = "overdue"
        return Outcome(invoice_id, change.applied, "\n".join(texts) or None, notice)

    # --- queueing the messages ---------------------------------------------------------------
    def _queue_messages(self, event_id: str, outcome: Outcome) -> None:
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

    def sweep_overdue(self) -> int:
        """Invoices whose due date passed while still open, when Stripe's `invoice.overdue` did not
        come (it is opt-in in Stripe's settings): the same nudge and notice, once per invoice."""
        count = 0
        for invoice in self.store.overdue_unannounced():
            if not self.store.mark_overdue_once(invoice["stripe_id"]):
                continue
            day = time.strftime("%Y-%m-%d", time.gmtime())
            outcome = Outcome(invoice["stripe_id"], False, ":alarm_clock: Overdue", "overdue")
            self._queue_messages(f"sweep:{invoice['stripe_id']}:{day}", outcome)
            count += 1
        return count

    def route(self, invoice: dict[str, Any]) -> str:
        candidates = (
            ("customer", invoice.get("customer_id")),
            ("customer", (invoice.get("customer_email") or "").lower()),
            ("rep", invoice.get("rep_user_id")),
        )
        for kind, key in candidates:
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
        self._post(job.key, invoice["channel_id"], text, blocks.notice(text) + extra, thread_ts=invoice["message_ts"])

    def channel_notice(self, job: Job) -> None:
        channel = job.payload["channel"]
        wait = self.pacer.claim(channel)
        if wait > 0:
            raise RetryLater("channel pace", wait)
        if job.digest_key:  # an interrupted digest: post the very same one again
            members = [member for member in self.store.digest_members(job.digest_key) if member.id != job.id]
            self._post_digest(channel, job.digest_key, [job, *members])
            return
        waiting = self.store.claim_digest(channel, job, limit=DIGEST_MAX_ITEMS - 1, threshold=DIGEST_THRESHOLD)
        if waiting:
            self._post_digest(channel, f"digest:{job.id}", [job, *waiting])
            return
        invoice = self.store.get_invoice(job.payload["invoice_id"]) or {"stripe_id": job.payload["invoice_id"],
                                                                         "currency": "usd", "status": "open"}
        text, notice_blocks = blocks.payment_notice(job.payload["kind"], invoice, self._message_link(invoice))
        self._post(job.key, channel, text, notice_blocks)

    def _post_digest(self, channel: str, digest_key: str, jobs: list[Job]) -> None:
        items = []
        for job in jobs:
            invoice = self.store.get_invoice(job.payload["invoice_id"]) or {
                "stripe_id": job.payload["invoice_id"], "currency": "usd", "total": 0}
            items.append((job.payload["kind"], invoice))
        text, digest_blocks = blocks.digest(items)
        try:
            self._post(digest_key, channel, text, digest_blocks)
        except (RetryLater, GiveUp) as error:
            # Hand the folded notices back, still bound to this digest, for the next attempt.
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

    def _post(self, key: str, channel: str, text: str, message_blocks: list[dict[str, Any]],
              thread_ts: str | None = None) -> None:
        try:
            self.courier.post_once(key, channel, text, message_blocks, thread_ts=thread_ts)
        except SlackFailure as failure:
            if failure.retry_after:
                self.pacer.reserve(channel, failure.retry_after)
            if failure.retryable:
                raise RetryLater(f"Slack: {failure.error}", failure.retry_after) from None
            raise GiveUp(f"Slack refused the message for {channel}: {failure.error}") from None
        self.pacer.reserve(channel)
