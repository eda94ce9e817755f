"""`/invoice`: open the modal at once, answer help and catalog, queue catalog writes."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot import blocks, commands, money
from bot.forms import EMAIL

if TYPE_CHECKING:
    from bot.app import Services

logger = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    @app.command("/invoice")
    def invoice_command(ack: Ack, command: dict[str, Any], client: WebClient) -> None:
        parsed = commands.parse(command.get("text", ""))
        if isinstance(parsed, commands.OpenModal):
            ack()
            prefill = {"customer_email": parsed.email} if parsed.email and EMAIL.match(parsed.email) else {}
            state = blocks.ModalState(
                channel_id=command["channel_id"],
                default_currency=services.settings.default_currency,
                default_days=services.settings.default_days_until_due,
                values=prefill,
            )
            client.views_open(trigger_id=command["trigger_id"], view=blocks.invoice_modal(state))
        elif isinstance(parsed, commands.ShowHelp):
            ack(response_type="ephemeral", text=commands.help_text(parsed.unknown))
        elif isinstance(parsed, commands.Refuse):
            ack(response_type="ephemeral", text=parsed.message)
        elif isinstance(parsed, commands.ListCatalog):
            ack(response_type="ephemeral", text=catalog_text(services))
        elif isinstance(parsed, commands.AddCatalogPrice):
            services.store.enqueue(
                "catalog_add",
                f"catalog:{command['trigger_id']}",
                {
                    "name": parsed.name,
                    "unit_amount": parsed.unit_amount,
                    "currency": parsed.currency,
                    "user_id": command["user_id"],
                    "response_url": command["response_url"],
                },
            )
            services.worker.wake()
            ack(response_type="ephemeral",
                text=f"Creating *{blocks.escape(parsed.name)}* at "
                     f"{blocks.escape(money.format_amount(parsed.unit_amount, parsed.currency))}…")


def catalog_text(services: Services) -> str:
    prices = services.store.search_prices("", limit=50)
    if not prices:
        return 'The catalog is empty. Add a price with `/invoice catalog add "Gold Special" 10.00 usd`.'
    lines = [
        f"• *{blocks.escape(price['product_name'])}* – "
        f"{blocks.escape(money.format_amount(price['unit_amount'], price['currency']))} "
        f"(`{price['stripe_id']}`)"
        for price in prices
    ]
    return "*Active prices*\n" + "\n".join(lines)
