from __future__ import annotations

from slack_bolt import App

from handlers.actions import answers, approvals, chasing, invoice_money, recurring, stripe_connection


def register(app: App) -> None:
    answers.register(app)
    stripe_connection.register(app)
    approvals.register(app)
    chasing.register(app)
    invoice_money.register(app)
    recurring.register(app)
