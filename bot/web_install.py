"""SLACK_MODE=oauth: the pages and redirects of installing the app in a workspace (Slack OAuth v2).

`GET /slack/install` and `GET /slack/oauth_redirect` hand the browser's request to Bolt's flow
(`bot.oauth.InstallFlow`, which Bolt's App holds) and send back what it answers: our pages, and the
state cookie. They are plain browser GETs: no Slack signature, and nothing in them is trusted
before the flow has checked the state against both the cookie and the database.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlencode, urlsplit

from slack_bolt import BoltRequest
from slack_bolt.adapter.starlette.handler import to_starlette_response
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from bot import pages
from bot.bootstrap import Bot
from bot.config import Settings
from bot.errors import StoreUnavailable
from bot.oauth import APP_NAME, INSTALL_PATH, PAGE_HEADERS, REDIRECT_PATH, InstallFlow, page

logger = logging.getLogger(__name__)

# Slack's `team` parameter preselects the workspace on its page; anything else is not passed on,
# since Bolt writes it into the authorize URL as it comes.
TEAM_ID = re.compile(r"^T[A-Z0-9]{2,20}$")
UNAVAILABLE_TITLE = f"{APP_NAME} could not finish this step"
UNAVAILABLE_DETAIL = ("Something on our side failed for a moment; the install may not be complete. Try again in a "
                      "minute; if it keeps happening, contact support.")


def support_contact(settings: Settings) -> str:
    return settings.support_contact or f"support@{urlsplit(settings.public_url).hostname}"


def install_routes(bot: Bot) -> list[BaseRoute]:
    flow = bot.bolt.oauth_flow
    if not isinstance(flow, InstallFlow):
        raise TypeError("SLACK_MODE=oauth without bot.oauth's install flow: see bot/bootstrap.py")
    contact = support_contact(bot.settings)

    def unavailable() -> Response:
        return to_starlette_response(page(pages.install_failure_page(
            app_name=APP_NAME, reason_title=UNAVAILABLE_TITLE, reason_detail=UNAVAILABLE_DETAIL,
            install_url=INSTALL_PATH), 503, forget_state=flow.settings))

    async def install(request: Request) -> Response:
        team = request.query_params.get("team", "")
        query = urlencode({"team": team}) if TEAM_ID.match(team) else ""
        try:
            answer = await run_in_threadpool(flow.handle_installation, as_bolt_request(request, query))
        except StoreUnavailable as error:  # no state could be issued
            logger.warning("install page not served: %s", error.message)
            return unavailable()
        return to_starlette_response(answer)

    async def oauth_redirect(request: Request) -> Response:
        try:
            answer = await run_in_threadpool(flow.handle_callback, as_bolt_request(request, request.url.query))
        except Exception:  # the flow's own failures are pages already: this is the store or a bug
            logger.exception("an install could not be finished")
            return unavailable()
        return to_starlette_response(answer)

    async def privacy(request: Request) -> Response:
        return html_page(pages.privacy_page(app_name=APP_NAME))

    async def support(request: Request) -> Response:
        return html_page(pages.support_page(app_name=APP_NAME, support_contact=contact))

    return [
        Route(INSTALL_PATH, install, methods=["GET"]),
        Route(REDIRECT_PATH, oauth_redirect, methods=["GET"]),
        Route(pages.PRIVACY_PATH, privacy, methods=["GET"]),
        Route(pages.SUPPORT_PATH, support, methods=["GET"]),
    ]


def as_bolt_request(request: Request, query: str) -> BoltRequest:
    return BoltRequest(body="", query=query, headers=dict(request.headers.items()))


def html_page(html: str) -> Response:
    return HTMLResponse(html, headers={name: value for name, value in PAGE_HEADERS.items() if name != "Content-Type"})

