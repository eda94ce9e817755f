"""Approve and Reject on a request for approval: queued as a job, then acked. The job asks who may decide
(`bot/access.py`), records the first decision once, or answers a stale press with who decided and when."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond

from bot.blocks import ActionId
from bot.jobs.payloads import AnswerApproval
from handlers.queueing import queue_then_ack

logger = logging.getLogger(__name__)

# What of the interaction the answer needs: who, which button, where to answer, Reject's trigger for its form.
KEPT = ("user", "actions", "channel", "response_url", "trigger_id", "container")


def queue_decision(ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond) -> None:
    pressed = body["actions"][0]
    # One job per press (a double click is two presses): the decision itself is taken once, in the job.
    key = f"approval:{pressed.get('action_ts') or body['trigger_id']}:{body['user']['id']}"
    answer = AnswerApproval(body={k: body[k] for k in KEPT if k in body})
    queue_then_ack(ack, respond, context, answer, key, response_url=body.get("response_url"),
                   what=f"button {pressed.get('action_id')}")


def register(app: App) -> None:
    app.action(ActionId.APPROVAL_APPROVE.value)(queue_decision)
    app.action(ActionId.APPROVAL_REJECT.value)(queue_decision)
