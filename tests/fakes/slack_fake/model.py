"""Records and directories of the fake Slack workspace (no HTTP in here)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TZ = "America/Los_Angeles"  # Slack's default time zone for a new account

_CONVERSATION_ID = re.compile(r"^[CGD][A-Z0-9]+$")


class SlackError(Exception):
    """A Slack-level failure: HTTP 200 with ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, messages: list[str] | None = None, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []
        self.extra = extra

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error": self.error, **self.extra}
        if self.messages:
            body["response_metadata"] = {"messages": list(self.messages)}
        return body


# ---------------------------------------------------------------------------
# recorded traffic


@dataclass(frozen=True)
class Call:
    """One HTTP request to ``/api/<method>``, as the fake answered it."""

    method: str
    args: dict[str, Any]  # decoded; `view`, `blocks`, `attachments`, `metadata` as parsed JSON; no `token`
    status: int  # HTTP status sent back
    ok: bool
    error: str | None
    time: float  # time.time() when the request arrived
    response: dict[str, Any] | None = None  # the JSON body sent back (None for a non-JSON 5xx body)
    encoding: str = "json"  # "json", "form", "multipart" or "query" (no body)
    duration: float = 0.0  # seconds spent answering, latency included
    team_id: str | None = None  # the team of the token used (None: no valid token, or no token needed)

    @property
    def result(self) -> dict[str, Any] | None:
        """Alias of :attr:`response`."""
        return self.response


@dataclass(frozen=True)
class MessageVersion:
    """A previous state of a message, kept in ``Message.history`` by chat.update."""

    text: str | None
    blocks: list[dict[str, Any]] | None
    attachments: list[dict[str, Any]] | None
    metadata: dict[str, Any] | None
    edited: dict[str, str] | None


@dataclass
class Message:
    """A message in a channel; chat.update edits it in place and keeps the old versions in ``history``."""

    ts: str
    channel: str
    text: str | None
    user: str
    blocks: list[dict[str, Any]] | None = None
    attachments: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None
    thread_ts: str | None = None  # the parent's ts for a thread reply; None for a top-level message
    reply_broadcast: bool = False
    bot_id: str | None = None
    edited: dict[str, str] | None = None  # Slack's shape: {"user": ..., "ts": ...}; None until updated
    history: list[MessageVersion] = field(default_factory=list)
    deleted: bool = False
    reply_count: int = 0

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None

    def snapshot(self) -> MessageVersion:
        return MessageVersion(self.text, self.blocks, self.attachments, self.metadata, self.edited)

    def to_api(self, team_id: str, app_id: str) -> dict[str, Any]:
        """The ``message`` object Slack returns."""
        body: dict[str, Any] = {"type": "message", "text": self.text or "", "user": self.user, "ts": self.ts}
        if self.bot_id:
            body.update(bot_id=self.bot_id, app_id=app_id)
        body["team"] = team_id
        for key in ("blocks", "attachments", "metadata", "thread_ts", "edited"):
            value = getattr(self, key)
            if value is not None:
                body[key] = value
        if self.reply_count:  # Slack marks a thread parent with its own ts as thread_ts
            body.update(thread_ts=self.ts, reply_count=self.reply_count)
        return body


@dataclass(frozen=True)
class Ephemeral:
    """One chat.postEphemeral."""

    channel: str
    user: str
    text: str | None
    blocks: list[dict[str, Any]] | None
    attachments: list[dict[str, Any]] | None
    thread_ts: str | None
    message_ts: str
    time: float
    args: dict[str, Any] = field(default_factory=dict)  # the decoded chat.postEphemeral arguments


class ResponsePost(dict[str, Any]):
    """One POST to a response_url: the decoded JSON body, plus where and when it came.

    It *is* the decoded body (``post["text"]``, ``post == {...}``); ``.name``,
    ``.url``, ``.time`` and ``.status`` (HTTP status the fake answered) ride along.
    """

    def __init__(self, body: dict[str, Any], *, name: str, url: str, time: float, status: int) -> None:
        super().__init__(body)
        self.name = name
        self.url = url
        self.time = time
        self.status = status


class StoredView(dict[str, Any]):
    """A view as Slack returns it, plus who it was opened for.

    ``.user_id`` is the user the trigger was issued for (``views.open``/``views.push``)
    or the ``user_id`` of ``views.publish``; ``.via`` is the method that created it;
    ``.closed`` turns true when the user closed the modal (``FakeSlack.close_view``) or
    a new ``views.open`` for the same user replaced its stack.
    """

    def __init__(self, view: dict[str, Any], *, user_id: str | None, via: str) -> None:
        super().__init__(view)
        self.user_id = user_id
        self.via = via
        self.closed = False


@dataclass
class ResponseUrl:
    """State behind one URL from ``FakeSlack.response_url``."""

    name: str
    url: str
    channel: str | None
    message_ts: str | None
    max_uses: int | None
    uses: int = 0


@dataclass
class Trigger:
    trigger_id: str
    user_id: str | None
    issued_at: float  # clock() value
    used: bool = False


# ---------------------------------------------------------------------------
# directories


@dataclass
class Channel:
    """A conversation the fake knows."""

    id: str
    name: str
    is_member: bool = True
    is_private: bool = False
    is_archived: bool = False
    is_im: bool = False
    is_mpim: bool = False
    user: str | None = None  # the other party of an IM
    members: set[str] | None = None  # None: membership of users is not checked
    created: int = field(default_factory=lambda: int(time.time()))

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "created": self.created,
            "is_archived": self.is_archived,
            "is_im": self.is_im,
            "is_mpim": self.is_mpim,
            "is_private": self.is_private or self.is_im or self.is_mpim,
        }
        if self.is_im:
            body.update(user=self.user, is_user_deleted=False)
        else:
            body.update(
                name=self.name,
                name_normalized=self.name,
                is_channel=self.id.startswith("C"),
                is_group=self.id.startswith("G") and not self.is_mpim,
                is_general=self.name == "general",
                is_member=self.is_member,
                is_shared=False,
                is_ext_shared=False,
                is_org_shared=False,
            )
        return body


class Channels:
    """The fake's channels.

    Default (``implicit = True``): any id matching ``[CGD][A-Z0-9]+`` exists, is
    public (``D``: an IM) and has the bot as a member, until configured
    otherwise with :meth:`add` (e.g. ``member=False``, ``archived=True``) or
    :meth:`remove` (then it does not exist: ``channel_not_found``).  Set
    ``implicit = False`` to make only added channels exist.  A channel can also
    be found by name (``#general`` or ``general``) once added with a name.

    With several teams, ``foreign`` (set by the fake) tells whether another team
    owns an id: such an id never springs into existence implicitly here.
    """

    def __init__(self) -> None:
        self.implicit = True
        self.foreign: Callable[[str], bool] | None = None
        self._channels: dict[str, Channel] = {}
        self._removed: set[str] = set()
        self._implicit_ids: set[str] = set()  # created on first sight, not configured

    def add(
        self,
        channel_id: str,
        *,
        name: str | None = None,
        member: bool = True,
        private: bool | None = None,
        archived: bool = False,
        members: list[str] | set[str] | None = None,
    ) -> Channel:
        channel = Channel(
            id=channel_id,
            name=name or f"channel-{channel_id.lower()}",
            is_member=member,
            is_private=private if private is not None else channel_id.startswith("G"),
            is_archived=archived,
            is_im=channel_id.startswith("D"),
            members=set(members) if members is not None else None,
        )
        self._channels[channel_id] = channel
        self._removed.discard(channel_id)
        self._implicit_ids.discard(channel_id)
        return channel

    def remove(self, channel_id: str) -> None:
        """Make ``channel_id`` unknown (also when ``implicit`` would have made it exist)."""
        self._channels.pop(channel_id, None)
        self._removed.add(channel_id)
        self._implicit_ids.discard(channel_id)

    def put(self, channel: Channel) -> Channel:
        self._channels[channel.id] = channel
        self._removed.discard(channel.id)
        self._implicit_ids.discard(channel.id)
        return channel

    def owns(self, channel_id: str) -> bool:
        """Whether ``channel_id`` was configured (or opened as a DM) here, not merely seen implicitly."""
        return channel_id in self._channels and channel_id not in self._implicit_ids

    def get(self, id_or_name: str) -> Channel | None:
        """The channel with this id (or ``#name``/``name``), creating an implicit one if allowed."""
        channel = self._channels.get(id_or_name)
        if channel is not None:
            return channel
        name = id_or_name.removeprefix("#")
        for candidate in self._channels.values():
            if candidate.name == name and not candidate.is_im:
                return candidate
        if (
            self.implicit
            and id_or_name not in self._removed
            and _CONVERSATION_ID.match(id_or_name)
            and not (self.foreign is not None and self.foreign(id_or_name))
        ):
            channel = self.add(id_or_name)
            self._implicit_ids.add(id_or_name)
            return channel
        return None

    def __getitem__(self, channel_id: str) -> Channel:
        channel = self.get(channel_id)
        if channel is None:
            raise KeyError(channel_id)
        return channel

    def __contains__(self, channel_id: object) -> bool:
        return isinstance(channel_id, str) and self.get(channel_id) is not None

    def __iter__(self) -> Iterator[Channel]:
        return iter(list(self._channels.values()))

    def __len__(self) -> int:
        return len(self._channels)


@dataclass
class User:
    id: str
    name: str
    real_name: str
    tz: str = DEFAULT_TZ
    tz_offset: int = 0  # seconds east of UTC, now
    tz_label: str = ""
    is_admin: bool = False
    is_owner: bool = False
    is_bot: bool = False
    deleted: bool = False
    email: str | None = None
    locale: str = "en-US"
    guest: str | None = None  # "multi" (is_restricted) or "single" (is_ultra_restricted) channel guest
    home_team: str | None = None  # a Slack Connect user's own organisation (another team id)

    def to_api(self, team_id: str, *, include_locale: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "team_id": self.home_team or team_id,
            "name": self.name,
            "deleted": self.deleted,
            "real_name": self.real_name,
            "tz": self.tz,
            "tz_label": self.tz_label,
            "tz_offset": self.tz_offset,
            "is_admin": self.is_admin,
            "is_owner": self.is_owner,
            "is_primary_owner": self.is_owner,
            "is_restricted": self.guest is not None,
            "is_ultra_restricted": self.guest == "single",
            "is_bot": self.is_bot,
            "is_app_user": False,
            "updated": 1700000000,
            "profile": {
                "real_name": self.real_name,
                "display_name": self.name,
                "real_name_normalized": self.real_name,
                "display_name_normalized": self.name,
                "team": self.home_team or team_id,
                **({"email": self.email} if self.email else {}),
            },
        }
        if self.home_team:
            body["is_stranger"] = True  # Slack's flag for a user of another organisation
        if include_locale:
            body["locale"] = self.locale
        return body


def tz_details(tz: str, tz_offset: int | None = None) -> tuple[int, str]:
    """(offset in seconds now, label) for an IANA zone; ``tz_offset`` given wins."""
    try:
        now = datetime.now(ZoneInfo(tz))
    except (ZoneInfoNotFoundError, ValueError):
        return (tz_offset or 0), tz
    offset = now.utcoffset()
    seconds = int(offset.total_seconds()) if offset is not None else 0
    return (seconds if tz_offset is None else tz_offset), (now.tzname() or tz)


@dataclass
class Usergroup:
    id: str
    users: list[str]
    handle: str
    name: str
    disabled: bool = False
