""""Issue credit note" and "Mark paid outside Stripe" on the invoice's message: queued as a job, then acked. The
job asks `bot.access` and opens the form (bot/services/credit_notes.py)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond

from bot.blocks import ActionId
from bot.jobs.payloads import AnswerInvoiceMoney
from handlers.queueing import queue_then_ack

logger = logging.getLogger(__name__)

BUTTONS = (ActionId.CREDIT_NOTE, ActionId.PAY_OUTSIDE)
# What the answer needs: who, which button and invoice, where to answer, the trigger for its form.
KEPT = ("user", "actions", "channel", "response_url", "trigger_id", "container")


def queue_money_answer(ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond) -> None:
    pressed = body["actions"][0]
    # One job per press: each opens its own form (a form's view id then keys what it asks of Stripe).
    key = f"money:{pressed.get('action_ts') or body['trigger_id']}:{body['user']['id']}"
    answer = AnswerInvoiceMoney(body={k: body[k] for k in KEPT if k in body})
    queue_then_ack(ack, respond, context, answer, key, response_url=body.get("response_url"),
                   what=f"button {pressed.get('action_id')}")


def register(app: App) -> None:
    for action_id in BUTTONS:
        app.action(action_id.value)(queue_money_answer)
