"""Finding invoices: `/invoice list`, `/invoice show`, `/invoice audit`, answered from the store.

Stripe is the source of truth and the store is kept current by the webhook flow; an invoice the
store has never seen (say, made in the Dashboard before the bot was installed) is fetched once
from Stripe and remembered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from bot import blocks
from bot.adapters.stripe import StripeFailure, StripeGateway
from bot.domain.invoices import Invoice, snapshot_from_stripe
from bot.mrkdwn import escape
from bot.people import People
from bot.slash import ListInvoices
from bot.store.ports import Store

logger = logging.getLogger(__name__)

EVENT_WORDS = {
    "invoice.created": "created", "invoice.finalized": "finalized", "invoice.sent": "emailed to the customer",
    "invoice.paid": "paid", "invoice.payment_failed": "a payment failed", "invoice.voided": "voided",
    "invoice.marked_uncollectible": "marked uncollectible", "invoice.overdue": "overdue",
    "payment_intent.processing": "payment processing",
}


class Browser:
    def __init__(self, store: Store, stripe: StripeGateway, people: People,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.stripe = stripe
        self.people = people
        self.clock = clock

    def list_page(self, viewer: str, query: ListInvoices) -> list[dict[str, Any]]:
        page_size = blocks.LIST_PAGE_SIZE
        status, text, offset = query.status, query.text, query.offset
        rows = self.store.reads.invoices.search(status=status, text=text, limit=page_size + 1, offset=offset)
        more = query.next_page(page_size).encode() if len(rows) > page_size else None
        what = f"{status} invoices" if status else "Invoices"
        matching = f" matching “{escape(text)}”" if text else ""
        shown = f"{offset + 1}–{offset + min(len(rows), page_size)}" if rows else "none"
        heading = f"*{what.capitalize()}{matching}*, newest first ({shown})"
        return blocks.invoice_list(rows[:page_size], heading=heading, zone=self.people.zone(viewer),
                                   now=self.clock(), more_value=more)

    def find_or_import(self, reference: str) -> Invoice | None:
        """The invoice by number or id; an `in_...` id the store has never seen is fetched from Stripe.
        A Stripe outage raises (the caller says "try again"), it is not "not found"."""
        found = self.store.reads.invoices.find(reference)
        if found is not None or not reference.startswith("in_"):
            return found
        try:
            invoice = self.stripe.get_invoice(reference)
        except StripeFailure as failure:
            if failure.retryable:
                raise
            logger.info("Stripe does not know %s either: %s", reference, failure.message)
            return None
        with self.store.unit_of_work() as uow:
            uow.invoices.apply(snapshot_from_stripe(invoice), int(invoice.get("created") or 0))
            uow.commit()
        return self.store.reads.invoices.get(str(invoice["id"]))

    def card(self, viewer: str, reference: str) -> list[dict[str, Any]] | None:
        invoice = self.find_or_import(reference)
        if invoice is None:
            return None
        reads = self.store.reads
        history: list[tuple[float, str]] = [
            (float(event.created), f"Stripe: {EVENT_WORDS.get(event.type, escape(event.type))}")
            for event in reads.events.for_invoice(invoice.stripe_id)
        ]
        history += [(entry.at, f"<@{entry.actor}> {escape(entry.action)}")
                    for entry in reads.audit.for_invoice(invoice.stripe_id)]
        return blocks.invoice_card(invoice, history, self.people.zone(viewer))

    def audit(self, viewer: str, reference: str) -> list[dict[str, Any]] | None:
        invoice = self.find_or_import(reference)
        if invoice is None:
            return None
        return blocks.audit_blocks(invoice, self.store.reads.audit.for_invoice(invoice.stripe_id),
                                   self.people.zone(viewer))
