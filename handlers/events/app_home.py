"""App Home: queued (the event's id keeps a redelivery from drawing it twice), then acked."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.errors import StoreUnavailable
from bot.jobs.payloads import PublishHome
from handlers.context import services_of

logger = logging.getLogger(__name__)


def home_opened(ack: Ack, body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
    if event.get("tab") in (None, "home"):
        key = f"home:{body.get('event_id') or event.get('event_ts')}:{event['user']}"
        try:
            services_of(context).jobs.submit(PublishHome(user_id=event["user"]), key=key)
        except StoreUnavailable as error:
            # Nobody to tell: the tab keeps what it showed, and the next opening draws it again.
            logger.warning("App Home not queued: %s", error.message)
    ack()


def register(app: App) -> None:
    app.event("app_home_opened")(home_opened)
