"""The chasing buttons: on the invoice message (Promise to pay, Disputed, Resolve, Chasing…) and in a
rep's evening preview (Skip, Snooze 7 days, Send now). Queued as a job, then acked; the job asks
`bot.access` and answers (bot/services/chasing.py, bot/services/promises.py)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond

from bot.blocks import ActionId
from bot.jobs.payloads import AnswerChasing
from handlers.queueing import queue_then_ack

logger = logging.getLogger(__name__)

CHASING = (ActionId.CHASE_PROMISE, ActionId.CHASE_DISPUTE, ActionId.CHASE_RESOLVE, ActionId.CHASE_CADENCE,
           ActionId.CHASE_SKIP, ActionId.CHASE_SNOOZE, ActionId.CHASE_SEND_NOW)
# What the answer needs; `message` too: a preview shows what was done in place of the buttons pressed.
KEPT = ("user", "actions", "channel", "response_url", "trigger_id", "container", "message")


def queue_chasing(ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond) -> None:
    pressed = body["actions"][0]
    key = f"chasing:{pressed.get('action_ts') or body['trigger_id']}:{body['user']['id']}"
    answer = AnswerChasing(body={k: body[k] for k in KEPT if k in body})
    queue_then_ack(ack, respond, context, answer, key, response_url=body.get("response_url"),
                   what=f"button {pressed.get('action_id')}")


def register(app: App) -> None:
    for action_id in CHASING:
        app.action(action_id.value)(queue_chasing)
