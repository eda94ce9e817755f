"""Buttons on the invoice message: ack, check who pressed, queue the Stripe work; the worker replies."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond

from bot.access import Action
from bot.blocks import ActionId
from bot.jobs.payloads import InvoiceAction, InvoiceActionName
from handlers.context import services_of

ACTIONS: dict[ActionId, InvoiceActionName] = {
    ActionId.INVOICE_SEND: "send",
    ActionId.INVOICE_VOID: "void",
    ActionId.INVOICE_UNCOLLECTIBLE: "uncollectible",
    ActionId.INVOICE_REMIND: "remind",
}


def open_link(ack: Ack) -> None:
    ack()  # a link button: Slack opens the URL, the app only has to acknowledge


def press(ack: Ack, body: dict[str, Any], respond: Respond, context: BoltContext) -> None:
    # Ack first: who may press may take a Slack call to answer. The worker's reply (or the error
    # handler's) is what the person sees.
    ack()
    services = services_of(context)
    pressed = body["actions"][0]
    action = ACTIONS[ActionId(pressed["action_id"])]
    invoice_id = str(pressed.get("value") or "")
    user_id = body["user"]["id"]
    invoice = services.reads.invoices.get(invoice_id)
    if invoice is None:
        respond(response_type="ephemeral", replace_original=False,
                text="I don't know that invoice any more; it may have been deleted.")
        return
    refusal = services.access.refusal(Action(action), user_id, invoice)
    if refusal:
        respond(response_type="ephemeral", replace_original=False, text=refusal)
        return
    # One job per press; Stripe's idempotency key (invoice id + action) makes repeats harmless.
    services.jobs.submit(InvoiceAction(action=action, invoice_id=invoice_id, user_id=user_id,
                                       channel_id=(body.get("channel") or {}).get("id")),
                         key=f"{action}:{invoice_id}:{pressed.get('action_ts')}")


def register(app: App) -> None:
    app.action(ActionId.INVOICE_OPEN.value)(open_link)
    for action_id in ACTIONS:
        app.action(action_id.value)(press)
