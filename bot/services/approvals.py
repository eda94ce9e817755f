"""Approval above a limit (`APPROVAL_LIMITS`): ask the approvers, take the first decision, carry it out.

An invoice above its currency's limit is created as a draft and held (`hold_for_approval`, in the unit
of work of the step that held it: the form's create, or a draft's Send button, `bot/services/invoicing.py`).
Its approvers (`bot.access`: APPROVERS, or the admins) get a DM each with Approve and Reject. Every press
is asked again who may decide, never the rep or whoever asked to send it. The first decision is recorded
once (the store's `decide` only changes a pending request) in the same transaction as the one job that
carries it out, keyed by the invoice: approved, the draft is finalized and sent with the idempotency keys
of the path that held it (`Invoicing.send_approved`); rejected, it is deleted (`Invoicing.discard_rejected`).
Then the requests say who decided, and the rep hears it. A second press, or one on a request decided
meanwhile, is answered with who decided and when; nothing is repeated. Everything is in the audit log.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from bot import blocks, money
from bot.access import Access
from bot.adapters.courier import Courier
from bot.adapters.slack import SlackFailure, SlackOut
from bot.blocks import ActionId
from bot.domain.approvals import APPROVED, PENDING, REJECTED, Approval
from bot.domain.invoices import Invoice
from bot.errors import GiveUp
from bot.jobs.payloads import AnnounceDecision, CompleteApproval, RejectInvoice, RequestApproval
from bot.mrkdwn import escape, link
from bot.store.ports import UnitOfWork
from bot.store.scope import TenantScope

if TYPE_CHECKING:
    from bot.services.invoicing import Invoicing

logger = logging.getLogger(__name__)

UNKNOWN = "I don't know that request for approval any more; the invoice may have been deleted."


def hold_for_approval(uow: UnitOfWork, approval: Approval) -> bool:
    """Hold an invoice for approval, once: the request, the invoice's state (its message says it waits),
    the audit entry and the job that asks the approvers commit with the caller's unit of work. False
    when the invoice was held before (a retried job, a second press of Send)."""
    if not uow.approvals.request(approval):
        return False
    invoice_id = approval.invoice_id
    uow.invoices.set_approval(invoice_id, PENDING)
    uow.audit.add(approval.requested_by, "approval_requested", invoice_id, {"invoice": invoice_id},
                  {"total": approval.total, "currency": approval.currency, "limit": approval.limit})
    uow.jobs.add(RequestApproval(invoice_id=invoice_id), key=f"approval-request:{invoice_id}")
    return True


def held_text(invoice: Invoice, total_held: int, limit: int) -> str:
    """What the rep is told when their invoice is held (in the form, or where they pressed Send)."""
    total = money.format_amount(total_held, invoice.currency)
    return (f":hourglass_flowing_sand: {escape(invoice.title)} for {escape(total)} to "
            f"{escape(invoice.customer_label or 'the customer')} is above the {escape(invoice.currency.upper())} "
            f"approval limit of {escape(money.format_amount(limit, invoice.currency))}, so it is saved as a draft "
            "and went to the approvers. I'll tell you when it is approved (and sent) or rejected.")


def stale_text(approval: Approval, invoice: Invoice) -> str:
    """The answer to a press on a request decided already: who decided and when."""
    verb = "approved" if approval.status == APPROVED else "rejected"
    return (f"{escape(invoice.title)} was already {verb}; nothing more to do.\n"
            + blocks.decision_line(approval.status, approval.decided_by, approval.decided_at, approval.reason))


class Approvals:
    def __init__(self, store: TenantScope, invoicing: Invoicing, access: Access, slack: SlackOut, courier: Courier,
                 *, payments_channel: str) -> None:
        self.store = store
        self.invoicing = invoicing
        self.access = access
        self.slack = slack
        self.courier = courier
        # Where a request goes when nobody can be asked by name (APPROVERS and the admin list empty):
        # whoever presses there is asked who they are like anyone else.
        self.payments_channel = payments_channel

    def _both(self, invoice_id: str) -> tuple[Approval, Invoice]:
        approval, invoice = self._read(invoice_id)
        if approval is None or invoice is None:
            raise GiveUp(f"no request for approval of {invoice_id}")
        return approval, invoice

    def _read(self, invoice_id: str) -> tuple[Approval | None, Invoice | None]:
        """The request and its invoice, the invoice's total as it was held: what the approvers decide on
        (a late Stripe event may still be catching the stored copy up)."""
        reads = self.store.reads
        approval, invoice = reads.approvals.get(invoice_id), reads.invoices.get(invoice_id)
        if approval is not None and invoice is not None:
            invoice = replace(invoice, total=approval.total, currency=approval.currency)
        return approval, invoice

    # --- asking ---------------------------------------------------------------------------------------
    def ask(self, job: RequestApproval) -> None:
        """A DM to each approver (posted once each, whatever retries), their places recorded so the
        decision can be shown there; the payments channel when nobody can be asked by name."""
        approval, invoice = self._both(job.invoice_id)
        if not approval.pending:
            return  # decided already (a press on a request from before a retry)
        text, request = blocks.approval_request(invoice, approval.requested_by, approval.limit)
        posted: list[tuple[str, str]] = []
        for user_id in self.access.approvers_for(invoice, approval.requested_by):
            try:
                channel = self.slack.open_dm(user_id)
                posted.append((channel, self.courier.post_once(f"approval:{invoice.stripe_id}:{user_id}", channel,
                                                               text, request)))
            except SlackFailure as failure:
                if failure.retryable:
                    raise
                logger.warning("could not ask %s to approve %s (%s)", user_id, invoice.stripe_id, failure.error)
        if not posted:
            if not self.payments_channel:
                raise GiveUp("nobody can be asked: name APPROVERS or invoicing admins")
            posted.append((self.payments_channel, self.courier.post_once(
                f"approval:{invoice.stripe_id}:channel", self.payments_channel, text, request)))
        with self.store.unit_of_work() as uow:
            uow.approvals.set_messages(invoice.stripe_id, posted)
            uow.commit()
        now = self.store.reads.approvals.get(invoice.stripe_id)
        if now is not None and not now.pending:  # decided while the requests went out: show it on them all
            self._show_decision(now, invoice)

    def not_asked(self, job: RequestApproval, reason: str) -> None:
        approval, invoice = self._read(job.invoice_id)
        if approval is None or invoice is None:
            return
        self.slack.dm(approval.requested_by, f":warning: {escape(invoice.title)} is waiting for approval, but I "
                                             f"couldn't ask the approvers: {escape(reason)}. Ask an invoicing admin.")

    # --- a press of Approve or Reject -----------------------------------------------------------------
    def answer(self, body: dict[str, Any], job_key: str) -> None:
        pressed = body["actions"][0]
        action_id = str(pressed["action_id"])
        user_id = str(body["user"]["id"])
        invoice_id = str(pressed.get("value") or "")[:100]
        response_url = body.get("response_url") or None
        channel = (body.get("channel") or {}).get("id")

        def say(text: str) -> None:
            if response_url:
                self.slack.respond(response_url, text)
            else:
                self.slack.tell_user(channel, user_id, text)

        approval, invoice = self._read(invoice_id)
        if approval is None or invoice is None:
            say(UNKNOWN)
            return
        refusal = self.access.approval_refusal(user_id, invoice, approval.requested_by)
        if refusal:
            say(refusal)
            return
        if not approval.pending:
            say(stale_text(approval, invoice))
            return
        if action_id == ActionId.APPROVAL_APPROVE:
            if self.decide(approval, APPROVED, user_id):
                say(f":white_check_mark: Approved: {escape(invoice.title)} is being sent to the customer now.")
            else:  # another press (or approver) decided between the read above and this one
                say(stale_text(*self._both(invoice_id)))
        elif action_id == ActionId.APPROVAL_REJECT:
            trigger_id = body.get("trigger_id")
            if not trigger_id:
                raise GiveUp("Reject needs the trigger of its press to open the reason form")
            self.slack.call("views.open", trigger_id=trigger_id, view=blocks.approval_reason_modal(invoice))
        else:
            logger.error("no answer for the button %s", action_id)

    def reject(self, job: RejectInvoice) -> None:
        """Reject's reason submitted: asked again who may, then decided once."""
        approval, invoice = self._read(job.invoice_id)
        if approval is None or invoice is None:
            self.slack.update_view(job.view_id, blocks.status_view("Not rejected", UNKNOWN))
            return
        refusal = self.access.approval_refusal(job.user_id, invoice, approval.requested_by)
        if refusal:
            self.slack.update_view(job.view_id, blocks.status_view("Not allowed", refusal))
            return
        if not approval.pending or not self.decide(approval, REJECTED, job.user_id, job.reason):
            self.slack.update_view(job.view_id, blocks.status_view("Already decided",
                                                                   stale_text(*self._both(job.invoice_id))))
            return
        rep = invoice.rep_user_id or approval.requested_by
        self.slack.update_view(job.view_id, blocks.status_view(
            "Invoice rejected", f":no_entry_sign: Rejected: {escape(invoice.title)} is deleted, not sent, and "
                                f"<@{rep}> hears why."))

    def decide(self, approval: Approval, status: str, user_id: str, reason: str | None = None) -> bool:
        """Record the decision and queue the one job that carries it out; False when it was decided already."""
        invoice_id = approval.invoice_id
        with self.store.unit_of_work() as uow:
            if not uow.approvals.decide(invoice_id, status, user_id, reason):
                return False
            uow.invoices.set_approval(invoice_id, status)
            detail: dict[str, Any] = {"total": approval.total, "currency": approval.currency, "limit": approval.limit}
            if reason is not None:
                detail["reason"] = reason
            uow.audit.add(user_id, "approve" if status == APPROVED else "reject", invoice_id, {"invoice": invoice_id},
                          detail)
            uow.jobs.add(CompleteApproval(invoice_id=invoice_id), key=f"approval-done:{invoice_id}")
            uow.commit()
        logger.info("%s %s by %s", invoice_id, status, user_id)
        return True

    # --- carrying the decision out --------------------------------------------------------------------
    def complete(self, job: CompleteApproval) -> None:
        approval, _ = self._both(job.invoice_id)
        news = [(AnnounceDecision(invoice_id=job.invoice_id), f"approval-news:{job.invoice_id}")]
        if approval.status == APPROVED:
            self.invoicing.send_approved(approval, news)
        elif approval.status == REJECTED:
            self.invoicing.discard_rejected(approval, news)

    def not_completed(self, job: CompleteApproval, reason: str) -> None:
        """Stripe refused to send (or delete) it for good: the decider and the rep hear it."""
        approval, invoice = self._read(job.invoice_id)
        if approval is None or invoice is None:
            return
        what = "was approved, but Stripe refused to send it" if approval.status == APPROVED else \
            "was rejected, but Stripe refused to delete its draft"
        text = f":warning: {escape(invoice.title)} {what}: {escape(reason)}"
        for user_id in dict.fromkeys(u for u in (approval.decided_by, invoice.rep_user_id, approval.requested_by) if u):
            self.slack.dm(user_id, text)

    def announce(self, job: AnnounceDecision) -> None:
        """The requests say who decided; the rep (and whoever asked, if someone else) hears it by DM."""
        approval, invoice = self._both(job.invoice_id)
        if approval.pending:
            return
        self._show_decision(approval, invoice)
        total = money.format_amount(invoice.total, invoice.currency)
        about = f"{escape(invoice.title)} for {escape(total)} to {escape(invoice.customer_label or 'the customer')}"
        if approval.status == APPROVED:
            text = f":white_check_mark: <@{approval.decided_by}> approved {about}; it was sent."
            hosted = link(invoice.hosted_url, "Open the hosted invoice")
            text += f"\n{hosted}" if hosted else ""
        else:
            reason = f": “{escape(approval.reason)}”" if approval.reason else ""
            text = (f":no_entry_sign: <@{approval.decided_by}> rejected {about}{reason}. The draft was deleted; "
                    "nothing was sent.")
        for user_id in dict.fromkeys(u for u in (invoice.rep_user_id, approval.requested_by) if u):
            channel = self.slack.open_dm(user_id)
            self.courier.post_once(f"approval-news:{invoice.stripe_id}:{user_id}", channel, text)
        if approval.view_id:  # the rep's form, if it is still open
            title = "Invoice approved" if approval.status == APPROVED else "Invoice rejected"
            self.slack.update_view(approval.view_id, blocks.status_view(title, text))

    def _show_decision(self, approval: Approval, invoice: Invoice) -> None:
        text, decided = blocks.approval_decided(invoice, approval.requested_by, approval.limit, approval.status,
                                                approval.decided_by, approval.decided_at, approval.reason)
        for channel, ts in approval.messages:
            try:
                self.slack.update(channel, ts, text, decided)
            except SlackFailure as failure:
                if failure.retryable:
                    raise
                logger.warning("could not show the decision on %s/%s (%s)", channel, ts, failure.error)
