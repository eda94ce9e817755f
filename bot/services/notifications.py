"""From a stored Stripe event to the invoice's new state and the Slack messages it deserves.

Deciding an event is one unit of work: apply the invoice's snapshot, decide what it means
(`bot.domain.notices`, pure), store that outcome with the event and queue each Slack message
as its own job keyed by the event, all committed together, so a crash leaves neither or both.
Channel notices are paced per channel, through the database (`Store.pace`), so replicas posting
to one channel keep Slack's one post a second between them; when more wait than the pace can post
promptly they are folded into one digest that still names every invoice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from bot import blocks
from bot.adapters.courier import Courier
from bot.adapters.slack import SlackOut
from bot.adapters.stripe import StripeFailure, StripeGateway
from bot.domain.invoices import Invoice, snapshot_from_stripe
from bot.domain.notices import (
    CREDIT_NOTE_EVENTS,
    CREDIT_NOTICES,
    NOTHING,
    Outcome,
    credit_note_invoice,
    decide_credit_note_event,
    decide_invoice_event,
    decide_processing,
    overdue_outcome,
)
from bot.domain.records import StripeEvent
from bot.errors import Defer, ExternalFailure, GiveUp
from bot.jobs.model import Job
from bot.jobs.payloads import ChannelNotice, RefreshMessage, ThreadReply
from bot.jobs.ports import JobQueue
from bot.mrkdwn import escape
from bot.services.messages import InvoiceMessages
from bot.services.recurring import adopt_generated, note_subscription_event
from bot.store.ports import ChannelPace, UnitOfWork
from bot.store.scope import TenantScope

logger = logging.getLogger(__name__)

LOOKUP_TYPES = frozenset({"payment_intent.processing", "invoice.payment_failed"})  # need a Stripe call
POST_INTERVAL = 1.0  # Slack allows about one chat.postMessage per second per channel
DIGEST_CLAIM_FACTOR = 3  # a digest of typical invoices names 190-300 (the worst case: 109)
DIGEST_THRESHOLD = 3  # more notices than this waiting for one channel become a digest
Clock = Callable[[], float]


class Notifications:
    def __init__(self, store: TenantScope, slack: SlackOut, stripe: StripeGateway, messages: InvoiceMessages,
                 courier: Courier, *, payments_channel: str, announce_foreign: bool = True,
                 pacer: ChannelPace | None = None, clock: Clock = time.time) -> None:
        self.store = store
        self.queue: JobQueue = store.queue
        self.slack = slack
        self.stripe = stripe
        self.messages = messages
        self.courier = courier
        self.payments_channel = payments_channel
        self.announce_foreign = announce_foreign
        self.pacer = pacer or store.pace(POST_INTERVAL)
        self.clock = clock

    # --- deciding ----------------------------------------------------------------------------
    def process_event(self, event_id: str) -> None:
        event = self.store.reads.events.get(event_id)
        if event is None:
            raise GiveUp(f"event {event_id} is not stored")
        if event.outcome is not None and event.processed_at is not None:
            return  # decided, and its messages were queued in the same transaction
        facts = {} if event.outcome is not None else self._look_up(event)
        with self.store.unit_of_work() as uow:
            current = uow.events.get_for_decision(event_id)
            if current is None or current.processed_at is not None:
                return
            # An outcome without processed_at was decided by an older version that queued the
            # messages separately: queue them again (their keys make that harmless).
            outcome = (Outcome.from_json(current.outcome) if current.outcome is not None
                       else self._decide(uow, current, facts))
            uow.events.decide(event_id, outcome.to_json())
            self._queue_messages(uow, event_id, outcome)
            uow.commit()

    def process_events(self, event_ids: list[str]) -> dict[str, Exception]:
        """Decide many stored events in one transaction (a backlog drains in batches, not one
        transaction per event). Returns the events that failed: one whose Stripe look-up failed,
        or that is not stored; everything else was decided, with its messages queued."""
        failures: dict[str, Exception] = {}
        facts: dict[str, dict[str, Any]] = {}
        # Stripe is asked before the transaction opens, and only for the few kinds that need it.
        for seen in self.store.reads.events.needing(event_ids, sorted(LOOKUP_TYPES)):
            try:
                facts[seen.id] = self._facts(seen.type, seen.object_id)
            except ExternalFailure as failure:
                failures[seen.id] = failure
        pending = [event_id for event_id in event_ids if event_id not in failures]
        routes: dict[tuple[str, str], str | None] = {}
        with self.store.unit_of_work() as uow:
            found = uow.events.get_many(pending, for_decision=True)
            undecided = [event for event in found if event.processed_at is None]  # not decided meanwhile
            # One read of the invoices the batch touches before its changes, one after.
            known = _Known(uow, [invoice_id for event in undecided if (invoice_id := _invoice_of(event))])
            outcomes: list[tuple[str, Outcome]] = []
            for current in undecided:
                outcome = (Outcome.from_json(current.outcome) if current.outcome is not None
                           else self._decide(uow, current, facts.get(current.id, {}), known))
                uow.events.decide(current.id, outcome.to_json())
                outcomes.append((current.id, outcome))
            after = uow.invoices.get_many([outcome.invoice_id for _, outcome in outcomes if outcome.invoice_id])
            for event_id, outcome in outcomes:
                self._queue_messages(uow, event_id, outcome, routes, after)
            uow.commit()
        stored = {event.id for event in found}
        failures.update({event_id: GiveUp(f"event {event_id} is not stored") for event_id in pending
                         if event_id not in stored})
        return failures

    def _look_up(self, event: StripeEvent) -> dict[str, Any]:
        return self._facts(event.type, event.data_object.get("id"))

    def _facts(self, event_type: str, object_id: str | None) -> dict[str, Any]:
        """What the decision needs from Stripe, fetched before the transaction opens."""
        if not object_id:
            return {}
        try:
            if event_type == "payment_intent.processing":
                return {"invoice_id": self.stripe.invoice_for_payment_intent(object_id)}
            if event_type == "invoice.payment_failed":
                return {"reason": self.stripe.payment_failure_reason(object_id)}
        except StripeFailure as failure:
            if failure.retryable:
                raise
            logger.warning("could not look up %s for %s: %s", event_type, object_id, failure.message)
        return {}

    def _decide(self, uow: UnitOfWork, event: StripeEvent, facts: dict[str, Any], known: _Known | None = None
                ) -> Outcome:
        obj = event.data_object
        if event.type.startswith("invoice.") and obj.get("object") == "invoice":
            invoice_id = str(obj["id"])
            stored = known.take(invoice_id) if known is not None else uow.invoices.get(invoice_id)
            snapshot = snapshot_from_stripe(obj).keeping_lines_of(stored)
            if event.type == "invoice.deleted":
                snapshot = snapshot.with_status("deleted")
            # A batch's invoices were read under a lock (`_Known`): their state need not be read again.
            change = uow.invoices.apply(snapshot, event.created, stored if known is not None else None)
            if event.type != "invoice.deleted":  # a repeating invoice's: posted like one made in Slack
                adopt_generated(uow, obj)
            first_overdue = event.type == "invoice.overdue" and uow.invoices.mark_overdue_once(snapshot.stripe_id,
                                                                                               self.clock())
            return decide_invoice_event(event.type, obj, change, currency=snapshot.currency,
                                        failure_reason=facts.get("reason"), first_overdue=first_overdue)
        if event.type.startswith("customer.subscription.") and obj.get("object") == "subscription":
            note_subscription_event(uow, event.type, obj)
            return NOTHING
        if event.type in CREDIT_NOTE_EVENTS and obj.get("object") == "credit_note":
            return self._decide_credit_note(uow, event, obj)
        if event.type == "payment_intent.processing":
            paid_by = facts.get("invoice_id")
            is_known = isinstance(paid_by, str) and uow.invoices.get(paid_by) is not None
            return decide_processing(paid_by if is_known else None, is_known)
        return NOTHING

    @staticmethod
    def _decide_credit_note(uow: UnitOfWork, event: StripeEvent, obj: dict[str, Any]) -> Outcome:
        """A credit note's event (bot/services/credit_notes.py): the invoice's own `invoice.updated` brings what
        Stripe now counts; this one its line and notice. Is a `created` old news, its note voided since?"""
        voided_since = event.type == "credit_note.created" and any(
            seen.type == "credit_note.voided" for seen in uow.events.for_invoice(str(obj.get("id") or "")))
        invoice_id = credit_note_invoice(obj)
        stored = uow.invoices.get(invoice_id) if invoice_id else None
        currency = obj.get("currency") if isinstance(obj.get("currency"), str) else None
        return decide_credit_note_event(event.type, obj, currency=currency or (stored.currency if stored else "usd"),
                                        voided_since=voided_since)

    def _queue_messages(self, uow: UnitOfWork, key: str, outcome: Outcome,
                        routes: dict[tuple[str, str], str | None] | None = None,
                        invoices: dict[str, Invoice] | None = None) -> None:
        if outcome.invoice_id is None:
            return
        invoice = invoices.get(outcome.invoice_id) if invoices is not None else uow.invoices.get(outcome.invoice_id)
        if invoice is None:
            return
        ours = invoice.message_ts is not None
        if outcome.refresh and ours:
            uow.jobs.add(RefreshMessage(invoice_id=invoice.stripe_id), key=f"refresh:{key}")
        if outcome.thread_text and ours:
            uow.jobs.add(ThreadReply(invoice_id=invoice.stripe_id, text=outcome.thread_text,
                                     remind_button=outcome.notice == "overdue"), key=f"thread:{key}")
        if outcome.notice and (ours or self.announce_foreign):
            channel = self.route(uow, invoice, routes)
            uow.jobs.add(ChannelNotice(channel=channel, kind=outcome.notice, invoice_id=invoice.stripe_id,
                                       text=outcome.notice_text or outcome.thread_text or "",
                                       own=invoice.made_in_slack),
                         key=f"notice:{key}:{channel}", channel=channel)

    def sweep_overdue(self) -> int:
        """Invoices whose due date passed while still open, when Stripe's `invoice.overdue` did not
        come (it is opt-in in Stripe's settings): the same nudge and notice, once per invoice."""
        now = self.clock()
        day = time.strftime("%Y-%m-%d", time.gmtime(now))
        count = 0
        for invoice in self.store.reads.invoices.overdue_unannounced(now):
            with self.store.unit_of_work() as uow:
                if not uow.invoices.mark_overdue_once(invoice.stripe_id, now):
                    continue
                self._queue_messages(uow, f"sweep:{invoice.stripe_id}:{day}", overdue_outcome(invoice.stripe_id))
                uow.commit()
            count += 1
        return count

    def route(self, uow: UnitOfWork, invoice: Invoice, known: dict[tuple[str, str], str | None] | None = None) -> str:
        """The channel for an invoice's notices: its customer's route, its rep's, or the payments
        channel. `known` remembers look-ups across a batch (most invoices share a handful of keys)."""
        known = {} if known is None else known
        candidates = (
            ("customer", invoice.customer_id),
            ("customer", (invoice.customer_email or "").lower()),
            ("rep", invoice.rep_user_id),
        )
        for kind, key in candidates:
            if key:
                if (kind, key) not in known:
                    known[(kind, key)] = uow.routes.lookup(kind, key)
                channel = known[(kind, key)]
                if channel:
                    return channel
        return self.payments_channel

    # --- sending -----------------------------------------------------------------------------
    def refresh_message(self, job: RefreshMessage) -> None:
        invoice = self.store.reads.invoices.get(job.invoice_id)
        if invoice and invoice.has_message:
            self.messages.publish(invoice)

    def thread_reply(self, job: ThreadReply, job_key: str) -> None:
        invoice = self.store.reads.invoices.get(job.invoice_id)
        if invoice is None or not invoice.channel_id or not invoice.message_ts:
            return
        text = job.text
        extra: list[dict[str, Any]] = []
        if job.remind_button and invoice.rep_user_id:
            text = f"<@{invoice.rep_user_id}> {text}: the customer hasn't paid yet."
            extra = blocks.remind_blocks(invoice.stripe_id)
        self._post(job_key, invoice.channel_id, text, blocks.notice(text) + extra, thread_ts=invoice.message_ts)

    def channel_notice(self, notice: ChannelNotice, job: Job) -> None:
        channel = notice.channel
        wait = self.pacer.claim(channel)
        if wait > 0:
            raise Defer("channel pace", wait)
        if job.digest_key:  # an interrupted digest: post the very same one again
            members = [member for member in self.queue.digest_members(job.digest_key) if member.id != job.id]
            self._post_digest(channel, job.digest_key, [job, *members])
            return
        # An interrupted single post (begun, maybe taken by Slack) is finished as itself: folding it
        # into a digest now would announce its invoice a second time, under another key.
        started_alone = self.store.reads.deliveries.get(job.key) is not None
        # Three times what one message can always name (worst-case lines: blocks.py): typical lines
        # are shorter, and what does not fit is handed back before the post (`_release`).
        limit = DIGEST_CLAIM_FACTOR * blocks.digest_capacity() - 1
        waiting = [] if started_alone else self.queue.claim_digest(channel, job, limit=limit,
                                                                   threshold=DIGEST_THRESHOLD)
        if waiting:
            self._post_digest(channel, f"digest:{job.id}", [job, *waiting])
            return
        invoice = self.store.reads.invoices.get(notice.invoice_id)
        if invoice is None:
            raise GiveUp(f"no invoice {notice.invoice_id} to announce")
        text, notice_blocks = blocks.payment_notice(notice.kind, invoice, self._message_link(invoice),
                                                    detail=notice.text if notice.kind in CREDIT_NOTICES else None)
        self._post(job.key, channel, text, notice_blocks)

    def _post_digest(self, channel: str, digest_key: str, jobs: list[Job]) -> None:
        items: list[tuple[str, Invoice]] = []
        named_jobs: list[Job] = []  # the job of each item
        for job in jobs:
            notice = ChannelNotice.model_validate(job.payload)
            invoice = self.store.reads.invoices.get(notice.invoice_id)
            if invoice is None:
                logger.error("notice %s names invoice %s, which is not stored; left out of the digest", job.key,
                             notice.invoice_id)
                continue
            items.append((notice.kind, invoice))
            named_jobs.append(job)
        if not items:  # nothing left to announce: the notices are done
            self.queue.complete_members(jobs[1:])
            return
        # Once a post of this digest was begun, Slack may hold it: it is posted whole again, and the
        # courier finds the first one instead of posting twice (the same items render the same message).
        begun = self.store.reads.deliveries.get(digest_key) is not None
        message = blocks.digest(items, fit=not begun)
        held, bound = jobs[1:], len(named_jobs)
        while True:
            held, bound = self._release(digest_key, held, named_jobs[message.named:bound]), message.named
            try:
                self._post(digest_key, channel, message.text, message.blocks)
                break
            except ExternalFailure as failure:
                if failure.code == "msg_blocks_too_long" and message.named > 1:
                    # Slack refused it whole, so it holds nothing under this key: name fewer. (Slack's
                    # figure for this cap is unpublished; blocks.py counts under what was measured.)
                    logger.warning("Slack refused digest %s (%d notices, %d characters) as too long", digest_key,
                                   message.named, blocks.message_size(message.blocks))
                    message = blocks.digest(items[:message.named], budget=blocks.message_size(message.blocks) // 2)
                    continue
                # Hand the folded notices back, still bound to this digest, for the next attempt.
                self.queue.return_members(held, failure.retry_after or POST_INTERVAL, failure.message)
                raise
        # The digest stands for every job in it; the first is completed by the worker.
        self.queue.complete_members(held)

    def _release(self, digest_key: str, held: list[Job], overflow: list[Job]) -> list[Job]:
        """Notices the digest cannot name wait again as themselves (unbound, pending), before
        anything is posted, so no later post of this digest names them. Returns those still held."""
        if not overflow:  # never the leader: a digest names at least its first item
            return held
        logger.info("digest %s cannot name %d of its notices; they wait for the next", digest_key, len(overflow))
        self.queue.release_members(overflow)
        released = {job.id for job in overflow}
        return [job for job in held if job.id not in released]

    def _message_link(self, invoice: Invoice) -> str | None:
        if invoice.channel_id and invoice.message_ts:
            return self.slack.permalink(invoice.channel_id, invoice.message_ts)
        return None

    def _post(self, key: str, channel: str, text: str, message_blocks: list[dict[str, Any]],
              thread_ts: str | None = None) -> None:
        try:
            self.courier.post_once(key, channel, text, message_blocks, thread_ts=thread_ts)
        except ExternalFailure as failure:
            self.pacer.reserve(channel, failure.retry_after or 0.0)
            raise
        self.pacer.reserve(channel)

    def undeliverable(self, invoice_id: str, channel: str | None, reason: str) -> None:
        """A notice or thread line that will never be posted: its rep hears why."""
        invoice = self.store.reads.invoices.get(invoice_id)
        where = channel or (invoice.channel_id if invoice else None)
        if invoice is not None and invoice.rep_user_id:
            self.slack.dm(invoice.rep_user_id, f":warning: I couldn't post news of {escape(invoice.title)} in "
                                               f"<#{where}>: {escape(reason)}. Please check that I'm still in that "
                                               "channel.")
        else:
            logger.error("a notice for %s could not be posted in %s: %s", invoice_id, where, reason)


def _invoice_of(event: StripeEvent) -> str | None:
    obj = event.data_object
    if event.type.startswith("invoice.") and obj.get("object") == "invoice" and obj.get("id"):
        return str(obj["id"])
    return None


class _Known:
    """The stored invoices a batch of events is about, read (and locked) in one query. Each is
    handed out once: a second event about the same invoice reads it again, as the first may have
    changed it (the row is this unit of work's by then: locked, or inserted by it)."""

    def __init__(self, uow: UnitOfWork, invoice_ids: list[str]) -> None:
        self._uow = uow
        self._unread = set(invoice_ids)
        self._stored = uow.invoices.get_many(invoice_ids, for_update=True)

    def take(self, invoice_id: str) -> Invoice | None:
        if invoice_id in self._unread:
            self._unread.discard(invoice_id)
            return self._stored.get(invoice_id)
        return self._uow.invoices.get(invoice_id)
