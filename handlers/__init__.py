"""Bolt listeners, thin: parse, call a service in `bot/`, build blocks, answer.

Listeners are module-level functions; they get the bot's `Services` from Bolt's context (put
there by `ProvideServices`), so no listener imports the module that builds the app.
"""

from __future__ import annotations

from slack_bolt import App

from handlers import actions, commands, errors, events, options, shape, shortcuts, views
from handlers.context import ProvideServices, ServicesFor


def register(app: App, services_for: ServicesFor) -> None:
    app.middleware(ProvideServices(services_for))
    shape.register(app)  # before any listener: a malformed payload gets a 400
    errors.register(app)
    commands.register(app)
    views.register(app)
    actions.register(app)
    options.register(app)
    events.register(app)
    shortcuts.register(app)  # "Invoice this", the message shortcut
