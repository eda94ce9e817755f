"""Buttons on `/invoice list` answers: Show more, and Open one invoice."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond

from bot.blocks import ActionId
from bot.slash import ListInvoices
from handlers.context import services_of


def show_more(ack: Ack, body: dict[str, Any], respond: Respond, context: BoltContext) -> None:
    ack()
    query = ListInvoices.decode(str(body["actions"][0].get("value") or ""))
    if query is None:
        respond(response_type="ephemeral", replace_original=False,
                text="That list is out of date; run `/invoice list` again.")
        return
    page = services_of(context).browser.list_page(body["user"]["id"], query)
    respond(response_type="ephemeral", replace_original=True, text=page.text, blocks=page.blocks)


def open_invoice(ack: Ack, body: dict[str, Any], respond: Respond, context: BoltContext) -> None:
    ack()
    reference = str(body["actions"][0].get("value") or "")[:100]
    card = services_of(context).browser.card(body["user"]["id"], reference)
    respond(response_type="ephemeral", replace_original=False, text=card.text, blocks=card.blocks)


def register(app: App) -> None:
    app.action(ActionId.LIST_MORE.value)(show_more)
    app.action(ActionId.SHOW_INVOICE.value)(open_invoice)
