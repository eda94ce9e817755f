"""How listeners reach the bot's services: a middleware puts them into Bolt's context."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from slack_bolt import BoltContext, BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware

from bot.container import Services

SERVICES = "invoicebot_services"


# The services of the workspace a request came from (by its team, or its org for an org-wide
# install); None when that workspace has not installed the bot.
ServicesFor = Callable[[str | None, str | None], Services | None]


class ProvideServices(Middleware):
    def __init__(self, services_for: ServicesFor) -> None:
        self.services_for = services_for

    def process(self, *, req: BoltRequest, resp: BoltResponse, next: Any) -> BoltResponse | None:  # noqa: A002
        services = self.services_for(req.context.team_id, req.context.enterprise_id)
        if services is None:
            # Slack sends nothing for a workspace without the app; a request that names one is forged
            # or late (just uninstalled): nothing to do, and nothing of another workspace to show.
            return BoltResponse(status=200, body="")
        req.context[SERVICES] = services
        return cast(BoltResponse | None, next())


def services_of(context: BoltContext) -> Services:
    return cast(Services, context[SERVICES])
