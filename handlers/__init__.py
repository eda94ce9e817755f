"""Bolt listeners, thin: parse, call a service in `bot/`, build blocks, answer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt import App

from handlers import actions, commands, events, options, shape, views

if TYPE_CHECKING:
    from bot.app import Services


def register(app: App, services: Services) -> None:
    shape.register(app)  # first: a malformed payload gets a 400 before any listener sees it
    commands.register(app, services)
    views.register(app, services)
    actions.register(app, services)
    options.register(app, services)
    events.register(app, services)
