"""Link previews, faked: a person pastes links (``share_link``), Slack sends the app ``link_shared``, the app
answers with ``chat.unfurl``, validated as Slack does.

1. ``links(fake).share_link("C1", "see https://…", user="U1")`` posts the person's message in the channel
   (``messages("C1")`` shows it) and answers the ``link_shared`` event Slack would send for it: ``channel``,
   ``user``, ``message_ts``, ``thread_ts`` (a reply), ``unfurl_id``, ``source: conversations_history``,
   ``is_bot_user_member`` (whether the bot is in the channel) and ``links`` (``domain`` and ``url`` of each link
   of the text, Slack's ``<url|label>`` included; or the ``urls`` given). Wrap it with ``Team.event_envelope``
   and sign it to send it to the app. ``compose_link(user, url)`` is the same for a link still in the message
   composer (``channel: COMPOSER``, ``source: composer``; no message yet).
2. ``chat.unfurl`` (``channel`` + ``ts``, or ``unfurl_id`` + ``source``; ``unfurls``: a JSON map of URL to an
   attachment with ``blocks`` or ``text``): refused with Slack's errors: ``missing_unfurls``,
   ``invalid_unfurls_format``, ``missing_channel``, ``missing_ts``, ``cannot_find_channel``,
   ``cannot_find_message``, ``cannot_unfurl_url`` (a URL of the message no ``link_shared`` was sent for),
   ``cannot_unfurl_message`` (a URL not in the message), ``cannot_parse_attachment``, and ``invalid_blocks``
   (each attachment's blocks through the same Block Kit validation as messages, ``slack_sdk.models``).
   Accepted, the unfurls are kept per message (a later call for the same message replaces them URL by URL, as
   Slack's does): ``links(fake).unfurls("C1", ts)``.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .blockkit import MESSAGE_MAX_BLOCKS, validate_blocks
from .model import Message, SlackError

if TYPE_CHECKING:
    from .team import TeamState
    from .workspace import Workspace

SOURCES = ("composer", "conversations_history")
COMPOSER = "COMPOSER"
_LINK = re.compile(r"<(https?://[^|<>\s]+)(?:\|[^<>]*)?>|(?<![<|\w])(https?://[^\s<>|]+)")


@dataclass
class SharedLinks:
    """The links of one message (or composer draft) Slack told the app about."""

    channel: str
    ts: str
    urls: list[str]
    unfurl_id: str
    source: str


def _text_arg(args: dict[str, Any], name: str) -> str | None:
    value = args.get(name)
    return value if isinstance(value, str) and value else None


def links_in(text: str) -> list[str]:
    """The http(s) links of a message's text, in order, each once (Slack's `<url|label>` too)."""
    found = [match.group(1) or match.group(2) for match in _LINK.finditer(text)]
    return list(dict.fromkeys(url.rstrip(".,;:!?)") for url in found))


class Unfurls:
    """A workspace's shared links and the unfurls the app gave them; ``chat.unfurl`` itself."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._shared: dict[tuple[str, str], SharedLinks] = {}
        self._by_id: dict[str, SharedLinks] = {}
        self._unfurls: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}

    # --- what tests do ---------------------------------------------------------------------------------
    def share_link(self, channel: str, text: str, *, user: str, thread_ts: str | None = None,
                   urls: list[str] | None = None) -> dict[str, Any]:
        """Post `user`'s message with links in `channel`; the `link_shared` event Slack sends for it."""
        workspace = self.workspace
        with workspace.lock:
            target = workspace.channels.get(workspace.resolve_channel_id(channel))
            if target is None:
                raise ValueError(f"no channel {channel} in the fake")
            message = workspace.store_message(Message(ts=workspace.next_ts(), channel=target.id, text=text, user=user,
                                                      thread_ts=thread_ts))
            shared = SharedLinks(target.id, message.ts, list(urls) if urls is not None else links_in(text),
                                 f"{user}-{secrets.token_hex(8)}", "conversations_history")
            self._shared[(target.id, message.ts)] = shared
            self._by_id[shared.unfurl_id] = shared
            event: dict[str, Any] = {
                "type": "link_shared", "channel": target.id, "is_bot_user_member": bool(target.is_member),
                "user": user, "message_ts": message.ts, "unfurl_id": shared.unfurl_id,
                "source": "conversations_history", "links": [_link(url) for url in shared.urls],
                "event_ts": f"{time.time():.6f}",
            }
            if message.thread_ts:
                event["thread_ts"] = message.thread_ts
            return event

    def compose_link(self, user: str, url: str) -> dict[str, Any]:
        """A link typed into the message composer (not posted yet): its `link_shared` event."""
        with self.workspace.lock:
            shared = SharedLinks(COMPOSER, f"{user}-{secrets.token_hex(6)}", [url],
                                 f"{user}-{secrets.token_hex(8)}", "composer")
            self._by_id[shared.unfurl_id] = shared
            return {"type": "link_shared", "channel": COMPOSER, "is_bot_user_member": False, "user": user,
                    "message_ts": shared.ts, "unfurl_id": shared.unfurl_id, "source": "composer",
                    "links": [_link(url)], "event_ts": f"{time.time():.6f}"}

    def unfurls(self, channel: str, ts: str) -> dict[str, dict[str, Any]]:
        """URL -> the attachment the app unfurled it into, for one message (or `unfurl_id`, "composer")."""
        with self.workspace.lock:
            return copy.deepcopy(self._unfurls.get((self.workspace.resolve_channel_id(channel), ts), {}))

    # --- chat.unfurl -----------------------------------------------------------------------------------
    def chat_unfurl(self, args: dict[str, Any]) -> dict[str, Any]:
        unfurls = args.get("unfurls")
        if unfurls is None or unfurls == "":
            raise SlackError("missing_unfurls")
        if isinstance(unfurls, str):
            try:
                unfurls = json.loads(unfurls)
            except ValueError:
                raise SlackError("invalid_unfurls_format") from None
        if not isinstance(unfurls, dict) or not unfurls or not all(isinstance(url, str) for url in unfurls):
            raise SlackError("invalid_unfurls_format")
        unfurl_id, source = _text_arg(args, "unfurl_id"), _text_arg(args, "source")
        message_text: str | None = None
        if unfurl_id is not None or source is not None:
            if unfurl_id is None or source is None:
                raise SlackError("invalid_arguments", ["[ERROR] unfurl_id and source must be provided together"])
            if source not in SOURCES:
                raise SlackError("invalid_arguments", [f"[ERROR] source must be one of {', '.join(SOURCES)}"])
            shared = self._by_id.get(unfurl_id)
            if shared is None or shared.source != source:
                raise SlackError("cannot_find_message")
            key = (shared.channel, shared.ts)
        else:
            channel_arg, ts = _text_arg(args, "channel"), _text_arg(args, "ts")
            if channel_arg is None:
                raise SlackError("missing_channel")
            if ts is None:
                raise SlackError("missing_ts")
            channel = self.workspace.channels.get(self.workspace.resolve_channel_id(channel_arg))
            if channel is None or (channel.is_private and not channel.is_member):
                raise SlackError("cannot_find_channel")
            message = self.workspace.message(channel.id, ts)
            if message is None or message.deleted:
                raise SlackError("cannot_find_message")
            key, message_text = (channel.id, ts), message.text or ""
            found = self._shared.get(key)
            shared = found if found is not None else SharedLinks(channel.id, ts, [], "", "conversations_history")
        for url, attachment in unfurls.items():
            if url not in shared.urls:
                in_text = message_text is not None and url in links_in(message_text)
                raise SlackError("cannot_unfurl_url" if in_text else "cannot_unfurl_message")
            if not isinstance(attachment, dict):
                raise SlackError("cannot_parse_attachment")
            blocks = attachment.get("blocks")
            if blocks is None and not any(isinstance(attachment.get(name), str) and attachment[name]
                                          for name in ("text", "fallback", "title")):
                raise SlackError("cannot_parse_attachment")
            if blocks is not None:
                problems = validate_blocks(blocks, pointer=f"/unfurls/{url}/blocks", max_blocks=MESSAGE_MAX_BLOCKS)
                if problems:
                    raise SlackError("invalid_blocks", problems, errors=problems)
        self._unfurls.setdefault(key, {}).update(copy.deepcopy(unfurls))
        return {}


def _link(url: str) -> dict[str, str]:
    return {"domain": urlsplit(url).hostname or "", "url": url}


def install(workspace: Workspace) -> Unfurls:
    """Give a fake workspace `chat.unfurl` (and `workspace.unfurls`, what tests reach through `links`)."""
    unfurls = Unfurls(workspace)
    workspace.unfurls = unfurls  # type: ignore[attr-defined]
    workspace._methods["chat.unfurl"] = unfurls.chat_unfurl
    return unfurls


def links(team: TeamState) -> Unfurls:
    """The shared links and unfurls of a team of the fake (``FakeSlack`` itself: its default team)."""
    return team._workspace.unfurls  # type: ignore[attr-defined, no-any-return]
