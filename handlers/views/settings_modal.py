"""`/invoice settings` submitted: validate (pure), queue the save, answer at once. The job asks again
whether the person is an admin (`bot/services/workspace_settings.py`) and says what was saved."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from slack_bolt import Ack, App, BoltContext

from bot import blocks
from bot.errors import StoreUnavailable
from bot.forms import field_errors, parse_settings_form
from bot.jobs.payloads import SaveSettings
from handlers.context import services_of
from handlers.errors import STORE_DOWN

logger = logging.getLogger(__name__)


def submit_settings(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
    try:
        form = parse_settings_form(view["state"]["values"])
    except ValidationError as error:
        ack(response_action="errors", errors=field_errors(error))
        return
    try:
        # Keyed by the view: a double submit queues nothing new.
        services_of(context).jobs.submit(SaveSettings(view_id=view["id"], user_id=body["user"]["id"],
                                                      **form.model_dump()), key=f"settings:{view['id']}")
    except StoreUnavailable as error:
        logger.warning("settings not queued: %s", error.message)
        ack(response_action="errors", errors={"payments_channel": STORE_DOWN})  # the form stays as typed
        return
    ack(response_action="update", view=blocks.status_view("Workspace settings",
                                                          ":hourglass_flowing_sand: Saving the settings…"))


def register(app: App) -> None:
    app.view(blocks.SETTINGS_CALLBACK_ID)(submit_settings)
