"""Chasing unpaid invoices on a schedule: the sweep, the reminders, the reps' evening previews and their
buttons, promises that pass unpaid, and telling admins of a dispute.

A periodic `ChaseSweep` per workspace (every few minutes) looks at every open invoice made in Slack, in its
rep's time zone (Slack's `users.info`), and queues what is due now (`bot.domain.chasing.plan`):
- from 09:00 on a reminder's day, `ChaseInvoice`, keyed `chase:<invoice>:<day>`: two replicas, a retry or
  the next sweep never send it twice. It takes the invoice's reminder (`claim_reminder`: at most one a day,
  shared with the "Send reminder" button through `last_reminded_at`), has Stripe send the invoice again
  (idempotency key from the job), records it in the audit and threads a line under the invoice's message;
- from 18:00 the day before, `ChasePreview` (keyed per rep per day): a DM naming tomorrow's reminders, each
  with Skip, Snooze 7 days and Send now (the "Send reminder" button's own path and limit);
- a promise to pay whose day passed unpaid: `PromiseLapsed`, told to the rep once; chasing resumes.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import date
from typing import Any

from bot import blocks, money, slash
from bot.access import Access, Action
from bot.adapters.courier import Courier
from bot.adapters.slack import SlackOut
from bot.adapters.stripe import StripeFailure, StripeGateway
from bot.blocks import ActionId
from bot.domain import chasing
from bot.domain.chasing import DEFAULT_CADENCE, META_PROMISE_LAPSED, ChaseState
from bot.domain.invoices import Invoice, snapshot_from_stripe
from bot.jobs.model import JobPayload
from bot.jobs.payloads import (
    ChaseInvoice,
    ChasePreview,
    DisputeNotice,
    InvoiceAction,
    PromiseLapsed,
    PublishInvoice,
    RefreshMessage,
    TellUser,
    ThreadReply,
)
from bot.mrkdwn import escape
from bot.people import People
from bot.services.invoicing import REMINDER_INTERVAL
from bot.store.scope import TenantScope

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
PREVIEW_ACTIONS = (ActionId.CHASE_SKIP, ActionId.CHASE_SNOOZE, ActionId.CHASE_SEND_NOW)
MAX_ADMINS_TOLD = 25
STRIPE_REMINDERS = ("Stripe can also email reminders of its own (Dashboard: Settings > Billing > Invoices, "
                    "“Send reminders if a one-off invoice hasn't been paid”): keep one of the two off, or "
                    "customers are chased twice.")


class Chasing:
    def __init__(self, store: TenantScope, stripe: StripeGateway, slack: SlackOut, access: Access, people: People,
                 courier: Courier, *, payments_channel: str, clock: Clock = time.time) -> None:
        self.store = store
        self.stripe = stripe
        self.slack = slack
        self.access = access
        self.people = people
        self.courier = courier
        self.payments_channel = payments_channel
        self.clock = clock
        self._bot_user: str | None = None

    def cadence(self) -> tuple[int, ...]:
        """The workspace's cadence: as set with `/invoice chasing`, else the default."""
        days = self.store.reads.chasing.cadence()
        return DEFAULT_CADENCE if days is None else days

    def bot_user(self) -> str:
        """Whom the audit names for what the schedule did: the bot's own user."""
        if self._bot_user is None:
            self._bot_user = str(self.slack.call("auth.test").get("user_id") or "invoicebot")
        return self._bot_user

    # --- the sweep ----------------------------------------------------------------------------------
    def sweep(self) -> int:
        """Queue what is due now, each job once per key; how many were due."""
        now = self.clock()
        cadence = self.cadence()
        by_rep: dict[str, list[Invoice]] = defaultdict(list)
        for invoice in self.store.reads.invoices.to_chase():
            by_rep[str(invoice.rep_user_id)].append(invoice)
        jobs: list[tuple[JobPayload, str]] = []
        for rep, invoices in sorted(by_rep.items()):
            zone = self.people.zone(rep)
            previews: list[str] = []
            preview_day: date | None = None
            for invoice in invoices:
                plan = chasing.plan(invoice.due_date, invoice.chase, cadence, zone, now)
                if plan.nothing or invoice.due_date is None:
                    continue
                due = chasing.due_day(invoice.due_date, zone)
                # A reminder went out in the last 24 hours (the button): the next sweep looks again.
                if plan.chase_on is not None and now - (invoice.last_reminded_at or 0) >= REMINDER_INTERVAL:
                    day = plan.chase_on.isoformat()
                    jobs.append((ChaseInvoice(invoice_id=invoice.stripe_id, day=day,
                                              why=chasing.why(plan.chase_on, due, invoice.chase)),
                                 f"chase:{invoice.stripe_id}:{day}"))
                if plan.lapsed is not None:
                    jobs.append((PromiseLapsed(invoice_id=invoice.stripe_id, promised_until=plan.lapsed.isoformat()),
                                 f"promise_lapsed:{invoice.stripe_id}:{plan.lapsed.isoformat()}"))
                if plan.preview_of is not None:
                    previews.append(invoice.stripe_id)
                    preview_day = plan.preview_of
            if previews and preview_day is not None:
                jobs.append((ChasePreview(user_id=rep, day=preview_day.isoformat(), invoice_ids=previews),
                             f"chase_preview:{rep}:{preview_day.isoformat()}"))
        if not jobs:
            return 0
        with self.store.unit_of_work() as uow:
            uow.jobs.add_many(jobs)  # each once per key: a later sweep (or another replica's) adds nothing
            uow.commit()
        return len(jobs)

    def _reminder_day(self, invoice: Invoice, day: date) -> bool:
        """Is `day` still one of the invoice's reminder days (nothing skipped, snoozed, promised or
        disputed since it was queued)?"""
        if invoice.status != "open" or not invoice.made_in_slack or not invoice.due_date:
            return False
        zone = self.people.zone(str(invoice.rep_user_id))
        due = chasing.due_day(invoice.due_date, zone)
        return day in chasing.reminder_days(due, invoice.chase.cadence(self.cadence()), invoice.chase)

    # --- one reminder -------------------------------------------------------------------------------
    def chase(self, job: ChaseInvoice, job_key: str) -> None:
        invoice = self.store.reads.invoices.get(job.invoice_id)
        day = date.fromisoformat(job.day)
        if invoice is None or not self._reminder_day(invoice, day):
            logger.info("reminder of %s for %s no longer due", job.invoice_id, job.day)
            return
        now = self.clock()
        with self.store.unit_of_work() as uow:
            claimed = uow.invoices.claim_reminder(job.invoice_id, job_key, now, REMINDER_INTERVAL)
            uow.commit()
        if not claimed:  # the button (or Send now) sent one in the last 24 hours: one a day, whoever asks
            logger.info("reminder of %s for %s: one went out in the last 24 hours", job.invoice_id, job.day)
            return
        result = self.stripe.send_invoice(job.invoice_id, f"chase:{job.invoice_id}:{job.day}")
        actor = self.bot_user()
        with self.store.unit_of_work() as uow:
            uow.audit.add(actor, "remind", job.invoice_id, {"invoice": job.invoice_id},
                          {"via": "chasing", "day": job.day, "why": job.why, "status": result.get("status")})
            uow.invoices.apply(snapshot_from_stripe(result).keeping_lines_of(invoice), int(now))
            uow.jobs.add(PublishInvoice(invoice_id=job.invoice_id,
                                        reply=f":email: Reminder emailed to the customer ({escape(job.why)}), "
                                              "on the chasing schedule"),
                         key=f"publish:{job_key}")
            uow.commit()

    def not_chased(self, job: ChaseInvoice, reason: str) -> None:
        """Stripe refused a scheduled reminder for good: the rep hears why, under the invoice."""
        invoice = self.store.reads.invoices.get(job.invoice_id)
        if invoice is None or not invoice.rep_user_id:
            return
        text = (f"<@{invoice.rep_user_id}> :warning: I couldn't send today's reminder of {escape(invoice.title)}: "
                f"Stripe said “{escape(reason)}”.")
        if invoice.channel_id and invoice.message_ts:
            self.courier.post_once(f"chase_failed:{job.invoice_id}:{job.day}", invoice.channel_id, text,
                                   thread_ts=invoice.message_ts)
        else:
            self.slack.dm(invoice.rep_user_id, text)

    # --- the evening preview --------------------------------------------------------------------------
    def send_preview(self, job: ChasePreview, job_key: str) -> None:
        day = date.fromisoformat(job.day)
        found = self.store.reads.invoices.get_many(job.invoice_ids)
        zone = self.people.zone(job.user_id)
        items: list[blocks.PreviewItem] = []
        for invoice_id in job.invoice_ids:
            invoice = found.get(invoice_id)
            if invoice is None or invoice.rep_user_id != job.user_id or not self._reminder_day(invoice, day) \
                    or not invoice.due_date:
                continue
            items.append(blocks.PreviewItem(invoice, chasing.why(day, chasing.due_day(invoice.due_date, zone),
                                                                 invoice.chase)))
        if not items:
            return
        text, preview = blocks.chase_preview(day, items)
        self.courier.post_once(job_key, self.slack.open_dm(job.user_id), text, preview)

    def answer_preview(self, body: dict[str, Any], job_key: str) -> None:
        """Skip, Snooze 7 days or Send now, pressed in a preview."""
        pressed = body["actions"][0]
        action_id = str(pressed["action_id"])
        user_id = str(body["user"]["id"])
        channel_id = (body.get("channel") or {}).get("id")
        parsed = blocks.read_preview_value(str(pressed.get("value") or ""))
        if parsed is None:
            self._say(body, "That preview is out of date.")
            return
        invoice_id, day = parsed
        invoice = self.store.reads.invoices.get(invoice_id)
        if invoice is None:
            self._say(body, "I don't know that invoice any more.")
            return
        send_now = action_id == ActionId.CHASE_SEND_NOW
        refusal = self.access.refusal(Action.REMIND if send_now else Action.CHASE, user_id, invoice)
        if refusal:
            self._say(body, refusal)
            return
        if invoice.status != "open":
            self._answered(body, invoice_id, f"{escape(invoice.title)} is {escape(invoice.status)} now: "
                                             "nothing to send.")
            return
        now = self.clock()
        today = chasing.local_today(now, self.people.zone(str(invoice.rep_user_id or user_id)))
        pressed_at = str(pressed.get("action_ts") or job_key)
        with self.store.unit_of_work() as uow:
            held = uow.invoices.get_many([invoice_id], for_update=True).get(invoice_id, invoice)
            if action_id == ActionId.CHASE_SNOOZE:
                state = held.chase.snoozing(day)
                assert state.snoozed_until is not None
                note = (f":zzz: Snoozed by <@{user_id}>: no reminder before "
                        f"{chasing.format_day(state.snoozed_until)}, one that day.")
                action = "chase_snooze"
            else:
                state = held.chase.skipping(day, today)
                note = (f":fast_forward: <@{user_id}> is sending it now, not tomorrow." if send_now
                        else f":no_bell: Skipped by <@{user_id}>: no reminder on {chasing.format_day(day)}.")
                action = "chase_skip"
            uow.invoices.set_chasing(invoice_id, state, now)
            uow.audit.add(user_id, action, invoice_id, {"invoice": invoice_id},
                          {"day": day.isoformat(), **({"until": state.snoozed_until.isoformat()}
                                                      if action == "chase_snooze" and state.snoozed_until else {})})
            if send_now:  # the "Send reminder" button's own path: one job per press, one reminder a day
                uow.jobs.add(InvoiceAction(action="remind", invoice_id=invoice_id, user_id=user_id,
                                           channel_id=channel_id), key=f"remind:{invoice_id}:{pressed_at}")
            uow.commit()
        self._answered(body, invoice_id, note)

    def _answered(self, body: dict[str, Any], invoice_id: str, note: str) -> None:
        """The preview shows what was done in place of that invoice's buttons (or, failing that, a note)."""
        message = body.get("message") or {}
        container = body.get("container") or {}
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
        ts = message.get("ts") or container.get("message_ts")
        old_blocks = message.get("blocks")
        if channel and ts and isinstance(old_blocks, list) and old_blocks:
            self.slack.update(channel, str(ts), str(message.get("text") or "Tomorrow's reminders"),
                              blocks.preview_answered(old_blocks, invoice_id, note))
            return
        self._say(body, note)

    def _say(self, body: dict[str, Any], text: str) -> None:
        url = body.get("response_url")
        if url:
            self.slack.respond(str(url), text)
        else:
            self.slack.tell_user((body.get("channel") or {}).get("id"), str(body["user"]["id"]), text)

    # --- a promise that passed unpaid -------------------------------------------------------------------
    def note_lapse(self, job: PromiseLapsed, job_key: str) -> None:
        promised = date.fromisoformat(job.promised_until)
        invoice = self.store.reads.invoices.get(job.invoice_id)
        if invoice is None or not self._lapsed(invoice.chase, invoice, promised):
            return
        now = self.clock()
        today = chasing.local_today(now, self.people.zone(str(invoice.rep_user_id)))
        try:  # Stripe's metadata says so too: a rebuilt database does not tell the rep again
            self.stripe.update_invoice_metadata(job.invoice_id, {META_PROMISE_LAPSED: today.isoformat()},
                                                f"{job_key}:metadata")
        except StripeFailure as failure:
            if failure.retryable:
                raise
            logger.warning("could not mark the lapsed promise of %s in Stripe: %s", job.invoice_id, failure.message)
        day = promised.strftime("%b %-d, %Y")
        with self.store.unit_of_work() as uow:
            held = uow.invoices.get_many([job.invoice_id], for_update=True).get(job.invoice_id)
            if held is None or not self._lapsed(held.chase, held, promised):
                return
            uow.invoices.set_chasing(job.invoice_id, held.chase.lapse_noted(today), now)
            uow.audit.add(self.bot_user(), "promise_lapsed", job.invoice_id, {"invoice": job.invoice_id},
                          {"promised_until": job.promised_until})
            text = f":hourglass: The promise to pay by {day} passed, so chasing resumes"
            if held.has_message:
                uow.jobs.add(ThreadReply(invoice_id=job.invoice_id, text=text, remind_button=True),
                             key=f"thread:{job_key}")
                uow.jobs.add(RefreshMessage(invoice_id=job.invoice_id), key=f"refresh:{job_key}")
            elif held.rep_user_id:
                uow.jobs.add(TellUser(user_id=held.rep_user_id,
                                      text=f"{text}: {escape(held.title)} is still unpaid."), key=f"tell:{job_key}")
            uow.commit()

    @staticmethod
    def _lapsed(state: ChaseState, invoice: Invoice, promised: date) -> bool:
        return (invoice.status == "open" and state.promised_until == promised and state.promise_lapsed_on is None
                and not state.disputed)

    # --- a dispute: admins hear of it ----------------------------------------------------------------
    def tell_admins(self, job: DisputeNotice, job_key: str) -> None:
        invoice = self.store.reads.invoices.get(job.invoice_id)
        if invoice is None or not invoice.chase.disputed:
            return
        total = escape(money.format_amount(invoice.amount_remaining, invoice.currency))
        where = self.slack.permalink(invoice.channel_id, invoice.message_ts) \
            if invoice.channel_id and invoice.message_ts else None
        text = (f":triangular_flag_on_post: <@{job.user_id}> marked *{escape(invoice.title)}* "
                f"({escape(invoice.customer_label or 'a customer')}, {total} unpaid) as disputed: "
                f"“{escape(invoice.chase.dispute_reason)}”. It is not chased until someone presses Resolve on it.")
        if where:
            text += f" <{where}|The invoice>"
        admins = self._admins(exclude=job.user_id)
        if admins:
            for admin in admins:
                self.courier.post_once(f"{job_key}:{admin}", self.slack.open_dm(admin), text)
        elif self.payments_channel:
            self.courier.post_once(f"{job_key}:channel", self.payments_channel, text)

    def _admins(self, exclude: str) -> list[str]:
        """The invoicing admins named in the workspace's list (user groups by their members)."""
        people: list[str] = []
        for entry in sorted(self.access.lists.admins):
            people += sorted(self.slack.usergroup_members(entry)) if entry.startswith("S") else [entry]
        return [person for person in dict.fromkeys(people) if person != exclude][:MAX_ADMINS_TOLD]

    # --- `/invoice chasing` -------------------------------------------------------------------------------
    def command(self, parsed: slash.ShowChasing | slash.SetChasing, user_id: str) -> str:
        if isinstance(parsed, slash.ShowChasing):
            refusal = self.access.refusal(Action.CREATE, user_id)
            if refusal:
                return refusal
            days = self.cadence()
            return (f"Open invoices made in Slack are chased {chasing.describe_cadence(days)} "
                    f"(`{chasing.cadence_text(days)}`), in each rep's time zone: reminders from "
                    f"{chasing.MORNING_HOUR:02d}:00, the rep's preview of them from {chasing.EVENING_HOUR:02d}:00 "
                    "the evening before. An admin changes it with `/invoice chasing -3 0 7 14 30` (or `off`, or "
                    f"`default`); one invoice's own with its Chasing… button.\n{STRIPE_REMINDERS}")
        refusal = self.access.refusal(Action.ADMINISTER, user_id, what="change how invoices are chased")
        if refusal:
            return refusal
        with self.store.unit_of_work() as uow:
            uow.chasing.set_cadence(parsed.days, user_id)
            uow.audit.add(user_id, "chasing", None, {}, {
                "days": chasing.cadence_text(parsed.days) if parsed.days is not None else "default"})
            uow.commit()
        days = self.cadence()
        return (f":white_check_mark: Open invoices are now chased {chasing.describe_cadence(days)} "
                f"(`{chasing.cadence_text(days)}`); invoices with a schedule of their own keep it.")
