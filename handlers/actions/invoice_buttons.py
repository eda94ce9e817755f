"""Buttons on the invoice message: ack at once, queue the Stripe work, the worker replies."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App

if TYPE_CHECKING:
    from bot.app import Services

logger = logging.getLogger(__name__)

ACTIONS = {
    "invoice_send": "send",
    "invoice_void": "void",
    "invoice_uncollectible": "uncollectible",
    "invoice_remind": "remind",
}


def register(app: App, services: Services) -> None:
    @app.action("invoice_open")
    def open_link(ack: Ack) -> None:
        ack()  # a link button: Slack opens the URL, the app only has to acknowledge

    for action_id, action in ACTIONS.items():
        app.action(action_id)(_make_handler(action, services))


def _make_handler(action: str, services: Services):  # noqa: ANN202 - a Bolt listener
    def handle(ack: Ack, body: dict[str, Any], respond: Any) -> None:
        ack()
        invoice_id = str(body["actions"][0].get("value") or "")
        user_id = body["user"]["id"]
        channel_id = (body.get("channel") or {}).get("id")
        invoice = services.store.get_invoice(invoice_id)
        if invoice is None:
            respond(response_type="ephemeral", replace_original=False,
                    text="I don't know that invoice any more; it may have been deleted.")
            return
        refusal = services.permissions.refuse(action, user_id, invoice)
        if refusal:
            respond(response_type="ephemeral", replace_original=False, text=refusal)
            return
        # One job per press; Stripe's idempotency key (invoice id + action) makes repeats harmless.
        services.store.enqueue("invoice_action", f"{action}:{invoice_id}:{body['actions'][0].get('action_ts')}",
                               {"action": action, "invoice_id": invoice_id, "user_id": user_id,
                                "channel_id": channel_id})
        services.worker.wake()

    return handle
