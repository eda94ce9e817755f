"""Finding invoices: `/invoice list`, `/invoice show`, `/invoice audit`, answered from the store.

Stripe is the source of truth and the store is kept current by the webhook flow; an invoice the
store has never seen (say, made in the Dashboard before the bot was installed) is fetched once
from Stripe and remembered.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from bot import blocks
from bot.invoicing import invoice_row, stored_lines
from bot.people import People
from bot.store import Store
from bot.stripe_gateway import StripeFailure, StripeGateway

logger = logging.getLogger(__name__)

LIST_STATUSES = ("open", "draft", "overdue", "paid", "void", "uncollectible")
EVENT_WORDS = {
    "invoice.created": "created", "invoice.finalized": "finalized", "invoice.sent": "emailed to the customer",
    "invoice.paid": "paid", "invoice.payment_failed": "a payment failed", "invoice.voided": "voided",
    "invoice.marked_uncollectible": "marked uncollectible", "invoice.overdue": "overdue",
    "payment_intent.processing": "payment processing",
}


class Browser:
    def __init__(self, store: Store, stripe: StripeGateway, people: People) -> None:
        self.store = store
        self.stripe = stripe
        self.people = people

    def list_page(self, viewer: str, status: str | None, text: str | None, offset: int = 0) -> list[dict[str, Any]]:
        page_size = blocks.LIST_PAGE_SIZE
        rows = self.store.list_invoices(status=status, text=text, limit=page_size + 1, offset=offset)
        more = None
        if len(rows) > page_size:
            more = json.dumps({"status": status, "text": text, "offset": offset + page_size})
        what = f"{status} invoices" if status else "Invoices"
        matching = f" matching “{blocks.escape(text)}”" if text else ""
        shown = f"{offset + 1}–{offset + min(len(rows), page_size)}" if rows else "none"
        heading = f"*{what.capitalize()}{matching}*, newest first ({shown})"
        return blocks.invoice_list(rows[:page_size], heading=heading, zone=self.people.zone(viewer),
                                   now=time.time(), more_value=more)

    def find(self, reference: str) -> dict[str, Any] | None:
        row = self.store.find_invoice(reference)
        if row is not None or not reference.startswith("in_"):
            return row
        try:
            invoice = self.stripe.get_invoice(reference)
        except StripeFailure as failure:
            logger.info("Stripe does not know %s either: %s", reference, failure.message)
            return None
        customer = invoice.get("customer")
        fields = invoice_row(invoice)
        if isinstance(customer, dict):
            fields.update(customer_name=customer.get("name"), customer_email=customer.get("email"))
        self.store.apply_invoice_state(invoice["id"], fields, int(invoice.get("created") or 0))
        return self.store.get_invoice(invoice["id"])

    def card(self, viewer: str, reference: str) -> list[dict[str, Any]] | None:
        invoice = self.find(reference)
        if invoice is None:
            return None
        history: list[tuple[float, str]] = [
            (float(event["created"] or 0), f"Stripe: {EVENT_WORDS.get(event['type'], event['type'])}")
            for event in self.store.events_for(invoice["stripe_id"])
        ]
        history += [(row["at"], f"<@{row['actor']}> {blocks.escape(row['action'])}")
                    for row in self.store.audit_for(invoice["stripe_id"])]
        return blocks.invoice_card(invoice, stored_lines(invoice), history, self.people.zone(viewer))

    def audit(self, viewer: str, reference: str) -> list[dict[str, Any]] | None:
        invoice = self.find(reference)
        if invoice is None:
            return None
        return blocks.audit_blocks(invoice, self.store.audit_for(invoice["stripe_id"]), self.people.zone(viewer))
