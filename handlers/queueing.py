"""The shape of almost every listener: queue the work, then ack; with the database away, ack all the
same and say so where Slack gave a URL to answer on (Slack's own: it needs no database)."""

from __future__ import annotations

import logging

from slack_bolt import Ack, BoltContext, Respond

from bot.errors import StoreUnavailable
from bot.jobs.model import JobPayload
from handlers.context import services_of
from handlers.errors import STORE_DOWN

logger = logging.getLogger(__name__)


def queue_then_ack(ack: Ack, respond: Respond, context: BoltContext, payload: JobPayload, key: str, *,
                   response_url: str | None, what: str) -> None:
    try:
        services_of(context).jobs.submit(payload, key=key)
    except StoreUnavailable as error:
        logger.warning("%s not queued: %s", what, error.message)
        ack()
        if response_url:
            respond(response_type="ephemeral", replace_original=False, text=STORE_DOWN)
        return
    ack()
