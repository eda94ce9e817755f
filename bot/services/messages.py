"""An invoice's own message: posted once in the rep's channel (or their DM), updated in place."""

from __future__ import annotations

import logging
from dataclasses import replace

from bot import blocks
from bot.adapters.courier import Courier
from bot.adapters.slack import CANNOT_POST_THERE, SlackFailure, SlackOut
from bot.domain.invoices import Invoice
from bot.store.scope import TenantScope

logger = logging.getLogger(__name__)


class InvoiceMessages:
    def __init__(self, store: TenantScope, slack: SlackOut, courier: Courier) -> None:
        self.store = store
        self.slack = slack
        self.courier = courier

    def publish(self, invoice: Invoice, *, thread_ts: str | None = None) -> Invoice:
        """Update the invoice's message, or post it once (in the thread of `thread_ts` of its channel, when
        given: "Invoice this"); returns the invoice with where it lives."""
        text, message_blocks = blocks.invoice_message(invoice)
        if invoice.channel_id and invoice.message_ts:
            try:
                self.slack.update(invoice.channel_id, invoice.message_ts, text, message_blocks)
                return invoice
            except SlackFailure as failure:
                if failure.retryable:
                    raise
                logger.warning("could not update the message of %s (%s); posting anew", invoice.stripe_id,
                               failure.error)
        channel = invoice.channel_id
        if not channel:
            if not invoice.rep_user_id:
                return invoice  # an invoice made outside the bot has no message of its own
            channel = self.slack.open_dm(invoice.rep_user_id)  # started from App Home: the rep's DM with the bot
        try:
            ts = self.courier.post_once(f"message:{invoice.stripe_id}", channel, text, message_blocks,
                                        thread_ts=thread_ts if channel == invoice.channel_id else None)
        except SlackFailure as failure:
            if failure.retryable or failure.error not in CANNOT_POST_THERE or not invoice.rep_user_id:
                raise
            note = (f"I couldn't post in <#{channel}> ({failure.error}); invite me there with "
                    "`/invite @invoicebot` to share invoices with the channel.")
            channel = self.slack.open_dm(invoice.rep_user_id)
            ts = self.courier.post_once(f"message:{invoice.stripe_id}:dm", channel, text, message_blocks)
            self.courier.post_once(f"message:{invoice.stripe_id}:dm-note", channel, note, thread_ts=ts)
        with self.store.unit_of_work() as uow:
            uow.invoices.set_message(invoice.stripe_id, channel, ts)
            uow.commit()
        return replace(invoice, channel_id=channel, message_ts=ts)
