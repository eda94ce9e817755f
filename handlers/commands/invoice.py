"""`/invoice`: one small answer per subcommand, picked by the parsed command's type.

Every answer that depends on who is asking acks first (asking Slack who someone is takes a call)
and answers through the response_url; `bot.access` decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot import blocks, money, slash
from bot.access import Action
from bot.container import Services
from bot.forms import EMAIL, unsafe_character
from bot.jobs.payloads import AddCatalogPrice
from bot.mrkdwn import escape
from bot.services.browse import Answer
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

    def reply(self, answer: Answer) -> None:
        self.answer(answer.text, answer.blocks)

    def refusal(self, action: Action, what: str = "do that") -> str | None:
        return self.services.access.refusal(action, self.user_id, what=what)


def invoice_command(ack: Ack, command: dict[str, Any], client: WebClient, respond: Respond,
                    context: BoltContext) -> None:
    parsed = slash.parse(command.get("text", ""))
    ANSWERS[type(parsed)](parsed, Invocation(command, ack, respond, client, services_of(context)))


def open_modal(parsed: slash.OpenModal, call: Invocation) -> None:
    call.ack()
    refusal = call.refusal(Action.CREATE)
    if refusal:
        call.answer(refusal)
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
    call.ack()
    call.answer(call.refusal(Action.CREATE) or catalog_text(call.services))


def add_catalog_price(parsed: slash.AddCatalogPrice, call: Invocation) -> None:
    invisible = unsafe_character(parsed.name)
    if invisible:
        call.ack(response_type="ephemeral", text=f"Remove the invisible character {invisible} from the product name.")
        return
    call.ack()
    refusal = call.refusal(Action.ADMINISTER, "add prices to the catalog")
    if refusal:
        call.answer(refusal)
        return
    call.services.jobs.submit(AddCatalogPrice(name=parsed.name, unit_amount=parsed.unit_amount,
                                              currency=parsed.currency, user_id=call.user_id,
                                              response_url=call.command["response_url"]),
                              key=f"catalog:{call.command['trigger_id']}")
    call.answer(f"Creating *{escape(parsed.name)}* at "
                f"{escape(money.format_amount(parsed.unit_amount, parsed.currency))}…")


def list_invoices(parsed: slash.ListInvoices, call: Invocation) -> None:
    call.ack()
    call.reply(call.services.browser.list_page(call.user_id, parsed))


def show_invoice(parsed: slash.ShowInvoice, call: Invocation) -> None:
    call.ack()
    call.reply(call.services.browser.card(call.user_id, parsed.reference))


def show_audit(parsed: slash.ShowAudit, call: Invocation) -> None:
    call.ack()
    call.reply(call.services.browser.audit(call.user_id, parsed.reference))


def list_routes(parsed: slash.ListRoutes, call: Invocation) -> None:
    call.ack()
    call.answer(call.refusal(Action.ADMINISTER, "see where payment news goes") or call.services.routing.describe())


def set_route(parsed: slash.SetRoute, call: Invocation) -> None:
    call.ack()
    refusal = call.refusal(Action.ADMINISTER, "change where payment news goes")
    if refusal:
        call.answer(refusal)
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


def catalog_text(services: Services) -> str:
    prices = services.reads.prices.search("", limit=50)
    if not prices:
        return 'The catalog is empty. Add a price with `/invoice catalog add "Gold Special" 10.00 usd`.'
    lines = [f"• *{escape(price.product_name)}* – {escape(money.format_amount(price.unit_amount, price.currency))} "
             f"(`{escape(price.stripe_id)}`)" for price in prices]
    return "*Active prices*\n" + "\n".join(lines)


def register(app: App) -> None:
    app.command("/invoice")(invoice_command)
