"""`/invoice`: one small answer per subcommand, picked by the parsed command's type."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot import blocks, money, slash
from bot.container import Services
from bot.forms import EMAIL, unsafe_character
from bot.jobs.payloads import AddCatalogPrice
from bot.mrkdwn import escape
from handlers.context import services_of


@dataclass(frozen=True)
class Invocation:
    command: dict[str, Any]
    ack: Ack
    respond: Respond
    client: WebClient
    services: Services

    @property
    def user_id(self) -> str:
        return str(self.command["user_id"])

    def answer(self, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        self.respond(response_type="ephemeral", text=text, blocks=blocks)


def invoice_command(ack: Ack, command: dict[str, Any], client: WebClient, respond: Respond,
                    context: BoltContext) -> None:
    parsed = slash.parse(command.get("text", ""))
    ANSWERS[type(parsed)](parsed, Invocation(command, ack, respond, client, services_of(context)))


def open_modal(parsed: slash.OpenModal, call: Invocation) -> None:
    call.ack()
    permissions = call.services.permissions
    if not permissions.may_create(call.user_id):
        call.answer(permissions.refusal("create", call.user_id, None) or "")
        return
    prefill = {"customer_email": parsed.email} if parsed.email and EMAIL.match(parsed.email) else {}
    defaults = call.services.modal_defaults
    state = blocks.ModalState(channel_id=call.command["channel_id"], default_currency=defaults.currency,
                              default_days=defaults.days_until_due, values=prefill)
    call.client.views_open(trigger_id=call.command["trigger_id"], view=blocks.invoice_modal(state))


def show_help(parsed: slash.ShowHelp, call: Invocation) -> None:
    call.ack(response_type="ephemeral", text=slash.help_text(parsed.unknown))


def refuse(parsed: slash.Refuse, call: Invocation) -> None:
    call.ack(response_type="ephemeral", text=parsed.message)


def list_catalog(parsed: slash.ListCatalog, call: Invocation) -> None:
    call.ack(response_type="ephemeral", text=catalog_text(call.services))


def add_catalog_price(parsed: slash.AddCatalogPrice, call: Invocation) -> None:
    invisible = unsafe_character(parsed.name)
    if invisible:
        call.ack(response_type="ephemeral", text=f"Remove the invisible character {invisible} from the product name.")
        return
    # Queued before the ack that promises it: a store failure is an error answer, not a lost promise.
    call.services.jobs.submit(AddCatalogPrice(name=parsed.name, unit_amount=parsed.unit_amount,
                                              currency=parsed.currency, user_id=call.user_id,
                                              response_url=call.command["response_url"]),
                              key=f"catalog:{call.command['trigger_id']}")
    call.ack(response_type="ephemeral", text=f"Creating *{escape(parsed.name)}* at "
                                             f"{escape(money.format_amount(parsed.unit_amount, parsed.currency))}…")


def list_invoices(parsed: slash.ListInvoices, call: Invocation) -> None:
    call.ack()
    call.answer("Invoices", call.services.browser.list_page(call.user_id, parsed))


def show_invoice(parsed: slash.ShowInvoice, call: Invocation) -> None:
    call.ack()
    card = call.services.browser.card(call.user_id, parsed.reference)
    if card is None:
        call.answer(not_found(parsed.reference))
    else:
        call.answer(f"Invoice {escape(parsed.reference)}", card)


def show_audit(parsed: slash.ShowAudit, call: Invocation) -> None:
    call.ack()
    if not call.services.permissions.is_admin(call.user_id):
        call.answer("Only invoicing admins can read the audit log.")
        return
    audit = call.services.browser.audit(call.user_id, parsed.reference)
    if audit is None:
        call.answer(not_found(parsed.reference))
    else:
        call.answer("Audit log", audit)


def list_routes(parsed: slash.ListRoutes, call: Invocation) -> None:
    call.ack(response_type="ephemeral", text=call.services.routing.describe())


def set_route(parsed: slash.SetRoute, call: Invocation) -> None:
    call.ack()
    if not call.services.permissions.is_admin(call.user_id):
        call.answer("Only invoicing admins can change where payment news goes.")
        return
    call.services.routing.set_route(parsed.kind, parsed.key, parsed.channel_id, call.user_id)
    who = f"<@{parsed.key}>" if parsed.kind == "rep" else f"`{escape(parsed.key)}`"
    call.answer(f"Payment news for {parsed.kind} {who} now goes to <#{parsed.channel_id}>.")


ANSWERS: dict[type, Callable[[Any, Invocation], None]] = {
    slash.OpenModal: open_modal,
    slash.ShowHelp: show_help,
    slash.Refuse: refuse,
    slash.ListCatalog: list_catalog,
    slash.AddCatalogPrice: add_catalog_price,
    slash.ListInvoices: list_invoices,
    slash.ShowInvoice: show_invoice,
    slash.ShowAudit: show_audit,
    slash.ListRoutes: list_routes,
    slash.SetRoute: set_route,
}


def not_found(reference: str) -> str:
    return (f"I can't find an invoice `{escape(reference)}`. Try `/invoice list` to look it up, "
            "or give its in_... id from Stripe.")


def catalog_text(services: Services) -> str:
    prices = services.reads.prices.search("", limit=50)
    if not prices:
        return 'The catalog is empty. Add a price with `/invoice catalog add "Gold Special" 10.00 usd`.'
    lines = [f"• *{escape(price.product_name)}* – {escape(money.format_amount(price.unit_amount, price.currency))} "
             f"(`{price.stripe_id}`)" for price in prices]
    return "*Active prices*\n" + "\n".join(lines)


def register(app: App) -> None:
    app.command("/invoice")(invoice_command)
