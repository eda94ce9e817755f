from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt import App

from handlers.actions import browse, invoice_buttons, modal_lines

if TYPE_CHECKING:
    from bot.app import Services


def register(app: App, services: Services) -> None:
    modal_lines.register(app, services)
    invoice_buttons.register(app, services)
    browse.register(app, services)
