from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt import App

from handlers.views import invoice_modal

if TYPE_CHECKING:
    from bot.app import Services


def register(app: App, services: Services) -> None:
    invoice_modal.register(app, services)
