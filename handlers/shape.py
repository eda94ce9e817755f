"""Refuse Slack payloads that lack what the listeners need, with a 400 that says what is missing.

Slack itself always sends these fields; a truncated or forged body (one that still carries a valid
signature) would otherwise end in a KeyError inside Bolt's matchers or a listener, i.e. a bare 500
and no answer. This global middleware runs after Bolt's signature check (custom middleware comes
after the built-in ones), so an unsigned request still gets its 401 first.
"""

from __future__ import annotations

import json
import logging
from typing import Any, cast

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware

from bot.blocks import ActionId
from bot.origins import is_slack_origin
from handlers.context import services_of

logger = logging.getLogger(__name__)

VIEW_TYPES = ("view_submission", "view_closed")
INTERACTIVE_TYPES = (*VIEW_TYPES, "block_actions", "block_suggestion")
COMMAND_FIELDS = ("user_id", "channel_id", "trigger_id", "response_url")
MODAL_ACTIONS = (ActionId.ADD_LINE.value,)  # buttons that only exist inside the invoice modal


def _text(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def problem(body: Any, response_origins: frozenset[str] = frozenset()) -> str | None:
    """What is wrong with the payload's shape, or None when the listeners can work with it."""
    if not isinstance(body, dict):
        return "the payload is not a JSON object"
    if response_origins:
        for url in _response_urls(body):
            if not isinstance(url, str) or not is_slack_origin(url, response_origins):
                return "a response_url that is not Slack's"
    if "command" in body:
        missing = [name for name in COMMAND_FIELDS if not _text(body.get(name))]
        if missing:
            return f"the command lacks {', '.join(missing)}"
        if not isinstance(body.get("text", ""), str):
            return "the command text is not a string"
        return None
    kind = body.get("type")
    if kind is not None and not isinstance(kind, str):
        return "type is not a string"
    if kind in INTERACTIVE_TYPES:
        user = body.get("user")
        if not isinstance(user, dict) or not _text(user.get("id")):
            return "user.id is missing"
    if kind in VIEW_TYPES:
        return _view_problem(body.get("view"))
    if kind == "block_actions":
        actions = body.get("actions")
        if not isinstance(actions, list) or not actions:
            return "actions is not a non-empty list"
        for action in actions:
            if not isinstance(action, dict) or not _text(action.get("action_id")):
                return "an action lacks its action_id"
            if not isinstance(action.get("value", ""), str):
                return "an action's value is not a string"
        if not _text(body.get("trigger_id")):
            return "trigger_id is missing"
        if body.get("view") is not None or any(action["action_id"] in MODAL_ACTIONS for action in actions):
            return _view_problem(body.get("view"))
    if kind == "block_suggestion":
        if not _text(body.get("action_id")):
            return "action_id is missing"
        if not isinstance(body.get("value", ""), str):
            return "value is not a string"
    if kind == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict) or not _text(event.get("type")):
            return "event.type is missing"
        if event["type"] == "app_home_opened" and not _text(event.get("user")):
            return "event.user is missing"
    return None


def _response_urls(body: dict[str, Any]) -> list[Any]:
    urls = [body["response_url"]] if body.get("response_url") not in (None, "") else []
    listed = body.get("response_urls")
    if isinstance(listed, list):
        urls += [item.get("response_url") if isinstance(item, dict) else item for item in listed]
    return urls


def _view_problem(view: Any) -> str | None:
    if not isinstance(view, dict):
        return "view is not an object"
    for key in ("id", "type"):
        if not _text(view.get(key)):
            return f"view.{key} is missing"
    metadata = view.get("private_metadata")
    if metadata not in (None, ""):
        try:
            parsed = json.loads(metadata) if isinstance(metadata, str) else None
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            return "view.private_metadata is not a JSON object"
        lines = parsed.get("lines", 1)
        if type(lines) is not int or not isinstance(parsed.get("channel_id", ""), str):
            return "view.private_metadata has the wrong shape"
    state = view.get("state")
    values = state.get("values") if isinstance(state, dict) else None
    if not isinstance(values, dict):
        return "view.state.values is missing"
    for elements in values.values():
        if not isinstance(elements, dict) or not all(isinstance(element, dict) for element in elements.values()):
            return "view.state.values does not map block ids to elements"
    return None


class RefuseMalformedPayloads(Middleware):
    # A Middleware subclass, not a function: Bolt builds a function middleware's arguments from the
    # body (view, actions, ...), which is exactly what fails on these payloads.
    def process(self, *, req: BoltRequest, resp: BoltResponse, next: Any) -> BoltResponse | None:  # noqa: A002
        reason = problem(req.body, services_of(req.context).response_origins)
        if reason is None:
            return cast(BoltResponse | None, next())
        logger.warning("refused a malformed Slack payload: %s", reason)
        return BoltResponse(status=400, body={"error": f"malformed Slack payload: {reason}"})


def register(app: App) -> None:
    app.middleware(RefuseMalformedPayloads())
