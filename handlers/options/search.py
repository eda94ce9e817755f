"""External-select searches, answered from the local store well inside Slack's 3 s."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot import blocks
from bot.blocks import ActionId
from handlers.context import services_of

MAX_OPTIONS = 100
MAX_QUERY = 200


def customer_options(ack: Ack, payload: dict[str, Any], context: BoltContext) -> None:
    query = str(payload.get("value") or "")[:MAX_QUERY]
    customers = services_of(context).reads.customers.search(query, limit=MAX_OPTIONS)
    ack(options=[blocks.option(blocks.customer_option_text(c), c.stripe_id) for c in customers])


def price_options(ack: Ack, payload: dict[str, Any], context: BoltContext) -> None:
    query = str(payload.get("value") or "")[:MAX_QUERY]
    prices = services_of(context).reads.prices.search(query, limit=MAX_OPTIONS)
    ack(options=[blocks.option(blocks.price_option_text(p), p.stripe_id) for p in prices])


def register(app: App) -> None:
    app.options(ActionId.CUSTOMER_SEARCH.value)(customer_options)
    app.options(ActionId.PRICE_SEARCH.value)(price_options)
