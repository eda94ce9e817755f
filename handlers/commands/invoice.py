"""`/invoice`: open the modal at once, answer help and catalog, queue catalog writes."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot import blocks, commands, money
from bot.forms import EMAIL, unsafe_character

if TYPE_CHECKING:
    from bot.app import Services

logger = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    @app.command("/invoice")
    def invoice_command(ack: Ack, command: dict[str, Any], client: WebClient, respond: Respond) -> None:
        parsed = commands.parse(command.get("text", ""))
        if isinstance(parsed, commands.OpenModal):
            ack()
            if not services.permissions.may_create(command["user_id"]):
                respond(response_type="ephemeral", text=services.permissions.refuse("create", command["user_id"], None))
                return
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
        elif isinstance(parsed, commands.ListInvoices):
            ack()
            respond(response_type="ephemeral", text="Invoices",
                    blocks=services.browser.list_page(command["user_id"], parsed.status, parsed.text))
        elif isinstance(parsed, commands.ShowInvoice):
            ack()
            card = services.browser.card(command["user_id"], parsed.reference)
            respond(response_type="ephemeral", text=f"Invoice {blocks.escape(parsed.reference)}", blocks=card) \
                if card else respond(response_type="ephemeral", text=not_found(parsed.reference))
        elif isinstance(parsed, commands.ShowAudit):
            ack()
            if not services.permissions.is_admin(command["user_id"]):
                respond(response_type="ephemeral", text="Only invoicing admins can read the audit log.")
                return
            audit = services.browser.audit(command["user_id"], parsed.reference)
            respond(response_type="ephemeral", text="Audit log", blocks=audit) \
                if audit else respond(response_type="ephemeral", text=not_found(parsed.reference))
        elif isinstance(parsed, commands.ListRoutes):
            ack(response_type="ephemeral", text=routes_text(services))
        elif isinstance(parsed, commands.SetRoute):
            ack()
            user_id = command["user_id"]
            if not services.permissions.is_admin(user_id):
                respond(response_type="ephemeral", text="Only invoicing admins can change where payment news goes.")
                return
            services.store.set_route(parsed.kind, parsed.key, parsed.channel_id, user_id)
            services.store.audit(user_id, "route", None, {}, {"kind": parsed.kind, "key": parsed.key,
                                                                "channel": parsed.channel_id})
            who = f"<@{parsed.key}>" if parsed.kind == "rep" else f"`{blocks.escape(parsed.key)}`"
            respond(response_type="ephemeral",
                    text=f"Payment news for {parsed.kind} {who} now goes to <#{parsed.channel_id}>.")
        elif isinstance(parsed, commands.AddCatalogPrice) and unsafe_character(parsed.name):
            ack(response_type="ephemeral",
                text=f"Remove the invisible character {unsafe_character(parsed.name)} from the product name.")
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


def not_found(reference: str) -> str:
    return (f"I can't find an invoice `{blocks.escape(reference)}`. Try `/invoice list` to look it up, "
            "or give its in_... id from Stripe.")


def routes_text(services: Services) -> str:
    routes = services.store.list_routes()
    default = f"Everything else goes to <#{services.settings.payments_channel}>."
    if not routes:
        return "No routes yet. " + default
    lines = [f"• {r['kind']} " + (f"<@{r['key']}>" if r["kind"] == "rep" else f"`{blocks.escape(r['key'])}`")
             + f" → <#{r['channel_id']}>" for r in routes]
    return "*Routes*\n" + "\n".join(lines) + "\n" + default


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
