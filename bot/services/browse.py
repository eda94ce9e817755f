"""Finding invoices: `/invoice list`, `/invoice show`, `/invoice audit` and App Home, answered from
the store, each showing only what the person asking may see (`bot.access`).

Stripe is the source of truth and the store is kept current by the webhook flow; an invoice the
store has never seen (say, made in the Dashboard before the bot was installed) is fetched once
from Stripe, for an admin, and remembered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot import blocks
from bot.access import NOT_A_MEMBER, Access, Action
from bot.adapters.stripe import StripeFailure, StripeGateway
from bot.domain.invoices import Invoice, snapshot_from_stripe
from bot.mrkdwn import escape
from bot.people import People
from bot.slash import ListInvoices
from bot.store.scope import TenantScope

logger = logging.getLogger(__name__)

EVENT_WORDS = {
    "invoice.created": "created", "invoice.finalized": "finalized", "invoice.sent": "emailed to the customer",
    "invoice.paid": "paid", "invoice.payment_failed": "a payment failed", "invoice.voided": "voided",
    "invoice.marked_uncollectible": "marked uncollectible", "invoice.overdue": "overdue",
    "payment_intent.processing": "payment processing",
}


@dataclass(frozen=True)
class Answer:
    text: str
    blocks: list[dict[str, Any]] | None = None


def not_found(reference: str) -> str:
    return (f"I can't find an invoice `{escape(reference)}`. Try `/invoice list` to look it up, "
            "or give its in_... id from Stripe.")


class Browser:
    def __init__(self, store: TenantScope, stripe: StripeGateway, people: People, access: Access,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.stripe = stripe
        self.people = people
        self.access = access
        self.clock = clock

    def list_page(self, viewer: str, query: ListInvoices) -> Answer:
        visible = self.access.visibility(viewer, self.store.reads.invoices.channels())
        if visible is not None and visible.nothing:
            return Answer(NOT_A_MEMBER)
        page_size = blocks.LIST_PAGE_SIZE
        status, text, offset = query.status, query.text, query.offset
        rows = self.store.reads.invoices.search(status=status, text=text, limit=page_size + 1, offset=offset,
                                                visible=visible)
        more = query.next_page(page_size).encode() if len(rows) > page_size else None
        what = f"{status} invoices" if status else "Invoices"
        matching = f" matching “{escape(text)}”" if text else ""
        shown = f"{offset + 1}–{offset + min(len(rows), page_size)}" if rows else "none"
        heading = f"*{what.capitalize()}{matching}*, newest first ({shown})"
        if visible is not None:
            heading += " · the ones you may see"
        return Answer("Invoices", blocks.invoice_list(rows[:page_size], heading=heading,
                                                      zone=self.people.zone(viewer), now=self.clock(),
                                                      more_value=more))

    def _find(self, viewer: str, reference: str) -> Invoice | str:
        """The invoice the viewer may see, or what to tell them. An `in_...` id the store has never
        seen is fetched from Stripe for an admin; a Stripe outage raises (the listener says "try
        again"), it is not "not found"."""
        found = self.store.reads.invoices.find(reference)
        if found is None and reference.startswith("in_"):
            refusal = self.access.refusal(Action.ADMINISTER, viewer, what="look up invoices invoicebot never saw")
            if refusal:
                return not_found(reference)
            found = self._import(reference)
        if found is None:
            return not_found(reference)
        return self.access.refusal(Action.VIEW, viewer, found) or found

    def _import(self, reference: str) -> Invoice | None:
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

    def card(self, viewer: str, reference: str) -> Answer:
        invoice = self._find(viewer, reference)
        if isinstance(invoice, str):
            return Answer(invoice)
        reads = self.store.reads
        history: list[tuple[float, str]] = [
            (float(event.created), f"Stripe: {EVENT_WORDS.get(event.type, escape(event.type))}")
            for event in reads.events.for_invoice(invoice.stripe_id)
        ]
        history += [(entry.at, f"<@{entry.actor}> {escape(entry.action)}")
                    for entry in reads.audit.for_invoice(invoice.stripe_id)]
        return Answer(f"Invoice {escape(invoice.number or invoice.stripe_id)}",
                      blocks.invoice_card(invoice, history, self.people.zone(viewer)))

    def audit(self, viewer: str, reference: str) -> Answer:
        refusal = self.access.refusal(Action.ADMINISTER, viewer, what="read the audit log")
        if refusal:
            return Answer(refusal)
        invoice = self._find(viewer, reference)
        if isinstance(invoice, str):
            return Answer(invoice)
        return Answer("Audit log", blocks.audit_blocks(invoice, self.store.reads.audit.for_invoice(invoice.stripe_id),
                                                       self.people.zone(viewer)))

    def home(self, viewer: str) -> dict[str, Any]:
        """App Home: totals of what the viewer may see, their own recent invoices, a "New invoice"
        button for those who may create."""
        invoices = self.store.reads.invoices
        refusal = self.access.refusal(Action.CREATE, viewer)
        visible = self.access.visibility(viewer, invoices.channels())
        return blocks.home_view(invoices.totals(visible=visible), invoices.of_rep(viewer, limit=10),
                                may_create=refusal is None, note=refusal)
