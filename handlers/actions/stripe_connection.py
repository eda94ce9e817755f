"""App Home's Stripe buttons ("Connect Stripe", "Disconnect"): queued as a job, then acked. The job asks
whether the presser is an invoicing admin; the connect link goes to them by DM, never into a channel."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.blocks import ActionId
from bot.errors import StoreUnavailable
from bot.jobs.model import JobPayload
from bot.jobs.payloads import DisconnectStripe, SendStripeLink
from handlers.context import services_of

logger = logging.getLogger(__name__)


def _queue(ack: Ack, body: dict[str, Any], context: BoltContext, job: JobPayload) -> None:
    pressed = body["actions"][0]
    key = f"{pressed['action_id']}:{pressed.get('action_ts') or body.get('trigger_id')}:{body['user']['id']}"
    try:
        services_of(context).jobs.submit(job, key=key)
    except StoreUnavailable as error:
        # App Home gives no response_url to answer through: the button simply does nothing this time.
        logger.warning("button %s not queued: %s", pressed.get("action_id"), error.message)
    ack()


def connect_stripe(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    _queue(ack, body, context, SendStripeLink(user_id=str(body["user"]["id"])))


def disconnect_stripe(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    _queue(ack, body, context, DisconnectStripe(user_id=str(body["user"]["id"])))


def register(app: App) -> None:
    app.action(ActionId.CONNECT_STRIPE.value)(connect_stripe)
    app.action(ActionId.DISCONNECT_STRIPE.value)(disconnect_stripe)
