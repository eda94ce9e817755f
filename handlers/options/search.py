"""External-select searches, answered from the local store well inside Slack's 3 s."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App

from bot import blocks
from handlers.actions.modal_lines import customer_option_text, price_option_text

if TYPE_CHECKING:
    from bot.app import Services

MAX_OPTIONS = 100


def register(app: App, services: Services) -> None:
    @app.options(blocks.CUSTOMER_SEARCH_ACTION)
    def customer_options(ack: Ack, payload: dict[str, Any]) -> None:
        query = str(payload.get("value") or "")[:200]
        customers = services.store.search_customers(query, limit=MAX_OPTIONS)
        ack(options=[_option(customer_option_text(c), c["stripe_id"]) for c in customers])

    @app.options(blocks.PRICE_SEARCH_ACTION)
    def price_options(ack: Ack, payload: dict[str, Any]) -> None:
        query = str(payload.get("value") or "")[:200]
        prices = services.store.search_prices(query, limit=MAX_OPTIONS)
        ack(options=[_option(price_option_text(p), p["stripe_id"]) for p in prices])


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": blocks.truncate(text, 75)}, "value": value}
