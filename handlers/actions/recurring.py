"""`/invoice recurring`'s buttons: Cancel at period end, Cancel now (each confirmed in Slack first). Queued
as a job, then acked; the job asks who may and queues the cancellation once (bot/services/recurring.py)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond

from bot.blocks import ActionId
from bot.jobs.payloads import AnswerRecurring
from handlers.queueing import queue_then_ack

logger = logging.getLogger(__name__)

RECURRING = (ActionId.RECURRING_CANCEL_AT_END, ActionId.RECURRING_CANCEL_NOW)
KEPT = ("user", "actions", "channel", "response_url", "container")


def queue_recurring(ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond) -> None:
    pressed = body["actions"][0]
    key = f"recurring:{pressed.get('action_ts') or body['trigger_id']}:{body['user']['id']}"
    answer = AnswerRecurring(body={k: body[k] for k in KEPT if k in body})
    queue_then_ack(ack, respond, context, answer, key, response_url=body.get("response_url"),
                   what=f"button {pressed.get('action_id')}")


def register(app: App) -> None:
    for action_id in RECURRING:
        app.action(action_id.value)(queue_recurring)
