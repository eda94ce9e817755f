"""The chasing buttons: on the invoice message (Promise to pay, Disputed, Resolve, Chasing…) and in a
rep's evening preview (Skip, Snooze 7 days, Send now). Queued as a job, then acked; the job asks
`bot.access` and answers (bot/services/chasing.py, bot/services/promises.py)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond

from bot.blocks import ActionId
from bot.errors import StoreUnavailable
from bot.jobs.payloads import AnswerChasing
from handlers.context import services_of
from handlers.errors import STORE_DOWN

logger = logging.getLogger(__name__)

CHASING = (ActionId.CHASE_PROMISE, ActionId.CHASE_DISPUTE, ActionId.CHASE_RESOLVE, ActionId.CHASE_CADENCE,
           ActionId.CHASE_SKIP, ActionId.CHASE_SNOOZE, ActionId.CHASE_SEND_NOW)
# What the answer needs; `message` too: a preview shows what was done in place of the buttons pressed.
KEPT = ("user", "actions", "channel", "response_url", "trigger_id", "container", "message")


def queue_chasing(ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond) -> None:
    pressed = body["actions"][0]
    key = f"chasing:{pressed.get('action_ts') or body['trigger_id']}:{body['user']['id']}"
    try:
        services_of(context).jobs.submit(AnswerChasing(body={k: body[k] for k in KEPT if k in body}), key=key)
    except StoreUnavailable as error:
        logger.warning("button %s not queued: %s", pressed.get("action_id"), error.message)
        ack()
        if body.get("response_url"):
            respond(response_type="ephemeral", replace_original=False, text=STORE_DOWN)
        return
    ack()


def register(app: App) -> None:
    for action_id in CHASING:
        app.action(action_id.value)(queue_chasing)
