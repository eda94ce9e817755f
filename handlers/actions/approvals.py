"""Approve and Reject on a request for approval: queued as a job, then acked. The job asks who may decide
(`bot/access.py`), records the first decision once, or answers a stale press with who decided and when."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond

from bot.blocks import ActionId
from bot.errors import StoreUnavailable
from bot.jobs.payloads import AnswerApproval
from handlers.context import services_of
from handlers.errors import STORE_DOWN

logger = logging.getLogger(__name__)

# What of the interaction the answer needs: who, which button, where to answer, Reject's trigger for its form.
KEPT = ("user", "actions", "channel", "response_url", "trigger_id", "container")


def queue_decision(ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond) -> None:
    pressed = body["actions"][0]
    # One job per press (a double click is two presses): the decision itself is taken once, in the job.
    key = f"approval:{pressed.get('action_ts') or body['trigger_id']}:{body['user']['id']}"
    try:
        services_of(context).jobs.submit(AnswerApproval(body={k: body[k] for k in KEPT if k in body}), key=key)
    except StoreUnavailable as error:
        logger.warning("button %s not queued: %s", pressed.get("action_id"), error.message)
        ack()
        if body.get("response_url"):  # Slack's own URL: it needs no database
            respond(response_type="ephemeral", replace_original=False, text=STORE_DOWN)
        return
    ack()


def register(app: App) -> None:
    app.action(ActionId.APPROVAL_APPROVE.value)(queue_decision)
    app.action(ActionId.APPROVAL_REJECT.value)(queue_decision)
