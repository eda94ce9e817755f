"""Create and send an invoice from the modal; act on an existing invoice from its buttons.

Runs in the worker, never in a Slack request. Every Stripe write carries an idempotency key
derived from the request (the modal's `view_id` and the step, or the invoice id and the
action), so a retry, a double submit or a crash followed by a restart finishes the same
invoice instead of creating another. Stripe work and Slack work are separate jobs: the Stripe
steps end by queueing `PublishInvoice` in the same transaction that records their result, so a
Slack outage never replays Stripe calls.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from bot import blocks, money
from bot.adapters.slack import SlackOut
from bot.adapters.stripe import LineItem, StripeFailure, StripeGateway
from bot.domain.invoices import Invoice, InvoiceLine, snapshot_from_stripe, snapshot_of
from bot.domain.records import Customer
from bot.errors import GiveUp
from bot.jobs.payloads import CreateInvoice, InvoiceAction, InvoiceActionName, PublishInvoice
from bot.mrkdwn import escape, link
from bot.services.messages import InvoiceMessages
from bot.store.ports import UnitOfWork
from bot.store.scope import TenantScope

logger = logging.getLogger(__name__)

REMINDER_INTERVAL = 24 * 3600
Clock = Callable[[], float]


class Invoicing:
    def __init__(self, store: TenantScope, stripe: StripeGateway, slack: SlackOut, messages: InvoiceMessages,
                 clock: Clock = time.time) -> None:
        self.store = store
        self.stripe = stripe
        self.slack = slack
        self.messages = messages
        self.clock = clock

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
            uow.jobs.add(PublishInvoice(invoice_id=invoice_id, view_id=key), key=f"publish:{key}")
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
        invoice = self.messages.publish(invoice)
        if job.view_id:
            self.slack.update_view(job.view_id, blocks.status_view("Invoice created", created_text(invoice)))
        if job.reply and invoice.channel_id and invoice.message_ts:
            self.messages.courier.post_once(f"reply:{job_key}", invoice.channel_id, job.reply,
                                            thread_ts=invoice.message_ts)

    # --- actions on an existing invoice -------------------------------------------------------
    def act(self, job: InvoiceAction, job_key: str) -> None:
        invoice = self.store.reads.invoices.get(job.invoice_id)
        if invoice is None:
            raise GiveUp(f"unknown invoice {job.invoice_id}")
        now = self.clock()
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
    hosted = link(invoice.hosted_url, "Open the hosted invoice")
    return f"{text}\n{hosted}" if hosted else text
