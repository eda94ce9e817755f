"""Create and send an invoice from the modal; act on an existing invoice from its buttons.

Runs in the worker, never in a Slack request. Every Stripe write carries an idempotency key
derived from the request (the modal's `view_id` and the step, or the invoice id and the
action), so a retry, a double submit or a crash followed by a restart finishes the same
invoice instead of creating another. Stripe work and Slack work are separate jobs: the Stripe
steps end by queueing `PublishInvoice` in the same transaction that records their result, so a
Slack outage never replays Stripe calls.

An invoice above its currency's `APPROVAL_LIMITS` is not sent: it stays a draft, held for an approver
(`bot/services/approvals.py`); once approved, `send_approved` finalizes and sends it with the keys the
step that held it would have used, so nothing is ever sent twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot import blocks, money
from bot.adapters.slack import SlackOut
from bot.adapters.stripe import LineItem, StripeFailure, StripeGateway
from bot.domain.approvals import PENDING, REJECTED, Approval, limit_exceeded
from bot.domain.invoices import Invoice, InvoiceLine, snapshot_from_stripe, snapshot_of
from bot.domain.records import Customer
from bot.errors import GiveUp
from bot.jobs.model import JobPayload
from bot.jobs.payloads import CreateInvoice, InvoiceAction, InvoiceActionName, PublishInvoice
from bot.mrkdwn import escape, link
from bot.services import invoice_extras
from bot.services.approvals import held_text, hold_for_approval
from bot.services.messages import InvoiceMessages
from bot.store.ports import UnitOfWork
from bot.store.scope import TenantScope

logger = logging.getLogger(__name__)

REMINDER_INTERVAL = 24 * 3600
Clock = Callable[[], float]


class Invoicing:
    def __init__(self, store: TenantScope, stripe: StripeGateway, slack: SlackOut, messages: InvoiceMessages,
                 clock: Clock = time.time, *, limits: Mapping[str, int] | None = None) -> None:
        self.store = store
        self.stripe = stripe
        self.slack = slack
        self.messages = messages
        self.clock = clock
        self.limits: Mapping[str, int] = limits or {}  # APPROVAL_LIMITS, minor units per currency

    # --- create -------------------------------------------------------------------------------
    def create(self, submission: CreateInvoice) -> str:
        """The Stripe steps, each idempotent: customer, draft, lines, finalize and send. Returns the id.

        The invoices table remembers each form's view id for ever. When the form already has an
        invoice (this job tried before, or the form came again after its job was pruned), the steps
        go on from what that invoice shows was done, not from the idempotency keys alone, which
        Stripe forgets after 24 hours: its lines are not added again, a finalized invoice is not
        finalized again, a sent one is not sent again, and an abandoned one stays abandoned."""
        key = submission.view_id
        existing = self.store.reads.invoices.by_view(key)
        if existing is not None and existing.status == "deleted":
            logger.info("form %s came again; its invoice %s was abandoned", key, existing.stripe_id)
            self.slack.update_view(key, blocks.status_view(
                "Invoice not created", ":x: Stripe refused this form before; nothing was sent. Open a new form "
                                       "to try again."))
            return existing.stripe_id
        if existing is None:  # a code or tax rate gone from Stripe since the form was checked: nothing is made
            invoice_extras.verify(self.store, self.stripe, submission)
        invoice_id = existing.stripe_id if existing else self._ensure_draft(submission,
                                                                             self._ensure_customer(submission))
        invoice: dict[str, Any] | None = None
        status = existing.status if existing else "draft"
        if existing is None or len(existing.lines) < len(submission.lines):
            line_items = [LineItem(quantity=line.quantity, price_id=line.price_id, description=line.description,
                                   unit_amount=line.unit_amount) for line in submission.lines]
            invoice = self.stripe.add_lines(invoice_id, line_items, submission.currency, f"{key}:lines")
            status = str(invoice.get("status") or status)
        send = submission.send_now and not self._was_sent(invoice_id)
        # Above its currency's limit it is held for an approver; once held, the approval sends it (with the
        # keys below), never this job again.
        total = int(invoice["total"] or 0) if invoice is not None else existing.total if existing else 0
        held = self.store.reads.approvals.get(invoice_id) is not None if send else False
        limit = limit_exceeded(total, submission.currency, self.limits) if send and not held else None
        if held or limit is not None:
            send = False
        if send and status == "draft":
            self.stripe.finalize_invoice(invoice_id, f"{key}:finalize")
        if send:
            invoice = self.stripe.send_invoice(invoice_id, f"{key}:send")
        if invoice is None:
            logger.info("form %s came again; invoice %s already has its lines and was sent as asked", key,
                        invoice_id)
        # The rep's own words describe the lines (Stripe leaves a catalog line's description empty).
        lines = tuple(InvoiceLine(line.description, line.quantity, line.unit_amount * line.quantity)
                      for line in submission.lines)
        with self.store.unit_of_work() as uow:
            if invoice is not None:
                uow.invoices.apply(snapshot_from_stripe(invoice).with_lines(lines), int(self.clock()))
            if send:
                _audit_once(uow, submission.user_id, "send", invoice_id)
            if limit is not None:
                hold_for_approval(uow, Approval(invoice_id, PENDING, requested_by=submission.user_id, key_base=key,
                                                total=total, currency=submission.currency, limit=limit,
                                                channel_id=submission.channel_id, view_id=key))
            uow.jobs.add(PublishInvoice(invoice_id=invoice_id, view_id=key, thread_ts=submission.thread_ts),
                         key=f"publish:{key}")
            uow.commit()
        return invoice_id

    def _was_sent(self, invoice_id: str) -> bool:
        """Sent by this form's job (recorded with the result) or by a rep's Send button."""
        return any(entry.action == "send" for entry in self.store.reads.audit.for_invoice(invoice_id))

    def _ensure_draft(self, submission: CreateInvoice, customer: Customer) -> str:
        key = submission.view_id
        invoice = self.stripe.create_invoice(
            customer_id=customer.stripe_id,
            currency=submission.currency,
            days_until_due=submission.days_until_due,
            description=submission.memo,
            metadata={"slack_team": submission.team_id, "slack_channel": submission.channel_id,
                      "slack_user": submission.user_id, "created_via": "invoicebot"},
            idempotency_key=f"{key}:invoice",
            extras=invoice_extras.gateway_extras(submission),  # tax, discount, custom fields, footer
        )
        snapshot = snapshot_from_stripe(invoice)
        snapshot = snapshot.with_customer(customer.name or None, customer.email or None)
        with self.store.unit_of_work() as uow:
            uow.invoices.add_own(snapshot, channel_id=submission.channel_id, rep_user_id=submission.user_id,
                                 team_id=submission.team_id, view_id=key)
            uow.audit.add(submission.user_id, "create", snapshot.stripe_id,
                          {"invoice": snapshot.stripe_id, "customer": customer.stripe_id},
                          {"currency": submission.currency, "lines": len(submission.lines),
                           "send_now": submission.send_now})
            uow.commit()
        return snapshot.stripe_id

    def customer_for(self, submission: CreateInvoice) -> Customer:
        """The form's customer, found or created (`{view}:customer`); a repeating invoice's too (recurring.py)."""
        return self._ensure_customer(submission)

    def _ensure_customer(self, submission: CreateInvoice) -> Customer:
        reads = self.store.reads.customers
        if submission.customer_id:
            known = reads.get(submission.customer_id)
            if known:
                return known
            return self._remember(self.stripe.get_customer(submission.customer_id), "")
        email = (submission.customer_email or "").lower()
        known = reads.by_email(email)
        if known:
            return known
        found = self.stripe.find_customer_by_email(email)
        if found is None:
            found = self.stripe.create_customer(
                name=submission.customer_name or email,
                email=email,
                description=f"Created from Slack by user {submission.user_id}",
                metadata={"slack_user": submission.user_id, "created_via": "invoicebot"},
                idempotency_key=f"{submission.view_id}:customer",
            )
        return self._remember(found, email)

    def _remember(self, customer: dict[str, Any], email: str) -> Customer:
        record = Customer(str(customer["id"]), (customer.get("email") or email).lower(), customer.get("name") or "")
        with self.store.unit_of_work() as uow:
            uow.customers.save(record.stripe_id, record.email, record.name)
            uow.commit()
        return record

    def abandon(self, submission: CreateInvoice, reason: str) -> None:
        """Stripe refused a step for good: delete the half-built draft and tell the rep why."""
        invoice = self.store.reads.invoices.by_view(submission.view_id)
        if invoice is not None and invoice.status == "draft":
            try:
                self.stripe.delete_draft(invoice.stripe_id)
            except StripeFailure as failure:
                logger.error("could not delete draft %s: %s", invoice.stripe_id, failure.message)
            else:
                with self.store.unit_of_work() as uow:
                    uow.invoices.apply(snapshot_of(invoice).with_status("deleted"), int(self.clock()))
                    uow.commit()
        text = f":x: The invoice was not created: Stripe said “{escape(reason)}”. Nothing was sent."
        self.slack.update_view(submission.view_id, blocks.status_view("Invoice not created", text))
        self.slack.tell_user(submission.channel_id, submission.user_id, text)

    # --- its message ----------------------------------------------------------------------------
    def publish(self, job: PublishInvoice, job_key: str) -> None:
        """Post or refresh the invoice's message; close the modal's loop; add the thread note."""
        invoice = self.store.reads.invoices.get(job.invoice_id)
        if invoice is None:
            raise GiveUp(f"unknown invoice {job.invoice_id}")
        invoice = self.messages.publish(invoice, thread_ts=job.thread_ts)
        if job.view_id:
            approval = self.store.reads.approvals.get(invoice.stripe_id) if invoice.approval == PENDING else None
            self.slack.update_view(job.view_id, blocks.status_view("Sent for approval", held_text(
                invoice, approval.total, approval.limit)) if approval is not None and approval.pending
                else blocks.status_view("Invoice created", created_text(invoice)))
        if job.reply and invoice.channel_id and invoice.message_ts:
            self.messages.courier.post_once(f"reply:{job_key}", invoice.channel_id, job.reply,
                                            thread_ts=invoice.message_ts)

    # --- actions on an existing invoice -------------------------------------------------------
    def act(self, job: InvoiceAction, job_key: str) -> None:
        invoice = self.store.reads.invoices.get(job.invoice_id)
        if invoice is None:
            raise GiveUp(f"unknown invoice {job.invoice_id}")
        now = self.clock()
        if job.action == "send" and self._held_instead(invoice, job, job_key):
            return
        if job.action == "remind" and now - (invoice.last_reminded_at or 0) < REMINDER_INTERVAL:
            self.slack.tell_user(job.channel_id, job.user_id, "A reminder already went out in the last 24 hours; "
                                 "Stripe emails at most one a day from here.")
            return
        result, reply = ACTIONS[job.action](self.stripe, job.invoice_id, job.user_id, now)
        with self.store.unit_of_work() as uow:
            uow.audit.add(job.user_id, job.action, job.invoice_id, {"invoice": job.invoice_id},
                          {"status": result.get("status")})
            uow.invoices.apply(snapshot_from_stripe(result).keeping_lines_of(invoice), int(now))
            if job.action == "remind":
                uow.invoices.mark_reminded(job.invoice_id, now)
            uow.jobs.add(PublishInvoice(invoice_id=job.invoice_id, reply=reply), key=f"publish:{job_key}")
            uow.commit()

    # --- held for approval (bot/services/approvals.py) ----------------------------------------------
    def _held_instead(self, invoice: Invoice, job: InvoiceAction, job_key: str) -> bool:
        """A draft's Send: one above its currency's limit is held for an approver instead (keyed to the
        invoice, as `_send` is), one held already keeps waiting. True when it was not to be sent now."""
        approval = self.store.reads.approvals.get(invoice.stripe_id)
        if approval is not None and approval.status in (PENDING, REJECTED):
            verb = "is waiting for approval: it goes out once an approver approves it" if approval.pending \
                else "was rejected by an approver and can't be sent"
            self.slack.tell_user(job.channel_id, job.user_id, f"{escape(invoice.title)} {verb}.")
            return True
        if approval is not None or invoice.currency.lower() not in self.limits:
            return False  # approved (a send that failed after the approval, tried again), or no limit to keep
        # The total as Stripe has it now, not as the stored copy last heard it: nothing above the limit slips out.
        total = int(self.stripe.get_invoice(invoice.stripe_id).get("total") or 0)
        limit = limit_exceeded(total, invoice.currency, self.limits)
        if limit is None:
            return False
        with self.store.unit_of_work() as uow:
            hold_for_approval(uow, Approval(invoice.stripe_id, PENDING, requested_by=job.user_id,
                                            key_base=invoice.stripe_id, total=total, currency=invoice.currency,
                                            limit=limit, channel_id=job.channel_id))
            uow.jobs.add(PublishInvoice(invoice_id=invoice.stripe_id, reply=f"Sent for approval by <@{job.user_id}>: "
                                        "above the approval limit"), key=f"publish:{job_key}")
            uow.commit()
        self.slack.tell_user(job.channel_id, job.user_id, held_text(invoice, total, limit))
        return True

    def send_approved(self, approval: Approval, then: Sequence[tuple[JobPayload, str]]) -> None:
        """Approved: finalize and send with the very keys of the step that held it (`{view}:finalize` and
        `{view}:send` for the form, `{invoice}:...` for a draft's Send), recorded with `then` (the news).
        Run again, it sends nothing twice: a send already recorded is not repeated."""
        invoice = self.store.reads.invoices.get(approval.invoice_id)
        if invoice is None:
            raise GiveUp(f"unknown invoice {approval.invoice_id}")
        invoice_id, key = invoice.stripe_id, approval.key_base
        result: dict[str, Any] | None = None
        if not self._was_sent(invoice_id):
            if invoice.status == "draft":
                self.stripe.finalize_invoice(invoice_id, f"{key}:finalize")
            result = self.stripe.send_invoice(invoice_id, f"{key}:send")
        with self.store.unit_of_work() as uow:
            if result is not None:
                uow.invoices.apply(snapshot_from_stripe(result).keeping_lines_of(invoice), int(self.clock()))
            if not any(entry.action == "send" for entry in uow.audit.for_invoice(invoice_id)):
                uow.audit.add(approval.requested_by, "send", invoice_id, {"invoice": invoice_id},
                              {"approved_by": approval.decided_by})
            uow.jobs.add(PublishInvoice(invoice_id=invoice_id, reply=f"Approved by <@{approval.decided_by}> and "
                                        "sent to the customer"), key=f"publish:approved:{invoice_id}")
            for payload, job_key in then:
                uow.jobs.add(payload, key=job_key)
            uow.commit()

    def discard_rejected(self, approval: Approval, then: Sequence[tuple[JobPayload, str]]) -> None:
        """Rejected: the held draft is deleted in Stripe (voided, were it finalized meanwhile), recorded with
        `then`. Run again, a draft Stripe no longer has counts as deleted."""
        invoice = self.store.reads.invoices.get(approval.invoice_id)
        if invoice is None:
            raise GiveUp(f"unknown invoice {approval.invoice_id}")
        invoice_id = invoice.stripe_id
        status = invoice.status
        if status == "draft":
            try:
                self.stripe.delete_draft(invoice_id)
            except StripeFailure as failure:
                if failure.status != 404:
                    raise
            status = "deleted"
        elif status in ("open", "uncollectible"):
            status = str(self.stripe.void_invoice(invoice_id, f"{invoice_id}:void").get("status") or "void")
        reason = f": “{escape(approval.reason)}”" if approval.reason else ""
        with self.store.unit_of_work() as uow:
            if status != invoice.status:
                uow.invoices.apply(snapshot_of(invoice).with_status(status), int(self.clock()))
            uow.jobs.add(PublishInvoice(invoice_id=invoice_id, reply=f"Rejected by <@{approval.decided_by}>{reason}. "
                                        "Nothing was sent to the customer."), key=f"publish:rejected:{invoice_id}")
            for payload, job_key in then:
                uow.jobs.add(payload, key=job_key)
            uow.commit()

    def refusal_text(self, job: InvoiceAction, reason: str) -> str:
        invoice = self.store.reads.invoices.get(job.invoice_id)
        title = invoice.title if invoice else "the invoice"
        return f":x: Stripe refused to {job.action} {escape(title)}: {escape(reason)}"


def _send(stripe: StripeGateway, invoice_id: str, user_id: str, now: float) -> tuple[dict[str, Any], str]:
    stripe.finalize_invoice(invoice_id, f"{invoice_id}:finalize")
    return stripe.send_invoice(invoice_id, f"{invoice_id}:send"), f"Finalized and sent by <@{user_id}>"


def _void(stripe: StripeGateway, invoice_id: str, user_id: str, now: float) -> tuple[dict[str, Any], str]:
    return stripe.void_invoice(invoice_id, f"{invoice_id}:void"), f"Voided by <@{user_id}>"


def _write_off(stripe: StripeGateway, invoice_id: str, user_id: str, now: float) -> tuple[dict[str, Any], str]:
    return (stripe.mark_uncollectible(invoice_id, f"{invoice_id}:uncollectible"),
            f"Marked uncollectible by <@{user_id}>")


def _remind(stripe: StripeGateway, invoice_id: str, user_id: str, now: float) -> tuple[dict[str, Any], str]:
    day = time.strftime("%Y-%m-%d", time.gmtime(now))
    return (stripe.send_invoice(invoice_id, f"{invoice_id}:remind:{day}"),
            f"Reminder emailed to the customer, sent by <@{user_id}>")


Action = Callable[[StripeGateway, str, str, float], tuple[dict[str, Any], str]]
ACTIONS: dict[InvoiceActionName, Action] = {
    "send": _send, "void": _void, "uncollectible": _write_off, "remind": _remind,
}


def _audit_once(uow: UnitOfWork, actor: str, action: str, invoice_id: str) -> None:
    """Audit an action of a job that may run again after a crash, once."""
    if not any(entry.action == action for entry in uow.audit.for_invoice(invoice_id)):
        uow.audit.add(actor, action, invoice_id, {"invoice": invoice_id}, {})


def created_text(invoice: Invoice) -> str:
    total = money.format_amount(invoice.total, invoice.currency)
    verb = "sent to" if invoice.status == "open" else "saved as a draft for"
    text = (f":white_check_mark: {escape(invoice.title)} for {escape(total)} "
            f"{verb} {escape(invoice.customer_label or 'the customer')}.")
    links = " · ".join(found for found in (link(invoice.hosted_url, "Open the hosted invoice"),
                                            link(invoice.pdf_url, "Download the PDF")) if found)
    return f"{text}\n{links}" if links else text
