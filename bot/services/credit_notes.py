"""Credit notes and refunds, and payments received outside Stripe, from the invoice's message.

**Issue credit note** (an open or paid invoice with something left to credit) opens a form from the `replies`
lane, within Slack's 3 s of the press: the whole invoice, chosen lines or an amount; Stripe's reason; where
the part already paid goes (refund to the original payment, the customer's balance, or out of band); a memo.
The listener checks it against the invoice as the store knows it (`bot/credit_forms.py`: never more than what
was paid or is due, each mistake on its field) and queues `PreviewCreditNote`. That job asks Stripe for the
credit note's preview (`GET /v1/credit_notes/preview`, every one of Stripe's rules checked, nothing made) and
shows it in the same view with a confirm button; a refusal puts the form back as typed, with Stripe's reason.
Confirming queues `IssueCreditNote` with the very parameters previewed; its Stripe idempotency key (and its
job's key) is the form's view id and a digest of those parameters, so a double click issues one credit note,
and a retry after a crash finds the same one. The invoice's message then shows "Credited", its thread says
who issued what, and the audit log keeps it. Stripe's `credit_note.created` and `.voided` events are decided
like the rest (bot/domain/notices.py): deduped by event id, in any order, announced.

**Mark paid outside Stripe** (an open invoice) asks for confirmation, then for how the money came and a note;
`RecordOfflinePayment` calls Stripe's `pay` with `paid_out_of_band` (keyed by the form's view), records it in
the audit log, says it in the thread, and announces the payment once: whichever of this job and Stripe's
`invoice.paid` event makes the invoice paid in the store announces it.

Every press and every job asks `bot.access` (`Action.CREDIT`, `Action.MARK_PAID`: the invoice's rep and admins).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from bot import blocks, money
from bot.access import Access, Action
from bot.adapters.slack import SlackOut
from bot.adapters.stripe import StripeFailure, StripeGateway
from bot.blocks import ActionId
from bot.credit_forms import (
    CREDITABLE_STATUSES,
    OFFLINE_METHODS,
    MoneyFormMetadata,
    confirmation_metadata,
    credit_note_confirmation,
    credit_note_modal,
    credit_note_params,
    pay_outside_modal,
    request_key,
)
from bot.domain.invoices import Invoice, snapshot_from_stripe
from bot.domain.notices import credit_note_line
from bot.jobs.payloads import ChannelNotice, IssueCreditNote, PreviewCreditNote, PublishInvoice, RecordOfflinePayment
from bot.mrkdwn import escape
from bot.store.ports import UnitOfWork
from bot.store.scope import TenantScope

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Route = Callable[[UnitOfWork, Invoice], str]  # the channel an invoice's payment news goes to
UNKNOWN = "I don't know that invoice any more; it may have been deleted."
LINES_CHANGED = ("The invoice's lines are not what they were when this form opened: open it again from the "
                 "invoice's message.")


class NotDone(Exception):
    """What was asked cannot be done (any more): `message` says why (mrkdwn, escaped); nothing was changed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def credit_refusal(invoice: Invoice) -> str | None:
    """Why `invoice` takes no credit note (escaped), or None."""
    if invoice.status not in CREDITABLE_STATUSES:
        return (f"{escape(invoice.title)} is {escape(invoice.status)}: only open or paid invoices take credit "
                "notes.")
    if invoice.creditable <= 0:
        credited = money.format_amount(invoice.credited, invoice.currency)
        return f"Nothing is left to credit on {escape(invoice.title)} ({escape(credited)} credited already)."
    return None


class CreditNotes:
    def __init__(self, store: TenantScope, stripe: StripeGateway, slack: SlackOut, access: Access, *,
                 route: Route, clock: Clock = time.time) -> None:
        self.store = store
        self.stripe = stripe
        self.slack = slack
        self.access = access
        self.route = route
        self.clock = clock

    # --- the buttons --------------------------------------------------------------------------------
    def answer(self, body: dict[str, Any], job_key: str) -> None:
        """"Issue credit note" or "Mark paid outside Stripe" pressed: who may, then its form."""
        pressed = body["actions"][0]
        user_id = str(body["user"]["id"])
        channel_id = (body.get("channel") or {}).get("id")
        invoice = self.store.reads.invoices.get(str(pressed.get("value") or "")[:100])
        if invoice is None:
            self._say(body, UNKNOWN)
            return
        crediting = pressed["action_id"] == ActionId.CREDIT_NOTE
        refusal = self.access.refusal(Action.CREDIT if crediting else Action.MARK_PAID, user_id, invoice)
        if refusal is None:
            refusal = credit_refusal(invoice) if crediting else (
                None if invoice.status == "open" else
                f"{escape(invoice.title)} is {escape(invoice.status)}: only an open invoice can be marked paid.")
        if refusal:
            self._say(body, refusal)
            return
        trigger_id = body.get("trigger_id")
        if not trigger_id:
            raise ValueError("a form needs the trigger of the press that asked for it")
        metadata = MoneyFormMetadata(invoice.stripe_id, str(channel_id or "")).dump()
        view = credit_note_modal(invoice, metadata) if crediting else pay_outside_modal(invoice, metadata)
        self.slack.call("views.open", trigger_id=trigger_id, view=view)

    def _say(self, body: dict[str, Any], text: str) -> None:
        url = body.get("response_url")
        if url:
            self.slack.respond(str(url), text)
        else:
            self.slack.tell_user((body.get("channel") or {}).get("id"), str(body["user"]["id"]), text)

    # --- the credit note: preview, then issue ------------------------------------------------------------
    def preview(self, job: PreviewCreditNote, job_key: str) -> None:
        """Stripe's preview of the request, in the form, with the button that issues it; or the form again with
        Stripe's reason. Nothing is made in Stripe here."""
        invoice = self.store.reads.invoices.get(job.invoice_id)
        if invoice is None:
            self._tell(job.view_id, job.channel_id, job.user_id, "Not issued", f":x: {UNKNOWN}")
            return
        refusal = self.access.refusal(Action.CREDIT, job.user_id, invoice)
        if refusal:
            self._tell(job.view_id, job.channel_id, job.user_id, "Not allowed", refusal)
            return
        metadata = MoneyFormMetadata(job.invoice_id, job.channel_id or "")
        request = job.request
        shown = invoice
        try:
            fresh = self.stripe.get_invoice(job.invoice_id)  # what is due and paid as Stripe has it now
            # Shown as Stripe has it now; the store takes it from Stripe's own events (which announce any news).
            shown = _as_stripe_has_it(invoice, fresh)
            remaining = shown.amount_remaining
            if request.amount > shown.creditable:
                left = money.format_amount(shown.creditable, shown.currency)
                raise NotDone(f"At most {escape(left)} can be credited on {escape(shown.title)} now.")
            if request.amount > remaining and request.method is None:
                raise NotDone("Part of this credit was paid already: choose where it goes back.")
            line_items = self._chosen_lines(job, invoice) if request.what == "lines" else []
            params = credit_note_params(job.invoice_id, request, line_items, remaining, user_id=job.user_id,
                                        view_id=job.view_id)
            preview = self.stripe.preview_credit_note(params)
        except StripeFailure as failure:
            if failure.retryable:
                raise
            self._form_again(job, shown, f"Stripe refused this credit note: {escape(failure.message)}")
            return
        except NotDone as refused:
            self._form_again(job, shown, refused.message)
            return
        self.slack.update_view(job.view_id, credit_note_confirmation(
            shown, preview, request, confirmation_metadata(metadata, request, params), remaining=remaining))

    def _chosen_lines(self, job: PreviewCreditNote, invoice: Invoice) -> list[tuple[str, int]]:
        """The chosen lines as Stripe has them (id, amount), matched by position with the lines the form
        offered; a line that is not what the form showed is refused, never guessed."""
        in_stripe = self.stripe.invoice_line_items(job.invoice_id)
        chosen: list[tuple[str, int]] = []
        for position in job.request.lines:
            if position >= len(invoice.lines) or position >= len(in_stripe):
                raise NotDone(LINES_CHANGED)
            line = in_stripe[position]
            if int(line.get("amount") or 0) != invoice.lines[position].amount or not line.get("id"):
                raise NotDone(LINES_CHANGED)
            chosen.append((str(line["id"]), invoice.lines[position].amount))
        return chosen

    def _form_again(self, job: PreviewCreditNote, invoice: Invoice, error: str) -> None:
        request = job.request
        typed = money.format_amount(request.amount, invoice.currency) if request.what == "amount" else None
        self.slack.update_view(job.view_id, credit_note_modal(
            invoice, MoneyFormMetadata(job.invoice_id, job.channel_id or "").dump(), values=request,
            amount_text=typed, error=f"{error} Change it and preview again: nothing was issued."))

    def issue(self, job: IssueCreditNote, job_key: str) -> None:
        try:
            self._issue(job, job_key)
        except NotDone as refused:
            self._tell(job.view_id, job.channel_id, job.user_id, "Not issued",
                       f":x: {refused.message} Nothing was issued.")

    def _issue(self, job: IssueCreditNote, job_key: str) -> None:
        invoice = self.store.reads.invoices.get(job.invoice_id)
        if invoice is None:
            raise NotDone(UNKNOWN)
        refusal = self.access.refusal(Action.CREDIT, job.user_id, invoice)
        if refusal:
            raise NotDone(refusal)
        if job.params.get("invoice") != job.invoice_id:
            raise NotDone("This confirmation is not about this invoice.")
        key = request_key(job.view_id, job.params)
        done = next((entry for entry in self.store.reads.audit.for_invoice(job.invoice_id)
                     if entry.action == "credit_note" and entry.detail.get("request") == key), None)
        if done is not None:  # this job's earlier run issued it; only its answer failed
            self._tell(job.view_id, job.channel_id, job.user_id, "Credit note issued",
                       f":white_check_mark: Credit note {escape(str(done.detail.get('number') or ''))} was issued.")
            return
        # Stripe checks every rule again: what was previewed may no longer hold (a payment, another credit note).
        note = self.stripe.create_credit_note(job.params, f"credit_note:{key}")
        try:
            fresh: dict[str, Any] | None = self.stripe.get_invoice(job.invoice_id)
        except StripeFailure as failure:  # the credit note is made: its events bring the invoice's new figures
            if failure.retryable:
                raise
            logger.warning("could not read %s back after its credit note: %s", job.invoice_id, failure.message)
            fresh = None
        line = credit_note_line(note, invoice.currency, by=job.user_id)
        now = self.clock()
        with self.store.unit_of_work() as uow:
            held = uow.invoices.get_many([job.invoice_id], for_update=True).get(job.invoice_id, invoice)
            # Only its figures: a change of status (a full credit pays it) is news its own events announce.
            if fresh is not None and str(fresh.get("status")) == held.status:
                uow.invoices.apply(snapshot_from_stripe(fresh).keeping_lines_of(held), int(now), held)
            uow.audit.add(job.user_id, "credit_note", job.invoice_id,
                          {"invoice": job.invoice_id, "credit_note": str(note.get("id"))},
                          {"number": note.get("number"), "amount": note.get("total"), "what": job.request.what,
                           "reason": job.request.reason, "method": job.request.method, "memo": job.request.memo,
                           "request": key})
            uow.jobs.add(PublishInvoice(invoice_id=job.invoice_id, reply=line), key=f"publish:{job_key}")
            uow.commit()
        self._tell(job.view_id, job.channel_id, job.user_id, "Credit note issued",
                   f"{line}.\nStripe emails the customer the credit note; the invoice's message "
                   "and thread show it.")

    def not_previewed(self, job: PreviewCreditNote, reason: str) -> None:
        """The preview's job gave up (Stripe out of reach for too long)."""
        self._tell(job.view_id, job.channel_id, job.user_id, "Not issued",
                   f":warning: I couldn't get Stripe's preview: {escape(reason)}. Nothing was issued; try again.")

    def not_issued(self, job: IssueCreditNote, reason: str) -> None:
        """Stripe refused the credit note for good (or could not be reached for too long)."""
        self._tell(job.view_id, job.channel_id, job.user_id, "Not issued",
                   f":x: Stripe refused the credit note: {escape(reason)}. Nothing was issued.")

    # --- a payment received outside Stripe --------------------------------------------------------------------
    def record_payment(self, job: RecordOfflinePayment, job_key: str) -> None:
        try:
            self._record_payment(job, job_key)
        except NotDone as refused:
            self._tell(job.view_id, job.channel_id, job.user_id, "Not marked paid",
                       f":x: {refused.message} Nothing was changed.")

    def _record_payment(self, job: RecordOfflinePayment, job_key: str) -> None:
        invoice = self.store.reads.invoices.get(job.invoice_id)
        if invoice is None:
            raise NotDone(UNKNOWN)
        refusal = self.access.refusal(Action.MARK_PAID, job.user_id, invoice)
        if refusal:
            raise NotDone(refusal)
        if any(entry.action == "paid_outside" and entry.detail.get("request") == job.view_id
               for entry in self.store.reads.audit.for_invoice(job.invoice_id)):
            self._tell(job.view_id, job.channel_id, job.user_id, "Marked paid",
                       f":white_check_mark: {escape(invoice.title)} is marked paid outside Stripe.")
            return
        if invoice.status not in ("open", "uncollectible"):
            raise NotDone(f"{escape(invoice.title)} is {escape(invoice.status)} already.")
        try:
            result = self.stripe.pay_out_of_band(job.invoice_id, f"pay_outside:{job.view_id}")
        except StripeFailure as failure:
            if failure.retryable:
                raise
            raise NotDone(f"Stripe refused: {escape(failure.message)}.") from None
        how = OFFLINE_METHODS.get(job.method, job.method)
        line = (f":money_with_wings: Marked paid outside Stripe by <@{job.user_id}> ({escape(how.lower())}): "
                f"“{escape(job.note)}”")
        now = self.clock()
        with self.store.unit_of_work() as uow:
            held = uow.invoices.get_many([job.invoice_id], for_update=True).get(job.invoice_id, invoice)
            change = uow.invoices.apply(snapshot_from_stripe(result).keeping_lines_of(held), int(now), held)
            uow.audit.add(job.user_id, "paid_outside", job.invoice_id, {"invoice": job.invoice_id},
                          {"method": job.method, "note": job.note, "amount": result.get("amount_paid"),
                           "request": job.view_id})
            uow.jobs.add(PublishInvoice(invoice_id=job.invoice_id, reply=line), key=f"publish:{job_key}")
            paid = uow.invoices.get(job.invoice_id) if change.status_changed and change.status == "paid" else None
            if paid is not None:  # first to know it is paid (before Stripe's event): the payments channel hears it
                channel = self.route(uow, paid)
                uow.jobs.add(ChannelNotice(channel=channel, kind="paid", invoice_id=job.invoice_id, text=line,
                                           own=paid.made_in_slack),
                             key=f"notice:pay_outside:{job.view_id}:{channel}", channel=channel)
            uow.commit()
        self._tell(job.view_id, job.channel_id, job.user_id, "Marked paid",
                   f":white_check_mark: {escape(invoice.title)} is marked paid outside Stripe ({escape(how.lower())})."
                   " Stripe no longer collects it.")

    def not_recorded(self, job: RecordOfflinePayment, reason: str) -> None:
        self._tell(job.view_id, job.channel_id, job.user_id, "Not marked paid",
                   f":x: I couldn't record the payment in Stripe: {escape(reason)}. Nothing was changed.")

    # --- answers ------------------------------------------------------------------------------------------------
    def _tell(self, view_id: str, channel_id: str | None, user_id: str, title: str, text: str) -> None:
        """In the form, or where the button was pressed when the form was closed."""
        if not self.slack.update_view(view_id, blocks.status_view(title, text)):
            self.slack.tell_user(channel_id, user_id, text)


def _as_stripe_has_it(invoice: Invoice, fresh: dict[str, Any]) -> Invoice:
    """The stored invoice with Stripe's current figures, to show (never stored from here)."""
    snapshot = snapshot_from_stripe(fresh)
    return replace(invoice, status=snapshot.status, total=snapshot.total, amount_paid=snapshot.amount_paid,
                   amount_remaining=snapshot.amount_remaining,
                   credited_before_payment=snapshot.credited_before_payment,
                   credited_after_payment=snapshot.credited_after_payment)

