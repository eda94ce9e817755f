from __future__ import annotations

from slack_bolt import App

from handlers.actions import browse, invoice_buttons, modal_lines


def register(app: App) -> None:
    modal_lines.register(app)
    invoice_buttons.register(app)
    browse.register(app)
