from __future__ import annotations

from slack_bolt import App

from handlers.commands import invoice


def register(app: App) -> None:
    invoice.register(app)
