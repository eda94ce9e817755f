from __future__ import annotations

from slack_bolt import App

from handlers.actions import answers, stripe_connection


def register(app: App) -> None:
    answers.register(app)
    stripe_connection.register(app)
