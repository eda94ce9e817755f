""""Invoice this": the message shortcut's form, filled in from the message, its invoice posted in that thread.

The listener only checks the payload's shape, queues `OpenInvoiceThis` on the `replies` lane and acks; this
runs in the worker within Slack's 3 s of the trigger: who may create (`bot.access`), the message read
(`bot.domain.phrases`, pure) against the tenant's customers, then `views.open` with the invoice form. What the
message does not say one way is left empty, and the form's notes say why. The form is the ordinary invoice
form (its submit, `handlers/views/invoice_modal.py`, is keyed by the view), with the message's thread in its
`private_metadata`: the invoice's message is posted in that thread (`Invoicing.publish`).
"""

from __future__ import annotations

import logging
from typing import Any

from bot import blocks
from bot.access import Access, Action
from bot.adapters.slack import SlackOut
from bot.domain import phrases
from bot.domain.records import Customer
from bot.forms import EMAIL, MAX_EMAIL
from bot.jobs.payloads import OpenInvoiceThis
from bot.mrkdwn import escape
from bot.services.replies import ModalDefaults
from bot.store.scope import TenantScope

logger = logging.getLogger(__name__)

KNOWN_CUSTOMERS = 2000  # the most recently updated customers whose names a message is searched for
READ_FROM = "Filled in from the message: check it before you create the invoice."


class Shortcuts:
    def __init__(self, store: TenantScope, slack: SlackOut, access: Access, defaults: ModalDefaults) -> None:
        self.store = store
        self.slack = slack
        self.access = access
        self.defaults = defaults

    def invoice_this(self, job: OpenInvoiceThis) -> None:
        """Open the invoice form filled in from the message (or say why not) with the shortcut's trigger."""
        refusal = self.access.refusal(Action.CREATE, job.user_id)
        view = blocks.status_view("Not allowed", escape(refusal)) if refusal else blocks.invoice_modal(self.form(job))
        self.slack.call("views.open", trigger_id=job.trigger_id, view=view)

    def form(self, job: OpenInvoiceThis) -> blocks.ModalState:
        """The invoice form as the message fills it in."""
        reading = phrases.read_message(job.text, self._known(job.text))
        values: dict[str, Any] = {}
        customer_label = None
        if reading.customer_id:
            values["customer"] = reading.customer_id
            customer = self.store.reads.customers.get(reading.customer_id)
            customer_label = blocks.customer_option_text(customer) if customer else reading.customer_label
        elif reading.email and len(reading.email) <= MAX_EMAIL and EMAIL.match(reading.email):
            values["customer_email"] = reading.email
        if reading.currency:
            values["currency"] = reading.currency
        for number, line in enumerate(reading.lines, start=1):
            values[f"line_{number}_description"] = line.description or None
            values[f"line_{number}_quantity"] = str(line.quantity)
            values[f"line_{number}_unit_amount"] = line.amount or None
        return blocks.ModalState(
            channel_id=job.channel_id, default_currency=self.defaults.currency,
            default_days=self.defaults.days_until_due, line_count=max(1, len(reading.lines)),
            values={key: value for key, value in values.items() if value is not None},
            customer_label=customer_label, thread_ts=job.thread_ts, notes=(READ_FROM, *reading.notes),
            # A message naming no currency leaves the workspace's default, as `/invoice` does; one whose amounts
            # don't say which ("¥", or two currencies) leaves the choice to the rep.
            currency_unset=reading.currency is None and bool(reading.lines))

    def _known(self, text: str) -> list[Customer]:
        """The customers a message may name: those with its email addresses, then the recently updated ones."""
        customers = self.store.reads.customers
        by_email = [found for found in (customers.by_email(email) for email in phrases.find_emails(text)) if found]
        return by_email + customers.search("", limit=KNOWN_CUSTOMERS)

    def not_opened(self, job: OpenInvoiceThis, reason: str) -> None:
        """The form could not be opened (the trigger ran out, Slack refused): say so where the shortcut was used."""
        if job.response_url:
            self.slack.respond(job.response_url, f":warning: I couldn't open the invoice form: {escape(reason)}. "
                                                 "Try “Invoice this” again.")
        else:
            logger.warning("could not open the Invoice this form for %s: %s", job.user_id, reason)
