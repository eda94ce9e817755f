"""The fake workspace: its state and the Slack Web API methods, independent of HTTP.

``Workspace.call(method, args)`` answers one API call with the body of a
successful response (without ``"ok": true``) or raises :class:`SlackError` /
:class:`RateLimited`.  Callers hold no lock; every call runs under the
workspace's lock.
"""

from __future__ import annotations

import copy
import itertools
import secrets
import string
import threading
import time
from collections.abc import Callable
from typing import Any

from .blockkit import (
    MESSAGE_BLOCKS_TEXT_MAX_CHARS,
    MESSAGE_MAX_BLOCKS,
    MESSAGE_TEXT_MAX_CHARS,
    blocks_text_size,
    validate_blocks,
    validate_view,
)
from .faults import Pace
from .model import (
    DEFAULT_TZ,
    Channel,
    Channels,
    Ephemeral,
    Message,
    ResponsePost,
    ResponseUrl,
    SlackError,
    StoredView,
    Trigger,
    User,
    Usergroup,
    tz_details,
)

Args = dict[str, Any]
Body = dict[str, Any]

DEFAULT_TEAM_NAME = "Fake Team"
DEFAULT_TEAM_URL = "https://fake-slack.example/"
VIEW_STACK_MAX = 3  # a root modal plus two pushed views
CONVERSATIONS_OPEN_MAX_USERS = 8
_ID_ALPHABET = string.ascii_uppercase + string.digits
_BLOCK_ID_ALPHABET = string.ascii_letters + string.digits


class RateLimited(Exception):
    """Answer HTTP 429 with this Retry-After (seconds)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited, retry after {retry_after}s")
        self.retry_after = retry_after


def _missing(name: str) -> SlackError:
    return SlackError("invalid_arguments", [f"[ERROR] missing required field: {name}"])


def _text_arg(args: Args, name: str) -> str | None:
    value = args.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) else None


def _flag(args: Args, name: str) -> bool:
    value = args.get(name)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, fraction = ts.partition(".")
    try:
        return int(seconds), int(fraction or 0)
    except ValueError:
        return 0, 0


class Workspace:
    """State of one fake Slack workspace (team): its directories, messages and views.

    Which tokens reach it is decided by ``FakeSlack`` (a token belongs to one team).
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        bot_user_id: str,
        team_id: str,
        bot_id: str,
        app_id: str,
        trigger_ttl: float,
        clock: Callable[[], float],
        team_name: str = DEFAULT_TEAM_NAME,
        url: str = DEFAULT_TEAM_URL,
        numbers: Callable[[], int] | None = None,
        bot_name: str = "invoicebot",
    ) -> None:
        self.token = token  # the bot token the team was created with (informational)
        self.bot_user_id = bot_user_id
        self.team_id = team_id
        self.team_name = team_name
        self.url = url
        self.bot_id = bot_id
        self.app_id = app_id
        # ids (V…, D…, G…) and trigger ids: several teams share one sequence, so ids never collide
        self._numbers = numbers or itertools.count(1).__next__
        self.trigger_ttl = trigger_ttl
        self.clock = clock
        self.lock = threading.RLock()
        self.pace: Pace | None = None
        self.channels = Channels()
        self.users: dict[str, User] = {}
        self.usergroups: dict[str, Usergroup] = {}
        self.ephemerals: list[Ephemeral] = []
        self.responses: list[ResponsePost] = []
        self.views: dict[str, StoredView] = {}
        self._messages: dict[str, list[Message]] = {}
        self._by_ts: dict[tuple[str, str], Message] = {}
        self._homes: dict[str, str] = {}  # user -> view id
        self._stacks: dict[str | None, list[str]] = {}  # user -> modal view ids, root first
        self._triggers: dict[str, Trigger] = {}
        self._response_urls: dict[str, ResponseUrl] = {}
        self._dms: dict[tuple[str, ...], str] = {}  # sorted users -> IM/MPIM id
        self._last_ts_us = 0
        self.add_user(bot_user_id, name=bot_name, real_name=bot_name.title(), is_bot=True)
        self._methods: dict[str, Callable[[Args], Body]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "chat.delete": self._chat_delete,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.push": self._views_push,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroups_users_list,
            "conversations.info": self._conversations_info,
            "conversations.open": self._conversations_open,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.members": self._conversations_members,
        }

    # ------------------------------------------------------------------
    # entry points

    def knows(self, method: str) -> bool:
        return method in self._methods

    def call(self, method: str, args: Args) -> Body:
        handler = self._methods.get(method)
        if handler is None:
            raise SlackError("unknown_method", req_method=method)
        with self.lock:
            return handler(copy.deepcopy(args))

    # ------------------------------------------------------------------
    # ids and clocks

    def next_ts(self) -> str:
        """A message ts like ``1700000000.000100``: wall-clock based, strictly increasing."""
        with self.lock:
            now_us = time.time_ns() // 1000
            self._last_ts_us = max(now_us, self._last_ts_us + 1)
            return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def new_id(self, prefix: str) -> str:
        with self.lock:
            number, digits = self._numbers(), ""
            while number:
                number, rest = divmod(number, len(_ID_ALPHABET))
                digits = _ID_ALPHABET[rest] + digits
            return prefix + digits.rjust(10, "0")

    def new_trigger_id(self, user_id: str | None) -> str:
        with self.lock:
            trigger_id = f"{int(time.time())}.{self._numbers()}.{secrets.token_hex(16)}"
            self._triggers[trigger_id] = Trigger(trigger_id, user_id, self.clock())
            return trigger_id

    def _new_hash(self) -> str:
        return f"{int(time.time())}.{secrets.token_hex(4)}"

    # ------------------------------------------------------------------
    # directories

    def add_user(
        self,
        user_id: str,
        *,
        tz: str = DEFAULT_TZ,
        tz_offset: int | None = None,
        is_admin: bool = False,
        is_owner: bool = False,
        is_bot: bool = False,
        name: str | None = None,
        real_name: str | None = None,
        deleted: bool = False,
        email: str | None = None,
        locale: str = "en-US",
        guest: str | None = None,
        home_team: str | None = None,
    ) -> User:
        offset, label = tz_details(tz, tz_offset)
        user = User(
            id=user_id,
            name=name or user_id.lower(),
            real_name=real_name or (name or user_id).title(),
            tz=tz,
            tz_offset=offset,
            tz_label=label,
            is_admin=is_admin or is_owner,
            is_owner=is_owner,
            is_bot=is_bot,
            deleted=deleted,
            email=email,
            locale=locale,
            guest=guest,
            home_team=home_team,
        )
        with self.lock:
            self.users[user_id] = user
        return user

    def add_usergroup(
        self,
        usergroup_id: str,
        users: list[str],
        *,
        handle: str | None = None,
        name: str | None = None,
        disabled: bool = False,
    ) -> Usergroup:
        group = Usergroup(
            id=usergroup_id,
            users=list(users),
            handle=handle or usergroup_id.lower(),
            name=name or usergroup_id,
            disabled=disabled,
        )
        with self.lock:
            self.usergroups[usergroup_id] = group
        return group

    def open_dm(self, user_ids: list[str]) -> tuple[Channel, bool]:
        """The IM (one user) or MPIM (several) with these users; (channel, already_open)."""
        with self.lock:
            key = tuple(sorted(set(user_ids)))
            existing = self._dms.get(key)
            if existing is not None:
                channel = self.channels.get(existing)
                if channel is not None:
                    return channel, True
            if len(key) == 1:
                channel = Channel(id=self.new_id("D"), name=key[0], is_im=True, user=key[0])
                channel.members = {key[0], self.bot_user_id}
            else:
                names = [self.users[u].name for u in key]
                channel = Channel(
                    id=self.new_id("G"),
                    name="mpdm-" + "--".join(names) + "-1",
                    is_private=True,
                    is_mpim=True,
                    members={*key, self.bot_user_id},
                )
            self.channels.put(channel)
            self._dms[key] = channel.id
            return channel, False

    def resolve_channel_id(self, channel: str) -> str:
        """``U…``/``W…`` -> the id of the IM with that user (if opened); anything else unchanged."""
        with self.lock:
            return self._dms.get((channel,), channel)

    # ------------------------------------------------------------------
    # messages (state access for FakeSlack)

    def messages(self, channel: str, *, include_deleted: bool = False) -> list[Message]:
        with self.lock:
            found = self._messages.get(self.resolve_channel_id(channel), [])
            return sorted(
                (
                    m
                    for m in found
                    if (include_deleted or not m.deleted) and (not m.is_reply or m.reply_broadcast)
                ),
                key=lambda m: _ts_key(m.ts),
            )

    def thread(self, channel: str, ts: str, *, include_deleted: bool = False) -> list[Message]:
        with self.lock:
            found = self._messages.get(self.resolve_channel_id(channel), [])
            return sorted(
                (m for m in found if m.is_reply and m.thread_ts == ts and (include_deleted or not m.deleted)),
                key=lambda m: _ts_key(m.ts),
            )

    def message(self, channel: str, ts: str) -> Message | None:
        with self.lock:
            return self._by_ts.get((self.resolve_channel_id(channel), ts))

    def store_message(self, message: Message) -> Message:
        with self.lock:
            if message.thread_ts is not None:
                parent = self._by_ts.get((message.channel, message.thread_ts))
                if parent is not None and parent.is_reply:  # a reply to a reply joins the parent's thread
                    message.thread_ts = parent.thread_ts
                    parent = self._by_ts.get((message.channel, parent.thread_ts or ""))
                if parent is not None:
                    parent.reply_count += 1
            self._messages.setdefault(message.channel, []).append(message)
            self._by_ts[(message.channel, message.ts)] = message
            return message

    # ------------------------------------------------------------------
    # validation helpers

    def _target(self, args: Args, *, posting: bool = True) -> Channel:
        """The conversation named by ``args["channel"]``, with Slack's errors."""
        name = _text_arg(args, "channel")
        if name is None:
            raise SlackError("channel_not_found")
        if name[0] in "UW":
            user = self.users.get(name)
            if user is None or user.deleted:
                raise SlackError("channel_not_found")
            dm, _ = self.open_dm([name])
            return dm
        channel = self.channels.get(name)
        if channel is None or (channel.is_private and not channel.is_member):
            raise SlackError("channel_not_found")
        if posting:
            if channel.is_archived:
                raise SlackError("is_archived")
            if not channel.is_member:
                raise SlackError("not_in_channel")
        return channel

    def _content(
        self, args: Args, *, require: bool, whole_blocks_cap: bool = True
    ) -> tuple[str | None, list[dict[str, Any]] | None, list[dict[str, Any]] | None]:
        """(text, blocks, attachments) of a message call, validated like Slack does.

        `whole_blocks_cap`: the blocks together are capped too (``msg_blocks_too_long``), as for
        ``chat.postMessage``; a ``response_url`` post was reported exempt (slackapi/bolt-js#2867)."""
        text = _text_arg(args, "text")
        blocks = args.get("blocks")
        attachments = args.get("attachments")
        if blocks is not None:
            if isinstance(blocks, str) or not isinstance(blocks, list):
                raise SlackError(
                    "invalid_blocks_format", ["[ERROR] blocks must be a JSON array [json-pointer:/blocks]"]
                )
            problems = validate_blocks(blocks, max_blocks=MESSAGE_MAX_BLOCKS)
            if problems:
                raise SlackError("invalid_blocks", problems, errors=problems)
            if whole_blocks_cap and blocks_text_size(blocks) > MESSAGE_BLOCKS_TEXT_MAX_CHARS:
                raise SlackError("msg_blocks_too_long")
        if attachments is not None:
            if not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments):
                raise SlackError("invalid_attachments")
            for index, attachment in enumerate(attachments):
                if "blocks" in attachment:
                    problems = validate_blocks(
                        attachment["blocks"],
                        pointer=f"/attachments/{index}/blocks",
                        max_blocks=MESSAGE_MAX_BLOCKS,
                    )
                    if problems:
                        raise SlackError("invalid_blocks", problems, errors=problems)
        if text is not None and len(text) > MESSAGE_TEXT_MAX_CHARS:
            raise SlackError("msg_too_long")
        if require and not (text or blocks or attachments):
            raise SlackError("no_text")
        return text, blocks, attachments

    @staticmethod
    def _metadata(args: Args) -> dict[str, Any] | None:
        metadata = args.get("metadata")
        if metadata is None:
            return None
        if (
            not isinstance(metadata, dict)
            or not isinstance(metadata.get("event_type"), str)
            or not isinstance(metadata.get("event_payload", {}), dict)
        ):
            raise SlackError("invalid_metadata_format")
        return metadata

    @staticmethod
    def with_block_ids(blocks: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        """A copy of ``blocks`` where each block without a ``block_id`` gets a random one, as Slack does."""
        if blocks is None:
            return None
        result = copy.deepcopy(blocks)
        for block in result:
            if "block_id" not in block:
                block["block_id"] = "".join(secrets.choice(_BLOCK_ID_ALPHABET) for _ in range(5))
        return result

    def _message(self, channel: Channel, ts: str | None) -> Message:
        if ts is None:
            raise SlackError("message_not_found")
        message = self._by_ts.get((channel.id, ts))
        if message is None or message.deleted:
            raise SlackError("message_not_found")
        return message

    # ------------------------------------------------------------------
    # auth / users / groups / conversations

    def _auth_test(self, args: Args) -> Body:
        return {
            "url": self.url,
            "team": self.team_name,
            "user": self.users[self.bot_user_id].name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "is_enterprise_install": False,
        }

    def auth_test_for_user(self, user_id: str) -> Body:
        """``auth.test`` answered for a user token (``xoxp-``) of this team."""
        with self.lock:
            user = self.users.get(user_id)
            return {
                "url": self.url,
                "team": self.team_name,
                "user": user.name if user is not None else user_id.lower(),
                "team_id": self.team_id,
                "user_id": user_id,
                "is_enterprise_install": False,
            }

    def _users_info(self, args: Args) -> Body:
        user_id = _text_arg(args, "user")
        if user_id is None:
            raise _missing("user")
        user = self.users.get(user_id)
        if user is None:
            raise SlackError("user_not_found")
        return {"user": user.to_api(self.team_id, include_locale=_flag(args, "include_locale"))}

    def _usergroups_users_list(self, args: Args) -> Body:
        group_id = _text_arg(args, "usergroup")
        if group_id is None:
            raise _missing("usergroup")
        group = self.usergroups.get(group_id)
        if group is None or (group.disabled and not _flag(args, "include_disabled")):
            raise SlackError("no_such_subteam")
        return {"users": list(group.users)}

    def _conversations_info(self, args: Args) -> Body:
        channel = self._target(args, posting=False)
        return {"channel": channel.to_api()}

    def _history_page(self, messages: list[Message], args: Args, *, newest_first: bool) -> Body:
        """Slack's history paging: `oldest`/`latest` exclusive, `limit` (default 100), metadata on request."""
        oldest = _ts_key(_text_arg(args, "oldest") or "0")
        latest = _ts_key(_text_arg(args, "latest") or "9999999999.999999")
        try:
            limit = max(1, min(int(args.get("limit") or 100), 999))
        except (TypeError, ValueError):
            raise SlackError("invalid_limit") from None
        chosen = [m for m in messages if oldest < _ts_key(m.ts) < latest]
        if newest_first:
            chosen.reverse()
        page = chosen[:limit]
        with_metadata = _flag(args, "include_all_metadata")
        rendered = []
        for message in page:
            body = message.to_api(self.team_id, self.app_id)
            if not with_metadata:
                body.pop("metadata", None)
            rendered.append(body)
        return {"messages": rendered, "has_more": len(chosen) > limit}

    def _conversations_history(self, args: Args) -> Body:
        channel = self._target(args, posting=False)
        if not channel.is_member and not channel.id.startswith("D"):
            raise SlackError("not_in_channel")
        return self._history_page(self.messages(channel.id), args, newest_first=True)

    def _conversations_replies(self, args: Args) -> Body:
        channel = self._target(args, posting=False)
        ts = _text_arg(args, "ts")
        if ts is None:
            raise SlackError("invalid_arguments", ["[ERROR] missing required field: ts"])
        parent = self.message(channel.id, ts)
        if parent is None:
            raise SlackError("thread_not_found")
        return self._history_page([parent, *self.thread(channel.id, ts)], args, newest_first=False)

    def _conversations_members(self, args: Args) -> Body:
        """Members of a conversation the bot can see, paged (`limit` up to 1000, `cursor`). A channel
        configured without `members` counts every user of the workspace, the bot included."""
        channel = self._target(args, posting=False)
        if channel.is_private and not channel.is_member:
            raise SlackError("channel_not_found")
        members = sorted(channel.members if channel.members is not None else self.users)
        if channel.is_im and channel.user:
            members = sorted({channel.user, self.bot_user_id})
        try:
            limit = max(1, min(int(args.get("limit") or 100), 1000))
            start = int(_text_arg(args, "cursor") or 0)
        except (TypeError, ValueError):
            raise SlackError("invalid_cursor") from None
        page = members[start : start + limit]
        following = start + limit if start + limit < len(members) else None
        return {"members": page, "response_metadata": {"next_cursor": str(following) if following else ""}}

    def _conversations_open(self, args: Args) -> Body:
        if _text_arg(args, "channel") is not None:
            channel = self._target(args, posting=False)
            if not (channel.is_im or channel.is_mpim):
                raise SlackError("channel_not_found")
            return {"no_op": True, "already_open": True, "channel": {"id": channel.id}}
        raw = args.get("users")
        users = [u.strip() for u in raw.split(",")] if isinstance(raw, str) else list(raw or [])
        users = [u for u in users if u]
        if not users:
            raise SlackError("users_list_not_supplied")
        if len(users) > CONVERSATIONS_OPEN_MAX_USERS:
            raise SlackError("too_many_users")
        for user_id in users:
            if user_id not in self.users or self.users[user_id].deleted:
                raise SlackError("user_not_found")
        if users == [self.bot_user_id]:
            raise SlackError("cannot_dm_bot")
        channel, already_open = self.open_dm(users)
        body: Body = {"channel": channel.to_api() if _flag(args, "return_im") else {"id": channel.id}}
        if already_open:
            body.update(no_op=True, already_open=True)
        return body

    # ------------------------------------------------------------------
    # chat

    def _chat_post_message(self, args: Args) -> Body:
        channel = self._target(args)
        if self.pace is not None:
            retry_after = self.pace.acquire(channel.id)
            if retry_after is not None:
                raise RateLimited(retry_after)
        text, blocks, attachments = self._content(args, require=True)
        thread_ts = _text_arg(args, "thread_ts")
        message = self.store_message(
            Message(
                ts=self.next_ts(),
                channel=channel.id,
                text=text,
                user=self.bot_user_id,
                blocks=self.with_block_ids(blocks),
                attachments=attachments,
                metadata=self._metadata(args),
                thread_ts=thread_ts,
                reply_broadcast=thread_ts is not None and _flag(args, "reply_broadcast"),
                bot_id=self.bot_id,
            )
        )
        return {"channel": channel.id, "ts": message.ts, "message": message.to_api(self.team_id, self.app_id)}

    def _chat_update(self, args: Args) -> Body:
        channel = self._target(args, posting=False)
        ts = _text_arg(args, "ts")
        if ts is None:
            raise _missing("ts")
        message = self._message(channel, ts)
        if message.user != self.bot_user_id:
            raise SlackError("cant_update_message")
        text, blocks, attachments = self._content(args, require=True)
        self.apply_update(
            message, text=text, blocks=blocks, attachments=attachments, metadata=self._metadata(args)
        )
        return {
            "channel": channel.id,
            "ts": message.ts,
            "text": message.text or "",
            "message": message.to_api(self.team_id, self.app_id),
        }

    def apply_update(
        self,
        message: Message,
        *,
        text: str | None,
        blocks: list[dict[str, Any]] | None,
        attachments: list[dict[str, Any]] | None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Edit in place like chat.update: a field left out is kept, an empty array clears it."""
        message.history.append(message.snapshot())
        if text is not None:
            message.text = text
        if blocks is not None:
            message.blocks = self.with_block_ids(blocks) or None
        if attachments is not None:
            message.attachments = attachments or None
        if metadata is not None:
            message.metadata = metadata
        message.edited = {"user": self.bot_user_id, "ts": self.next_ts()}

    def _chat_post_ephemeral(self, args: Args) -> Body:
        channel = self._target(args)
        user = _text_arg(args, "user")
        if user is None:
            raise _missing("user")
        if channel.members is not None and user not in channel.members:
            raise SlackError("user_not_in_channel")
        text, blocks, attachments = self._content(args, require=True)
        message_ts = self.next_ts()
        self.ephemerals.append(
            Ephemeral(
                channel=channel.id,
                user=user,
                text=text,
                blocks=blocks,
                attachments=attachments,
                thread_ts=_text_arg(args, "thread_ts"),
                message_ts=message_ts,
                time=time.time(),
                args=args,
            )
        )
        return {"message_ts": message_ts}

    def _chat_get_permalink(self, args: Args) -> Body:
        channel = self._target(args, posting=False)
        message = self._message(channel, _text_arg(args, "message_ts"))
        permalink = f"https://fake-slack.example/archives/{channel.id}/p{message.ts.replace('.', '')}"
        if message.is_reply:
            permalink += f"?thread_ts={message.thread_ts}&cid={channel.id}"
        return {"channel": channel.id, "permalink": permalink}

    def _chat_delete(self, args: Args) -> Body:
        channel = self._target(args, posting=False)
        message = self._message(channel, _text_arg(args, "ts"))
        if message.user != self.bot_user_id:
            raise SlackError("cant_delete_message")
        message.deleted = True
        return {"channel": channel.id, "ts": message.ts}

    # ------------------------------------------------------------------
    # views

    def _view_arg(self, args: Args, *, allowed_types: tuple[str, ...]) -> dict[str, Any]:
        view = args.get("view")
        if view is None:
            raise _missing("view")
        if not isinstance(view, dict):
            raise SlackError("invalid_arguments", ["[ERROR] view must be a JSON object [json-pointer:/view]"])
        problems = validate_view(view, allowed_types=allowed_types)
        if problems:
            raise SlackError("invalid_arguments", problems)
        return view

    def _exchange_trigger(self, args: Args) -> Trigger:
        trigger_id = _text_arg(args, "trigger_id") or _text_arg(args, "interactivity_pointer")
        if trigger_id is None:
            raise _missing("trigger_id")
        trigger = self._triggers.get(trigger_id)
        if trigger is None:
            raise SlackError("invalid_trigger_id")
        if trigger.used:
            raise SlackError("exchanged_trigger_id")
        if self.clock() - trigger.issued_at > self.trigger_ttl:
            raise SlackError("expired_trigger_id")
        trigger.used = True
        return trigger

    def _check_external_id(self, view: dict[str, Any], *, own_id: str | None = None) -> None:
        external_id = view.get("external_id")
        if not external_id:
            return
        for stored in self.views.values():
            if stored.get("external_id") == external_id and stored["id"] != own_id and not stored.closed:
                raise SlackError("duplicate_external_id")

    def _stored_view(
        self,
        view: dict[str, Any],
        *,
        view_id: str,
        user_id: str | None,
        via: str,
        root_view_id: str | None,
        previous_view_id: str | None,
    ) -> StoredView:
        body: dict[str, Any] = {
            "id": view_id,
            "team_id": self.team_id,
            "type": view["type"],
            "blocks": self.with_block_ids(view["blocks"]),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": self._new_hash(),
            "title": view.get("title"),
            "clear_on_close": view.get("clear_on_close", False),
            "notify_on_close": view.get("notify_on_close", False),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "previous_view_id": previous_view_id,
            "root_view_id": root_view_id,
            "app_id": self.app_id,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        if "submit_disabled" in view:
            body["submit_disabled"] = view["submit_disabled"]
        stored = StoredView(body, user_id=user_id, via=via)
        self.views[view_id] = stored
        return stored

    def _views_open(self, args: Args) -> Body:
        view = self._view_arg(args, allowed_types=("modal",))
        if _text_arg(args, "trigger_id") is None and _text_arg(args, "interactivity_pointer") is None:
            raise _missing("trigger_id")
        self._check_external_id(view)
        trigger = self._exchange_trigger(args)
        view_id = self.new_id("V")
        stored = self._stored_view(
            view,
            view_id=view_id,
            user_id=trigger.user_id,
            via="views.open",
            root_view_id=view_id,
            previous_view_id=None,
        )
        self._close_stack(trigger.user_id)  # a new modal replaces whatever the user had open
        self._stacks[trigger.user_id] = [view_id]
        return {"view": dict(stored)}

    def _views_push(self, args: Args) -> Body:
        view = self._view_arg(args, allowed_types=("modal",))
        if _text_arg(args, "trigger_id") is None and _text_arg(args, "interactivity_pointer") is None:
            raise _missing("trigger_id")
        self._check_external_id(view)
        stack = self._stacks.get(self._peek_trigger_user(args), [])
        if len(stack) >= VIEW_STACK_MAX:
            raise SlackError("push_limit_reached")
        trigger = self._exchange_trigger(args)
        stack = self._stacks.setdefault(trigger.user_id, [])
        view_id = self.new_id("V")
        stored = self._stored_view(
            view,
            view_id=view_id,
            user_id=trigger.user_id,
            via="views.push",
            root_view_id=stack[0] if stack else view_id,
            previous_view_id=stack[-1] if stack else None,
        )
        stack.append(view_id)
        return {"view": dict(stored)}

    def _peek_trigger_user(self, args: Args) -> str | None:
        trigger_id = _text_arg(args, "trigger_id") or _text_arg(args, "interactivity_pointer") or ""
        trigger = self._triggers.get(trigger_id)
        return trigger.user_id if trigger is not None else None

    def _views_update(self, args: Args) -> Body:
        if args.get("view") is None:
            raise _missing("view")
        view_id = _text_arg(args, "view_id")
        external_id = _text_arg(args, "external_id")
        if view_id is None and external_id is None:
            raise SlackError("invalid_arguments", ["[ERROR] either view_id or external_id is required"])
        current: StoredView | None = None
        if view_id is not None:
            current = self.views.get(view_id)
        else:
            current = next(
                (v for v in self.views.values() if v.get("external_id") == external_id and not v.closed), None
            )
        if current is None or current.closed:
            raise SlackError("not_found")
        view = self._view_arg(args, allowed_types=(current["type"],))
        view_hash = _text_arg(args, "hash")
        if view_hash is not None and view_hash != current["hash"]:
            raise SlackError("hash_conflict")
        self._check_external_id(view, own_id=current["id"])
        stored = self._stored_view(
            view,
            view_id=current["id"],
            user_id=current.user_id,
            via=current.via,
            root_view_id=current["root_view_id"],
            previous_view_id=current["previous_view_id"],
        )
        return {"view": dict(stored)}

    def _views_publish(self, args: Args) -> Body:
        user_id = _text_arg(args, "user_id")
        if user_id is None:
            raise _missing("user_id")
        view = self._view_arg(args, allowed_types=("home",))
        current_id = self._homes.get(user_id)
        view_hash = _text_arg(args, "hash")
        if view_hash is not None and current_id is not None and view_hash != self.views[current_id]["hash"]:
            raise SlackError("hash_conflict")
        view_id = current_id or self.new_id("V")
        stored = self._stored_view(
            view,
            view_id=view_id,
            user_id=user_id,
            via="views.publish",
            root_view_id=None,
            previous_view_id=None,
        )
        self._homes[user_id] = view_id
        return {"view": dict(stored)}

    def home(self, user_id: str) -> StoredView | None:
        with self.lock:
            view_id = self._homes.get(user_id)
            return self.views.get(view_id) if view_id is not None else None

    def close_view(self, view_id: str) -> None:
        """The user closed the modal (and whatever was pushed above it)."""
        with self.lock:
            for stack in self._stacks.values():
                if view_id in stack:
                    position = stack.index(view_id)
                    for closed_id in stack[position:]:
                        self.views[closed_id].closed = True
                    del stack[position:]
                    return
            if view_id in self.views:
                self.views[view_id].closed = True

    def _close_stack(self, user_id: str | None) -> None:
        for view_id in self._stacks.pop(user_id, []):
            self.views[view_id].closed = True

    # ------------------------------------------------------------------
    # response_url

    def register_response_url(self, response_url: ResponseUrl, token: str) -> None:
        with self.lock:
            self._response_urls[token] = response_url

    def has_response_url(self, token: str) -> bool:
        with self.lock:
            return token in self._response_urls

    def post_to_response_url(self, token: str, body: Any, *, arrived: float) -> tuple[int, Body]:
        """Handle one POST to a response_url: (HTTP status, JSON body)."""
        with self.lock:
            target = self._response_urls.get(token)
            if target is None:
                return 404, {"ok": False, "error": "invalid_url"}
            if not isinstance(body, dict):
                return self._record_response(target, {"_raw": body}, arrived, 400, "invalid_payload")
            if target.max_uses is not None and target.uses >= target.max_uses:
                return self._record_response(target, body, arrived, 404, "used_url")
            target.uses += 1
            try:
                self._apply_response(target, body)
            except SlackError as exc:
                return self._record_response(target, body, arrived, 400, exc.error)
            return self._record_response(target, body, arrived, 200, None)

    def _record_response(
        self, target: ResponseUrl, body: dict[str, Any], arrived: float, status: int, error: str | None
    ) -> tuple[int, Body]:
        self.responses.append(
            ResponsePost(body, name=target.name, url=target.url, time=arrived, status=status)
        )
        return status, ({"ok": True} if error is None else {"ok": False, "error": error})

    def _apply_response(self, target: ResponseUrl, body: dict[str, Any]) -> None:
        """Validate a response_url payload and apply it to the bound message/channel, if any."""
        if _flag(body, "delete_original"):
            if target.channel and target.message_ts:
                message = self._by_ts.get((target.channel, target.message_ts))
                if message is not None:
                    message.deleted = True
            return
        text, blocks, attachments = self._content(body, require=True, whole_blocks_cap=False)
        if _flag(body, "replace_original"):
            if target.channel and target.message_ts:
                message = self._by_ts.get((target.channel, target.message_ts))
                if message is None or message.deleted:
                    raise SlackError("message_not_found")
                # a replacement replaces the whole message: what is left out goes away
                self.apply_update(
                    message, text=text or "", blocks=blocks or [], attachments=attachments or []
                )
            return
        if body.get("response_type") == "in_channel" and target.channel:
            self.store_message(
                Message(
                    ts=self.next_ts(),
                    channel=target.channel,
                    text=text,
                    user=self.bot_user_id,
                    blocks=self.with_block_ids(blocks),
                    attachments=attachments,
                    thread_ts=_text_arg(body, "thread_ts"),
                    bot_id=self.bot_id,
                )
            )
