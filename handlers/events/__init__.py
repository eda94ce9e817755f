from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt import App

from handlers.events import app_home

if TYPE_CHECKING:
    from bot.app import Services


def register(app: App, services: Services) -> None:
    app_home.register(app, services)
