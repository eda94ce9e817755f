"""Buttons on `/invoice list` answers: Show more, and Open one invoice."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App, Respond

from bot import blocks, commands

if TYPE_CHECKING:
    from bot.app import Services

logger = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    @app.action(blocks.LIST_MORE_ACTION)
    def show_more(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        try:
            query = json.loads(body["actions"][0].get("value") or "{}")
            status = query.get("status") if query.get("status") in commands.LIST_STATUSES else None
            text = str(query.get("text") or "")[: commands.MAX_QUERY] or None
            offset = max(0, int(query.get("offset") or 0))
        except (ValueError, TypeError, AttributeError):
            respond(response_type="ephemeral", replace_original=False, text="That list is out of date; "
                    "run `/invoice list` again.")
            return
        respond(response_type="ephemeral", replace_original=True, text="Invoices",
                blocks=services.browser.list_page(body["user"]["id"], status, text, offset))

    @app.action(blocks.SHOW_ACTION)
    def open_invoice(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        reference = str(body["actions"][0].get("value") or "")[:100]
        card = services.browser.card(body["user"]["id"], reference)
        if card is None:
            respond(response_type="ephemeral", replace_original=False,
                    text="I can't find that invoice any more.")
            return
        respond(response_type="ephemeral", replace_original=False, text="Invoice", blocks=card)
