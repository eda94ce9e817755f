"""External-select searches, answered from the local store well inside Slack's 3 s."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot import blocks
from bot.blocks import ActionId
from bot.container import Services
from handlers.context import services_of

MAX_OPTIONS = 100
MAX_QUERY = 200


def customer_options(ack: Ack, body: dict[str, Any], payload: dict[str, Any], context: BoltContext) -> None:
    services = services_of(context)
    if not _may_search(services, body):
        ack(options=[])
        return
    query = str(payload.get("value") or "")[:MAX_QUERY]
    customers = services.reads.customers.search(query, limit=MAX_OPTIONS)
    ack(options=[blocks.option(blocks.customer_option_text(c), c.stripe_id) for c in customers])


def price_options(ack: Ack, body: dict[str, Any], payload: dict[str, Any], context: BoltContext) -> None:
    services = services_of(context)
    if not _may_search(services, body):
        ack(options=[])
        return
    query = str(payload.get("value") or "")[:MAX_QUERY]
    prices = services.reads.prices.search(query, limit=MAX_OPTIONS)
    ack(options=[blocks.option(blocks.price_option_text(p), p.stripe_id) for p in prices])


def tax_rate_options(ack: Ack, body: dict[str, Any], payload: dict[str, Any], context: BoltContext) -> None:
    """The form's tax rates: the account's active ones, as the catalog refresh last mirrored them."""
    services = services_of(context)
    if not _may_search(services, body):
        ack(options=[])
        return
    query = str(payload.get("value") or "")[:MAX_QUERY]
    rates = services.reads.tax_rates.search(query, limit=MAX_OPTIONS)
    ack(options=[blocks.option(blocks.option_text(rate.label), rate.stripe_id) for rate in rates])


def _may_search(services: Services, body: dict[str, Any]) -> bool:
    """The searches belong to the invoice form: only people who may create invoices get answers (the
    form only opens for them; anyone else asking is walking the customer book through a side door).
    The answer is usually cached from opening the form, so this costs no Slack call."""
    return services.access.may_create(str(body["user"]["id"]))


def register(app: App) -> None:
    app.options(ActionId.CUSTOMER_SEARCH.value)(customer_options)
    app.options(ActionId.PRICE_SEARCH.value)(price_options)
    app.options(ActionId.TAX_RATE_SEARCH.value)(tax_rate_options)
