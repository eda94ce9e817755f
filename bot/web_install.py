"""SLACK_MODE=oauth: the pages and redirects of installing the app in a workspace (Slack OAuth v2)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from bot.bootstrap import Bot


def install_routes(bot: Bot) -> list[BaseRoute]:
    return []
