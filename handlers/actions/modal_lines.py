"""The modal's "Add line" button: one more line, what was typed kept, the running total shown."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot import blocks, money
from bot.access import Action
from bot.blocks import ActionId
from bot.container import Services
from bot.forms import draft_total, flatten_state
from handlers.context import services_of

# What the modal's inputs take (`max_length` in `blocks.invoice_modal`); Slack keeps typing within
# them, so anything longer (or not text at all) did not come from the modal and is not shown again.
ECHO_LIMITS = {"customer_name": 200, "customer_email": 254, "days_until_due": 3, "memo": 500}
LINE_ECHO_LIMITS = {"description": 250, "quantity": 7}
MAX_ECHO = 3000  # Slack's largest max_length for a plain-text input


def add_line(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    services = services_of(context)
    view = body["view"]
    refusal = services.access.refusal(Action.CREATE, body["user"]["id"])
    if refusal:
        client.views_update(view_id=view["id"], view=blocks.status_view("Not allowed", refusal))
        return
    metadata = blocks.ModalState.read_metadata(view.get("private_metadata"))
    values = echoable(flatten_state(view["state"]["values"]))
    line_count = max(1, min(metadata.lines + 1, blocks.MAX_MODAL_LINES))
    defaults = services.modal_defaults
    currency = values.get("currency")
    if not money.is_supported(currency or ""):
        currency = values["currency"] = defaults.currency
    customer_label = _customer_label(values.get("customer"), services)
    price_labels = _price_labels(values, services)
    # Picks the store does not know (any more) are dropped rather than shown as raw ids.
    if customer_label is None:
        values.pop("customer", None)
    for key in [key for key in values if key.endswith("_price") and values[key] not in price_labels]:
        del values[key]
    state = blocks.ModalState(
        channel_id=metadata.channel_id,
        default_currency=defaults.currency,
        default_days=defaults.days_until_due,
        line_count=line_count,
        values=values,
        total_text=draft_total(values, str(currency), services.reads.prices.get),
        customer_label=customer_label,
        price_labels=price_labels,
    )
    client.views_update(view_id=view["id"], hash=view.get("hash"), view=blocks.invoice_modal(state))


def echoable(values: dict[str, Any]) -> dict[str, Any]:
    """The typed values that can be put back into the modal as they were typed."""
    kept: dict[str, Any] = {}
    for block_id, value in values.items():
        if not isinstance(value, str):
            continue
        limit = ECHO_LIMITS.get(block_id, MAX_ECHO)
        if block_id.startswith("line_"):
            limit = LINE_ECHO_LIMITS.get(block_id.split("_", 2)[-1], MAX_ECHO)
        if len(value) <= limit:
            kept[block_id] = value
    return kept


def _customer_label(customer_id: Any, services: Services) -> str | None:
    if not isinstance(customer_id, str) or not customer_id:
        return None
    customer = services.reads.customers.get(customer_id)
    return blocks.customer_option_text(customer) if customer else None


def _price_labels(values: dict[str, Any], services: Services) -> dict[str, str]:
    labels = {}
    for key, value in values.items():
        if key.endswith("_price") and isinstance(value, str) and value:
            price = services.reads.prices.get(value)
            if price:
                labels[value] = blocks.price_option_text(price)
    return labels


def register(app: App) -> None:
    app.action(ActionId.ADD_LINE.value)(add_line)
