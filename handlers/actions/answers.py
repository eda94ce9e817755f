"""Buttons whose answer needs Slack or Stripe (the invoice's buttons, "Show more", "Open", "Add
line", App Home's "New invoice"): queued as a job, then acked; the job answers."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond

from bot.blocks import ActionId
from bot.jobs.payloads import AnswerAction
from handlers.queueing import queue_then_ack

logger = logging.getLogger(__name__)

ANSWERED = (ActionId.INVOICE_SEND, ActionId.INVOICE_VOID, ActionId.INVOICE_UNCOLLECTIBLE, ActionId.INVOICE_REMIND,
            ActionId.LIST_MORE, ActionId.SHOW_INVOICE, ActionId.ADD_LINE, ActionId.HOME_NEW_INVOICE)
# What of the interaction the answer needs (the form's state comes with `view`).
KEPT = ("user", "actions", "channel", "response_url", "trigger_id", "view", "container")


def queue_answer(ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond) -> None:
    pressed = body["actions"][0]
    key = f"action:{pressed.get('action_ts') or body['trigger_id']}:{body['user']['id']}"
    answer = AnswerAction(body={k: body[k] for k in KEPT if k in body})
    queue_then_ack(ack, respond, context, answer, key, response_url=body.get("response_url"),
                   what=f"button {pressed.get('action_id')}")


def open_link(ack: Ack) -> None:
    ack()  # a link button: Slack opens the URL, the app only has to acknowledge


def register(app: App) -> None:
    app.action(ActionId.INVOICE_OPEN.value)(open_link)
    app.action(ActionId.INVOICE_PDF.value)(open_link)  # the invoice's PDF, a link too
    for action_id in ANSWERED:
        app.action(action_id.value)(queue_answer)
