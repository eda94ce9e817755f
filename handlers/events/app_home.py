"""App Home: a "New invoice" button, open and overdue totals per currency, the rep's recent invoices."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot import blocks
from bot.access import Action
from bot.blocks import ActionId
from handlers.context import services_of


def home_opened(event: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    if event.get("tab") not in (None, "home"):
        return
    user_id = event["user"]
    client.views_publish(user_id=user_id, view=services_of(context).browser.home(user_id))


def home_new_invoice(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    services = services_of(context)
    refusal = services.access.refusal(Action.CREATE, body["user"]["id"])
    if refusal:
        client.views_open(trigger_id=body["trigger_id"], view=blocks.status_view("Not allowed", refusal))
        return
    defaults = services.modal_defaults
    state = blocks.ModalState(channel_id="", default_currency=defaults.currency,
                              default_days=defaults.days_until_due)
    client.views_open(trigger_id=body["trigger_id"], view=blocks.invoice_modal(state))


def register(app: App) -> None:
    app.event("app_home_opened")(home_opened)
    app.action(ActionId.HOME_NEW_INVOICE.value)(home_new_invoice)
