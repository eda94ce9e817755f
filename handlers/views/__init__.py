from __future__ import annotations

from slack_bolt import App

from handlers.views import approval_reason, chasing, invoice_modal, invoice_money, settings_modal


def register(app: App) -> None:
    invoice_modal.register(app)
    settings_modal.register(app)
    approval_reason.register(app)
    chasing.register(app)
    invoice_money.register(app)
