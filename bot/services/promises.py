"""Promise to pay, Disputed, Resolve and an invoice's own cadence ("Chasing…"), from the invoice message.

The buttons open a form (or, Resolve, queue the change) from the `replies` lane, within Slack's 3 s of the
press; the form's submission is validated in the listener (`bot/chase_forms.py`) and queued as
`ChangeChasing`. That job asks `bot.access` again, writes the change to the invoice's Stripe metadata (its
idempotency key from the form's view or the press) and then to the store, with the audit entry, a line in
the invoice's thread and its message refreshed in the same transaction; a dispute also tells the admins
(`DisputeNotice`). Stripe keeps promises, disputes and cadences, so a rebuilt database recovers them
(`bot.store.repositories.SqlInvoices.apply`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Any

from bot import blocks
from bot.access import Access, Action
from bot.adapters.slack import SlackOut
from bot.adapters.stripe import StripeGateway
from bot.blocks import ActionId
from bot.chase_forms import ChasingFormMetadata
from bot.domain import chasing
from bot.domain.chasing import ChaseState
from bot.domain.invoices import snapshot_from_stripe
from bot.jobs.payloads import ChangeChasing, DisputeNotice, PublishInvoice
from bot.mrkdwn import escape
from bot.people import People
from bot.services.chasing import Chasing
from bot.store.scope import TenantScope

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
FORMS = (ActionId.CHASE_PROMISE, ActionId.CHASE_DISPUTE, ActionId.CHASE_CADENCE)
AUDITED = {"promise": "promise", "dispute": "dispute", "resolve": "resolve", "cadence": "chasing"}


class NotChanged(Exception):
    """The change cannot be made (anymore): `message` says why; nothing was changed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Promises:
    def __init__(self, store: TenantScope, stripe: StripeGateway, slack: SlackOut, access: Access, people: People,
                 chasing_service: Chasing, *, clock: Clock = time.time) -> None:
        self.store = store
        self.stripe = stripe
        self.slack = slack
        self.access = access
        self.people = people
        self.chasing = chasing_service
        self.clock = clock

    # --- the buttons --------------------------------------------------------------------------------
    def answer(self, body: dict[str, Any], job_key: str) -> None:
        pressed = body["actions"][0]
        action_id = str(pressed["action_id"])
        user_id = str(body["user"]["id"])
        channel_id = (body.get("channel") or {}).get("id")
        invoice_id = str(pressed.get("value") or "")[:100]
        invoice = self.store.reads.invoices.get(invoice_id)
        if invoice is None:
            self._say(body, "I don't know that invoice any more; it may have been deleted.")
            return
        refusal = self.access.refusal(Action.CHASE, user_id, invoice)
        if refusal:
            self._say(body, refusal)
            return
        if invoice.status != "open":
            self._say(body, f"{escape(invoice.title)} is {escape(invoice.status)}: only open invoices are chased.")
            return
        if action_id == ActionId.CHASE_RESOLVE:
            pressed_at = str(pressed.get("action_ts") or job_key)
            with self.store.unit_of_work() as uow:
                uow.jobs.add(ChangeChasing(change="resolve", invoice_id=invoice_id, user_id=user_id,
                                           request=pressed_at, channel_id=channel_id),
                             key=f"chasing:resolve:{invoice_id}:{pressed_at}")
                uow.commit()
            return
        trigger_id = body.get("trigger_id")
        if not trigger_id:
            raise ValueError("a form needs the trigger of the press that asked for it")
        zone = self.people.zone(user_id)
        metadata = ChasingFormMetadata(invoice_id, getattr(zone, "key", "UTC"), channel_id or "").dump()
        if action_id == ActionId.CHASE_PROMISE:
            if invoice.chase.disputed:
                self._say(body, f"{escape(invoice.title)} is disputed: resolve the dispute first.")
                return
            view = blocks.promise_modal(invoice, metadata, chasing.local_today(self.clock(), zone))
        elif action_id == ActionId.CHASE_DISPUTE:
            view = blocks.dispute_modal(invoice, metadata)
        else:
            view = blocks.cadence_modal(invoice, metadata, self.chasing.cadence())
        self.slack.call("views.open", trigger_id=trigger_id, view=view)

    def _say(self, body: dict[str, Any], text: str) -> None:
        url = body.get("response_url")
        if url:
            self.slack.respond(str(url), text)
        else:
            self.slack.tell_user((body.get("channel") or {}).get("id"), str(body["user"]["id"]), text)

    # --- the change ---------------------------------------------------------------------------------
    def change(self, job: ChangeChasing, job_key: str) -> None:
        try:
            self._change(job, job_key)
        except NotChanged as refused:
            self._tell(job, f":x: {refused.message} Nothing was changed.", ok=False)

    def _change(self, job: ChangeChasing, job_key: str) -> None:
        invoice = self.store.reads.invoices.get(job.invoice_id)
        if invoice is None:
            raise NotChanged("I don't know that invoice any more.")
        refusal = self.access.refusal(Action.CHASE, job.user_id, invoice)
        if refusal:
            raise NotChanged(refusal)
        if invoice.status != "open":
            raise NotChanged(f"{escape(invoice.title)} is {escape(invoice.status)}: only open invoices are chased.")
        if any(entry.detail.get("request") == job.request for entry in self.store.reads.audit.for_invoice(
                job.invoice_id)):
            self._tell(job, "Done.", ok=True)  # this job's earlier run made the change; only its answer failed
            return
        now = self.clock()
        changed, reply = self._changed(invoice.chase, job, now)
        result = self.stripe.update_invoice_metadata(
            job.invoice_id, changed.metadata(), f"chasing:{job.change}:{job.invoice_id}:{job.request}")
        with self.store.unit_of_work() as uow:
            held = uow.invoices.get_many([job.invoice_id], for_update=True).get(job.invoice_id, invoice)
            # As Stripe now has it; what only the store keeps (skips, a snooze) as the row has it now.
            changed = replace(changed, skipped=held.chase.skipped, snoozed_until=held.chase.snoozed_until)
            uow.invoices.apply(snapshot_from_stripe(result).keeping_lines_of(held), int(now))
            uow.invoices.set_chasing(job.invoice_id, changed, now)
            uow.audit.add(job.user_id, AUDITED[job.change], job.invoice_id, {"invoice": job.invoice_id},
                          {**_detail(job), "request": job.request})
            uow.jobs.add(PublishInvoice(invoice_id=job.invoice_id, reply=reply), key=f"publish:{job_key}")
            if job.change == "dispute":
                uow.jobs.add(DisputeNotice(invoice_id=job.invoice_id, user_id=job.user_id),
                             key=f"dispute_notice:{job_key}")
            uow.commit()
        self._tell(job, reply, ok=True)

    def _changed(self, state: ChaseState, job: ChangeChasing, now: float) -> tuple[ChaseState, str]:
        """The state after the change, and the line for the invoice's thread (mrkdwn, escaped)."""
        who = f"<@{job.user_id}>"
        if job.change == "promise":
            if state.disputed:
                raise NotChanged("The invoice is disputed: resolve the dispute first.")
            until = date.fromisoformat(job.promised_until or "")
            refusal = chasing.promise_refusal(until, chasing.local_today(now, self.people.zone(job.user_id)))
            if refusal:
                raise NotChanged(f"{refusal}.")
            note = f" ({escape(job.note)})" if job.note else ""
            return (state.promising(until, job.note),
                    f":handshake: {who} noted a promise to pay by {chasing.format_day(until)}{note}: no reminder "
                    "until then.")
        if job.change == "dispute":
            if state.disputed:
                raise NotChanged("The invoice is disputed already.")
            return (state.disputing(job.reason or "", job.user_id, now),
                    f":triangular_flag_on_post: Marked disputed by {who}: “{escape(job.reason)}”. Not chased until "
                    "it is resolved; invoicing admins are told.")
        if job.change == "resolve":
            if not (state.disputed or state.promised_until is not None):
                raise NotChanged("It has no dispute or promise to resolve.")
            return state.resolved(), f":white_check_mark: Resolved by {who}: chased on its schedule again."
        days = chasing.read_cadence(job.days) if job.days else None
        if days is None:
            text = f"back to the workspace's schedule ({chasing.describe_cadence(self.chasing.cadence())})"
        else:
            text = "off: no reminders" if not days else chasing.describe_cadence(days)
        return state.with_days(days), f":calendar: {who} set this invoice's chasing: {text}."

    def _tell(self, job: ChangeChasing, text: str, *, ok: bool) -> None:
        if job.view_id and self.slack.update_view(job.view_id, blocks.status_view(
                "Saved" if ok else "Not changed", text)):
            return
        if not ok or job.view_id:
            self.slack.tell_user(job.channel_id, job.user_id, text)

    def not_changed(self, job: ChangeChasing, reason: str) -> None:
        """Stripe refused the change for good (or it ran out of attempts)."""
        self._tell(job, f":x: I couldn't record that in Stripe: {escape(reason)}. Nothing was changed.", ok=False)


def _detail(job: ChangeChasing) -> dict[str, Any]:
    if job.change == "promise":
        return {"promised_until": job.promised_until, "note": job.note}
    if job.change == "dispute":
        return {"reason": job.reason}
    if job.change == "cadence":
        return {"days": job.days or "default"}
    return {}

