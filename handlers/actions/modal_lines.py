"""The modal's "Add line" button: one more line, what was typed kept, the running total shown."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot import blocks, money
from bot.forms import flatten_state

if TYPE_CHECKING:
    from bot.app import Services

logger = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    @app.action(blocks.ADD_LINE_ACTION)
    def add_line(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        view = body["view"]
        metadata = json.loads(view.get("private_metadata") or "{}")
        values = echoable(flatten_state(view["state"]["values"]))
        line_count = max(1, min(int(metadata.get("lines", 1)) + 1, blocks.MAX_MODAL_LINES))
        currency = values.get("currency")
        if not money.is_supported(currency or ""):
            currency = values["currency"] = services.settings.default_currency
        customer_label = _customer_label(values.get("customer"), services)
        price_labels = _price_labels(values, services)
        # Picks the store does not know (any more) are dropped rather than shown as raw ids.
        if customer_label is None:
            values.pop("customer", None)
        for key in [key for key in values if key.endswith("_price") and values[key] not in price_labels]:
            del values[key]
        state = blocks.ModalState(
            channel_id=metadata.get("channel_id", ""),
            default_currency=services.settings.default_currency,
            default_days=services.settings.default_days_until_due,
            line_count=line_count,
            values=values,
            total_text=running_total(values, currency, services),
            customer_label=customer_label,
            price_labels=price_labels,
        )
        client.views_update(view_id=view["id"], hash=view.get("hash"), view=blocks.invoice_modal(state))


# What the modal's inputs take (`max_length` in `blocks.invoice_modal`); Slack keeps typing within
# them, so anything longer (or not text at all) did not come from the modal and is not shown again.
ECHO_LIMITS = {"customer_name": 200, "customer_email": 254, "days_until_due": 3, "memo": 500}
LINE_ECHO_LIMITS = {"description": 250, "quantity": 7}
MAX_ECHO = 3000  # Slack's largest max_length for a plain-text input


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


def running_total(values: dict[str, Any], currency: str, services: Services) -> str | None:
    """Sum the lines that already parse; lines still being typed are left out, not errors."""
    total, counted = 0, 0
    numbers = {key.split("_")[1] for key in values if key.startswith("line_")}
    for number in numbers:
        quantity_text = str(values.get(f"line_{number}_quantity") or "1").strip()
        quantity = int(quantity_text) if quantity_text.isdigit() else 1
        price_id = values.get(f"line_{number}_price")
        if isinstance(price_id, str) and price_id:
            price = services.store.get_price(price_id)
            if price and price["currency"] == currency:
                total += price["unit_amount"] * quantity
                counted += 1
            continue
        amount_text = values.get(f"line_{number}_unit_amount")
        if not isinstance(amount_text, str) or not amount_text or not money.is_supported(currency):
            continue
        try:
            total += money.parse_amount(amount_text, currency) * quantity
            counted += 1
        except money.AmountError:
            continue
    return money.format_amount(total, currency) if counted else None


def _customer_label(customer_id: str | None, services: Services) -> str | None:
    if not isinstance(customer_id, str) or not customer_id:
        return None
    customer = services.store.get_customer(customer_id)
    return customer_option_text(customer) if customer else None


def _price_labels(values: dict[str, Any], services: Services) -> dict[str, str]:
    labels = {}
    for key, value in values.items():
        if key.endswith("_price") and isinstance(value, str) and value:
            price = services.store.get_price(value)
            if price:
                labels[value] = price_option_text(price)
    return labels


def option_text(text: str, limit: int = 75) -> str:
    """Option text: `&`, `<`, `>` escaped as Slack asks for every text object (so a name like
    `<!channel>` is shown, not parsed), at most `limit` characters, never cutting an entity."""
    escaped = blocks.escape(text)
    if len(escaped) <= limit:
        return escaped
    kept, size = [], 0
    for char in text:
        piece = blocks.escape(char)
        if size + len(piece) > limit - 1:
            break
        kept.append(piece)
        size += len(piece)
    return "".join(kept) + "…"


def customer_option_text(customer: dict[str, Any]) -> str:
    name, email = customer.get("name") or "", customer.get("email") or ""
    return option_text(f"{name} <{email}>" if name and email else name or email or customer["stripe_id"])


def price_option_text(price: dict[str, Any]) -> str:
    amount = money.format_amount(price["unit_amount"], price["currency"])
    return option_text(f"{price['product_name']} – {amount}")
