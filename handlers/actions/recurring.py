"""`/invoice recurring`'s buttons: Cancel at period end, Cancel now (each confirmed in Slack first). Queued
as a job, then acked; the job asks who may and queues the cancellation once (bot/services/recurring.py)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond

from bot.blocks import ActionId
from bot.errors import StoreUnavailable
from bot.jobs.payloads import AnswerRecurring
from handlers.context import services_of
from handlers.errors import STORE_DOWN

logger = logging.getLogger(__name__)

RECURRING = (ActionId.RECURRING_CANCEL_AT_END, ActionId.RECURRING_CANCEL_NOW)
KEPT = ("user", "actions", "channel", "response_url", "container")


def queue_recurring(ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond) -> None:
    pressed = body["actions"][0]
    key = f"recurring:{pressed.get('action_ts') or body['trigger_id']}:{body['user']['id']}"
    try:
        services_of(context).jobs.submit(AnswerRecurring(body={k: body[k] for k in KEPT if k in body}), key=key)
    except StoreUnavailable as error:
        logger.warning("button %s not queued: %s", pressed.get("action_id"), error.message)
        ack()
        if body.get("response_url"):
            respond(response_type="ephemeral", replace_original=False, text=STORE_DOWN)
        return
    ack()


def register(app: App) -> None:
    for action_id in RECURRING:
        app.action(action_id.value)(queue_recurring)
