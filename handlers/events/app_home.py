"""App Home: a "New invoice" button, open and overdue totals per currency, the rep's recent invoices."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot import blocks

if TYPE_CHECKING:
    from bot.app import Services

logger = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    @app.event("app_home_opened")
    def home_opened(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab") not in (None, "home"):
            return
        user_id = event["user"]
        client.views_publish(user_id=user_id, view=blocks.home_view(
            services.store.home_totals(), services.store.invoices_of_rep(user_id, limit=10)))

    @app.action("home_new_invoice")
    def home_new_invoice(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        state = blocks.ModalState(
            channel_id="",
            default_currency=services.settings.default_currency,
            default_days=services.settings.default_days_until_due,
        )
        client.views_open(trigger_id=body["trigger_id"], view=blocks.invoice_modal(state))
