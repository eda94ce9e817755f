"""How listeners reach the bot's services: a middleware puts them into Bolt's context."""

from __future__ import annotations

from typing import Any, cast

from slack_bolt import BoltContext, BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware

from bot.container import Services

SERVICES = "invoicebot_services"


class ProvideServices(Middleware):
    def __init__(self, services: Services) -> None:
        self.services = services

    def process(self, *, req: BoltRequest, resp: BoltResponse, next: Any) -> BoltResponse | None:  # noqa: A002
        req.context[SERVICES] = self.services
        return cast(BoltResponse | None, next())


def services_of(context: BoltContext) -> Services:
    return cast(Services, context[SERVICES])
