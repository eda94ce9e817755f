"""What a test sees of one team: its directories and records (``TeamState``), and the ``Team`` handle.

``FakeSlack`` itself answers these for its default team (the one of the constructor's token);
``FakeSlack.add_team`` / ``FakeSlack.team(team_id)`` give a ``Team`` for any team.
"""

from __future__ import annotations

import secrets
import time
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from slack_sdk import WebClient

from .faults import Pace
from .model import (
    DEFAULT_TZ,
    Call,
    Channel,
    Channels,
    Ephemeral,
    Message,
    ResponsePost,
    ResponseUrl,
    StoredView,
    User,
    Usergroup,
)
from .workspace import Workspace

if TYPE_CHECKING:
    from .files import SlackFile
    from .server import FakeSlack


class TeamState(ABC):
    """Directories and recorded state of one team (mixed into ``FakeSlack`` and ``Team``)."""

    @property
    @abstractmethod
    def _workspace(self) -> Workspace: ...

    @abstractmethod
    def _server_url(self) -> str: ...

    # ------------------------------------------------------------------
    # recorded state

    def messages(self, channel: str, *, include_deleted: bool = False) -> list[Message]:
        """Top-level messages of a channel (and thread replies sent with ``reply_broadcast``), oldest first.

        ``channel`` may be a user id: the IM with that user.
        """
        return self._workspace.messages(channel, include_deleted=include_deleted)

    def thread(self, channel: str, ts: str, *, include_deleted: bool = False) -> list[Message]:
        """The replies in the thread of ``ts`` (without the parent), oldest first."""
        return self._workspace.thread(channel, ts, include_deleted=include_deleted)

    def message(self, channel: str, ts: str) -> Message | None:
        return self._workspace.message(channel, ts)

    def add_message(
        self,
        channel: str,
        text: str,
        *,
        user: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> Message:
        """Put a message from someone else (e.g. a user) into a channel, as if posted in Slack."""
        workspace = self._workspace
        return workspace.store_message(
            Message(
                ts=workspace.next_ts(),
                channel=workspace.resolve_channel_id(channel),
                text=text,
                user=user,
                blocks=workspace.with_block_ids(blocks),
                thread_ts=thread_ts,
            )
        )

    def files(self) -> list[SlackFile]:
        """Every file of the team (``tests/fakes/slack_fake/files.py``), completed or not, oldest first."""
        return self._workspace.files.all()  # type: ignore[attr-defined, no-any-return]

    @property
    def ephemerals(self) -> list[Ephemeral]:
        with self._workspace.lock:
            return list(self._workspace.ephemerals)

    @property
    def responses(self) -> list[ResponsePost]:
        """Every POST to a response_url, oldest first: the decoded JSON body.

        Each also carries ``.name``, ``.url``, ``.time`` and ``.status`` (what the fake answered).
        """
        with self._workspace.lock:
            return list(self._workspace.responses)

    def responses_to(self, name: str) -> list[ResponsePost]:
        return [post for post in self.responses if post.name == name]

    @property
    def views(self) -> dict[str, StoredView]:
        """view id -> the current view (as Slack returns it); ``.user_id`` tells who it was opened for."""
        with self._workspace.lock:
            return dict(self._workspace.views)

    def home(self, user_id: str) -> StoredView | None:
        """The Home tab last published for ``user_id``."""
        return self._workspace.home(user_id)

    def close_view(self, view_id: str) -> None:
        """Simulate the user closing a modal (views.update of it answers ``not_found`` afterwards)."""
        self._workspace.close_view(view_id)

    # ------------------------------------------------------------------
    # interaction helpers

    def new_trigger_id(self, user_id: str | None = None) -> str:
        """A trigger id valid for one views.open/views.push within ``trigger_ttl`` seconds."""
        return self._workspace.new_trigger_id(user_id)

    def response_url(
        self,
        name: str = "response",
        *,
        channel: str | None = None,
        message_ts: str | None = None,
        max_uses: int | None = 5,
    ) -> str:
        """A URL on this server that takes response_url POSTs and records them in :attr:`responses`.

        Bound to ``channel`` (+ ``message_ts``), it also acts like Slack:
        ``replace_original``/``delete_original`` edit/delete that message,
        ``response_type: in_channel`` posts to the channel.  Slack takes 5
        posts per response_url; after ``max_uses`` it answers 404 ``used_url``.
        """
        token = secrets.token_urlsafe(12)
        url = f"{self._server_url()}/response/{quote(name, safe='')}/{token}"
        self._workspace.register_response_url(
            ResponseUrl(name=name, url=url, channel=channel, message_ts=message_ts, max_uses=max_uses),
            token,
        )
        return url

    # ------------------------------------------------------------------
    # directories

    @property
    def channels(self) -> Channels:
        return self._workspace.channels

    def add_channel(
        self,
        channel_id: str,
        *,
        member: bool = True,
        name: str | None = None,
        private: bool | None = None,
        archived: bool = False,
        members: list[str] | None = None,
    ) -> Channel:
        """Configure a channel; ``member=False`` -> posting answers ``not_in_channel``."""
        return self._workspace.channels.add(
            channel_id, name=name, member=member, private=private, archived=archived, members=members
        )

    @property
    def users(self) -> dict[str, User]:
        return self._workspace.users

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
        """Add a user; ``tz_offset`` defaults to the zone's current UTC offset in seconds."""
        return self._workspace.add_user(
            user_id,
            tz=tz,
            tz_offset=tz_offset,
            is_admin=is_admin,
            is_owner=is_owner,
            is_bot=is_bot,
            name=name,
            real_name=real_name,
            deleted=deleted,
            email=email,
            locale=locale,
            guest=guest,
            home_team=home_team,
        )

    @property
    def usergroups(self) -> dict[str, Usergroup]:
        return self._workspace.usergroups

    def add_usergroup(
        self,
        usergroup_id: str,
        users: list[str],
        *,
        handle: str | None = None,
        name: str | None = None,
        disabled: bool = False,
    ) -> Usergroup:
        return self._workspace.add_usergroup(usergroup_id, users, handle=handle, name=name, disabled=disabled)

    def dm_channel(self, user_id: str) -> str:
        """The id of the bot's IM with ``user_id`` (opened if needed, as conversations.open would)."""
        channel, _ = self._workspace.open_dm([user_id])
        return channel.id


class Team(TeamState):
    """One workspace of the fake, as a test handles it (from ``FakeSlack.add_team`` / ``FakeSlack.team``).

    Besides the directories and records of :class:`TeamState` (``messages``, ``add_user``, ``views``…,
    all of this team only), it knows the team's identity and tokens and can install or remove the app.
    A handle belongs to the fake's state when it was taken: after ``FakeSlack.reset()`` take it again.
    """

    def __init__(self, fake: FakeSlack, workspace: Workspace) -> None:
        self._fake = fake
        self._ws = workspace

    def __repr__(self) -> str:
        return f"Team({self.team_id!r}, {self.name!r})"

    @property
    def _workspace(self) -> Workspace:
        return self._ws

    def _server_url(self) -> str:
        return self._fake.url

    # ------------------------------------------------------------------
    # identity

    @property
    def team_id(self) -> str:
        return self._ws.team_id

    @property
    def name(self) -> str:
        return self._ws.team_name

    @property
    def url(self) -> str:
        """The team's ``https://….fake-slack.example/`` (what ``auth.test`` answers as ``url``)."""
        return self._ws.url

    @property
    def bot_user_id(self) -> str:
        return self._ws.bot_user_id

    @property
    def bot_id(self) -> str:
        return self._ws.bot_id

    @property
    def app_id(self) -> str:
        return self._ws.app_id

    # ------------------------------------------------------------------
    # tokens and installation

    @property
    def token(self) -> str | None:
        """The app's live bot token in this team (the newest), or None while the app is not installed."""
        return self._fake._bot_token_of(self.team_id)

    @property
    def tokens(self) -> list[str]:
        """Every live token (bot and user) of this team, oldest first."""
        return [t.token for t in self._fake._tokens_of(self.team_id) if t.live]

    @property
    def installed(self) -> bool:
        """Whether the app has a live bot token here."""
        return self.token is not None

    def client(self, **kwargs: Any) -> WebClient:
        """A ``WebClient`` with this team's bot token (kwargs go to ``WebClient``)."""
        token = kwargs.pop("token", None) or self.token
        if token is None:
            raise RuntimeError(f"the app is not installed in {self.team_id}: no bot token")
        return WebClient(base_url=self._fake.api_url, token=token, **kwargs)

    def install(self, scopes: str | list[str] = "", *, user_id: str | None = None) -> str:
        """Install the app here without the browser dance; the bot token (the same one if installed)."""
        return self._fake.install(self.team_id, scopes, user_id=user_id)

    def uninstall(self) -> list[str]:
        """``FakeSlack.uninstall`` of this team."""
        return self._fake.uninstall(self.team_id)

    def revoke_tokens(self, *, error: str = "token_revoked") -> list[str]:
        """``FakeSlack.revoke_tokens`` of this team."""
        return self._fake.revoke_tokens(self.team_id, error=error)

    # ------------------------------------------------------------------
    # recorded calls, pacing, trigger ttl

    @property
    def calls(self) -> list[Call]:
        """The Web API calls made with a token of this team."""
        return [call for call in self._fake.calls if call.team_id == self.team_id]

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def enforce_pace(self, posts_per_second: float | None = 1.0, burst: int = 3) -> None:
        """``FakeSlack.enforce_pace`` for this team only."""
        self._ws.pace = None if posts_per_second is None else Pace(posts_per_second, burst, self._ws.clock)

    @property
    def trigger_ttl(self) -> float:
        return self._ws.trigger_ttl

    @trigger_ttl.setter
    def trigger_ttl(self, seconds: float) -> None:
        self._ws.trigger_ttl = seconds

    # ------------------------------------------------------------------
    # Events API

    def event_envelope(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        event_time: int | None = None,
        verification_token: str = "legacy",
    ) -> dict[str, Any]:
        """The ``event_callback`` body Slack would POST to the app for ``event`` in this team.

        It names the team (``team_id``), the app (``api_app_id``) and, as Slack does, the
        installation the event is for in ``authorizations``.  Sign and send it with the test harness.
        """
        now = int(time.time())
        return {
            "token": verification_token,
            "team_id": self.team_id,
            "context_team_id": self.team_id,
            "context_enterprise_id": None,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}",
            "event_time": now if event_time is None else event_time,
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
