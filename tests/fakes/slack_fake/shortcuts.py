"""Message shortcuts, faked: the ``message_action`` payload Slack posts to the app when someone picks a
shortcut on a message (the message's ⋮ menu), with a live trigger id (3 s, one ``views.open``) and a
response_url of the fake's own.

    payload = message_action(fake, "invoice_this", message, user="UREP", channel="CSALES")
    bot.interactive(payload)   # signed as Slack signs it (tests/harness.py)
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .model import Message
    from .team import TeamState


def message_action(team: TeamState, callback_id: str, message: Message | dict[str, Any], *, user: str,
                   channel: str | None = None, team_id: str | None = None,
                   trigger_id: str | None = None, response_url: str | None = None) -> dict[str, Any]:
    """The `message_action` payload for `user` picking the shortcut `callback_id` on `message` (a message of
    the fake, or the message object as Slack would send it)."""
    if isinstance(message, dict):
        body, channel_id = dict(message), channel or ""
    else:
        body = {"type": "message", "user": message.user, "ts": message.ts, "text": message.text or ""}
        if message.blocks:
            body["blocks"] = message.blocks
        if message.thread_ts:
            body["thread_ts"] = message.thread_ts
        channel_id = channel or message.channel
    workspace = team._workspace
    team_id = team_id or workspace.team_id
    return {
        "type": "message_action",
        "token": "legacy",
        "action_ts": f"{time.time():.6f}",
        "team": {"id": team_id, "domain": "acme"},
        "user": {"id": user, "username": user.lower(), "team_id": team_id, "name": user.lower()},
        "channel": {"id": channel_id, "name": "channel"},
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": trigger_id or team.new_trigger_id(user),
        "response_url": response_url or team.response_url(f"shortcut-{callback_id}", channel=channel_id),
        "message_ts": body.get("ts"),
        "message": body,
        "api_app_id": workspace.app_id,
    }
