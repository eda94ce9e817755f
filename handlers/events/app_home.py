"""App Home: queued (the event's id keeps a redelivery from drawing it twice), then acked."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.jobs.payloads import PublishHome
from handlers.context import services_of


def home_opened(ack: Ack, body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
    if event.get("tab") in (None, "home"):
        key = f"home:{body.get('event_id') or event.get('event_ts')}:{event['user']}"
        services_of(context).jobs.submit(PublishHome(user_id=event["user"]), key=key)
    ack()


def register(app: App) -> None:
    app.event("app_home_opened")(home_opened)
