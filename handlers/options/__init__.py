from __future__ import annotations

from slack_bolt import App

from handlers.options import search


def register(app: App) -> None:
    search.register(app)
