from __future__ import annotations

from slack_bolt import App

from handlers.shortcuts import invoice_this


def register(app: App) -> None:
    invoice_this.register(app)
