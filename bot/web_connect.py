"""SLACK_MODE=oauth: the page where a workspace's admin connects its own Stripe account."""

from __future__ import annotations

from starlette.routing import BaseRoute

from bot.bootstrap import Bot


def connect_routes(bot: Bot) -> list[BaseRoute]:
    return []
