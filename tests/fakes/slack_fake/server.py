"""``FakeSlack``: the fake workspace served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import email.parser
import email.policy
import http
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from slack_sdk import WebClient

from .faults import ANY_METHOD, Fault, Faults, Pace
from .files import UPLOAD_PATH, receive_upload
from .files import install as install_files
from .model import Call, SlackError
from .oauth import (
    APPROVE_PATH,
    AUTHORIZE_PATH,
    CANCEL_PATH,
    OAUTH_CODE_TTL,
    AuthCode,
    AuthorizationRequest,
    Decision,
    OAuthApp,
    Token,
    basic_credentials,
    consent_page,
    error_page,
    merge_scopes,
    new_code,
    new_token,
    parse_scopes,
    with_query,
)
from .team import Team, TeamState
from .unfurl import install as install_unfurl
from .workspace import RateLimited, Workspace

#: Arguments that arrive as JSON strings in a form body and are recorded parsed.
JSON_ARGUMENTS = ("view", "blocks", "attachments", "metadata")
RESPONSE_URL_METHOD = "response_url"  # the name the fault switches use for response_url POSTs

Reply = tuple[int, dict[str, str], bytes]


class _BadRequest(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def __init__(self, address: tuple[str, int], fake: FakeSlack) -> None:
        self.fake = fake
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive for clients that pool connections
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    server: _Server

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self._answer()

    def do_GET(self) -> None:  # noqa: N802
        self._answer()

    def _answer(self) -> None:
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        status, headers, payload = self.server.fake._dispatch(self.command, self.path, self.headers, body)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        try:
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # keep test output clean


class FakeSlack(TeamState):
    """A fake Slack Web API on a real local HTTP server.

    >>> with FakeSlack() as fake:
    ...     client = WebClient(token="xoxb-test", base_url=fake.api_url)
    ...     client.chat_postMessage(channel="C1", text="hi")["ok"]
    True

    Defaults: channel ids ``C…``/``G…``/``D…`` exist with the bot as a member
    (see :class:`Channels`); users exist only once added (``add_user``), except
    the bot user itself; a trigger id lives ``trigger_ttl`` = 3 s; a response_url
    takes 5 posts; no faults, no pacing, no latency.

    Several workspaces: the constructor's token belongs to the default team
    (``team_id``), which the directory and record methods here (``messages``,
    ``add_user``…) are about.  ``add_team`` adds another team and returns its
    :class:`Team` handle with the same methods for that team.  Every Web API call
    acts in the team of its token.  ``configure_oauth`` + ``next_authorization``
    serve Slack's OAuth v2 install (``authorize_url``, ``oauth.v2.access``);
    ``uninstall`` / ``revoke_tokens`` end tokens.
    """

    def __init__(
        self,
        token: str = "xoxb-test",
        bot_user_id: str = "UBOT",
        team_id: str = "T123",
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        bot_id: str = "BBOT",
        app_id: str = "AAPP",
        trigger_ttl: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token = token
        # Socket Mode: set both (see tests/fakes/slack_socket.py) to answer apps.connections.open.
        self.app_token: str | None = None
        self.socket_mode_url: Callable[[], str] | None = None
        self.bot_user_id = bot_user_id
        self.team_id = team_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.host = host
        self._requested_port = port
        self._trigger_ttl = trigger_ttl
        self._clock = clock
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._calls_lock = threading.Lock()
        self._calls: list[Call] = []
        self._faults = Faults()
        self._lock = threading.RLock()  # teams, tokens, OAuth state
        self._new_state()

    def _new_workspace(self) -> Workspace:
        return Workspace(
            token=self.token,
            bot_user_id=self.bot_user_id,
            team_id=self.team_id,
            bot_id=self.bot_id,
            app_id=self.app_id,
            trigger_ttl=self._trigger_ttl,
            clock=self._clock,
            numbers=self._numbers,
        )

    def _new_state(self) -> None:
        with self._lock:
            self._numbers: Callable[[], int] = itertools.count(1).__next__
            self._teams: dict[str, Workspace] = {}
            self._tokens: dict[str, Token] = {}
            self._oauth: OAuthApp | None = None
            self._decisions: list[Decision] = []
            self._requests: dict[str, AuthorizationRequest] = {}
            self._codes: dict[str, AuthCode] = {}
            self._pace_setting: tuple[float, int] | None = None
            self._add_workspace(self._new_workspace())
            self._tokens[self.token] = Token(self.token, self.team_id, "bot", self.bot_user_id)

    def _add_workspace(self, workspace: Workspace) -> None:
        team_id = workspace.team_id
        workspace.channels.foreign = lambda channel_id: self._owned_elsewhere(team_id, channel_id)
        install_files(workspace, self._server_url)  # files.getUploadURLExternal, files.completeUploadExternal
        install_unfurl(workspace)  # chat.unfurl (tests/fakes/slack_fake/unfurl.py)
        self._teams[team_id] = workspace

    def _owned_elsewhere(self, team_id: str, channel_id: str) -> bool:
        return any(w.channels.owns(channel_id) for w in list(self._teams.values()) if w.team_id != team_id)

    @property
    def _workspace(self) -> Workspace:
        return self._teams[self.team_id]

    def _server_url(self) -> str:
        return self.url

    # ------------------------------------------------------------------
    # lifecycle

    def start(self) -> FakeSlack:
        if self._server is not None:
            return self
        self._server = _Server((self.host, self._requested_port), self)
        self._requested_port = self.port  # a restart (stop, start) keeps the URL
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-slack", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """Pass as ``base_url`` to ``slack_sdk.WebClient``."""
        return f"{self.url}/api/"

    @property
    def authorize_url(self) -> str:
        """The fake's "Add to Slack" page: pass as ``OAuthSettings(authorization_url=...)``."""
        return self.url + AUTHORIZE_PATH

    def client(self, **kwargs: Any) -> WebClient:
        """A ``WebClient`` with this fake's token and URL (kwargs go to ``WebClient``)."""
        kwargs.setdefault("token", self.token)
        return WebClient(base_url=self.api_url, **kwargs)

    def reset(self) -> None:
        """Back to the state right after construction: records, views, faults, pacing, directories.

        Also back to one team (added teams, minted tokens, OAuth configuration, codes and
        pending authorizations are forgotten; the default token is valid again).
        The server keeps running on the same URL.  Objects fetched before (``fake.channels``,
        ``fake.users``, a ``response_url``, a ``Team``) belong to the old state: fetch them again.
        """
        self._faults.clear()
        with self._calls_lock:
            self._calls.clear()
        self._new_state()

    # ------------------------------------------------------------------
    # recorded state

    @property
    def calls(self) -> list[Call]:
        """Every Web API call (any team; ``Call.team_id`` tells which), oldest first."""
        with self._calls_lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    @property
    def trigger_ttl(self) -> float:
        return self._workspace.trigger_ttl

    @trigger_ttl.setter
    def trigger_ttl(self, seconds: float) -> None:
        """Every team's (and later teams')."""
        self._trigger_ttl = seconds
        with self._lock:
            for workspace in self._teams.values():
                workspace.trigger_ttl = seconds

    # ------------------------------------------------------------------
    # teams

    def add_team(
        self,
        team_id: str,
        name: str | None = None,
        *,
        domain: str | None = None,
        users: Iterable[str | Mapping[str, Any]] = (),
        channels: Iterable[str | Mapping[str, Any]] = (),
        token: str | None = None,
        scopes: str | Sequence[str] = "",
        bot_user_id: str | None = None,
        bot_id: str | None = None,
        implicit_channels: bool = False,
    ) -> Team:
        """Add a workspace; its handle.

        ``users``: user ids, or ``add_user`` keyword dicts with an ``"id"``.  ``channels``: channel
        ids, or ``add_channel`` keyword dicts with an ``"id"``.  Only these channels exist there
        (``implicit_channels=True``: any ``C…`` id not owned by another team, like the default team).
        ``token``: the app is installed with this bot token; None: not installed until an OAuth
        install (or ``Team.install``).  The bot user is ``U<team_id[1:]>BOT`` (bot ``B<team_id[1:]>BOT``).
        """
        with self._lock:
            if team_id in self._teams:
                raise ValueError(f"team {team_id} exists already")
            if token is not None and token in self._tokens:
                raise ValueError(f"token {token} belongs to team {self._tokens[token].team_id} already")
            label = name or team_id
            workspace = Workspace(
                token=token,
                bot_user_id=bot_user_id or f"U{team_id[1:]}BOT",
                team_id=team_id,
                bot_id=bot_id or f"B{team_id[1:]}BOT",
                app_id=self.app_id,
                trigger_ttl=self._trigger_ttl,
                clock=self._clock,
                team_name=label,
                url=f"https://{domain or _domain_of(label)}.fake-slack.example/",
                numbers=self._numbers,
            )
            workspace.channels.implicit = implicit_channels
            if self._pace_setting is not None:
                workspace.pace = Pace(*self._pace_setting, self._clock)
            self._add_workspace(workspace)
            handle = Team(self, workspace)
            for user in users:
                if isinstance(user, str):
                    handle.add_user(user)
                else:
                    options = dict(user)
                    handle.add_user(options.pop("id"), **options)
            for channel in channels:
                if isinstance(channel, str):
                    handle.add_channel(channel)
                else:
                    options = dict(channel)
                    handle.add_channel(options.pop("id"), **options)
            if token is not None:
                scope_list = parse_scopes(scopes) if isinstance(scopes, str) else list(scopes)
                self._tokens[token] = Token(token, team_id, "bot", workspace.bot_user_id, scope_list)
            return handle

    def team(self, team_id: str | None = None) -> Team:
        """The handle of a team (default: the default team); KeyError if unknown."""
        with self._lock:
            return Team(self, self._teams[team_id or self.team_id])

    @property
    def teams(self) -> dict[str, Team]:
        """team id -> handle, the default team first."""
        with self._lock:
            return {team_id: Team(self, workspace) for team_id, workspace in self._teams.items()}

    def team_of(self, token: str) -> Team:
        """The team a token (live or revoked) belongs to; KeyError if the fake never knew it."""
        with self._lock:
            return Team(self, self._teams[self._tokens[token].team_id])

    def _tokens_of(self, team_id: str) -> list[Token]:
        with self._lock:
            return [t for t in self._tokens.values() if t.team_id == team_id]

    def _bot_token_of(self, team_id: str) -> str | None:
        live = [t for t in self._tokens_of(team_id) if t.kind == "bot" and t.live]
        return live[-1].token if live else None

    def install(self, team_id: str, scopes: str | Sequence[str] = "", *, user_id: str | None = None) -> str:
        """Install the app in a team without the browser: its bot token (kept if installed, as Slack does)."""
        with self._lock:
            workspace = self._teams[team_id]
            scope_list = parse_scopes(scopes) if isinstance(scopes, str) else list(scopes)
            bot, _ = self._grant(workspace, user_id or self._installer(workspace), scope_list, [], bot=True)
            assert bot is not None
            return bot.token

    def uninstall(self, team_id: str) -> list[str]:
        """The app is removed from the team: all its tokens there are revoked; which ones.

        Afterwards a call with its bot token answers ``account_inactive`` and one with a user
        token ``token_revoked`` (Slack's documented errors for these).  An install mints new tokens.
        The app receives ``app_uninstalled`` / ``tokens_revoked``: send them with the test harness
        (``Team.event_envelope`` builds the body).
        """
        with self._lock:
            if team_id not in self._teams:
                raise KeyError(team_id)
            revoked = []
            for token in self._tokens_of(team_id):
                if token.live:
                    token.revoked = "account_inactive" if token.kind == "bot" else "token_revoked"
                    revoked.append(token.token)
            return revoked

    def revoke_tokens(self, team_id: str, *, error: str = "token_revoked") -> list[str]:
        """Revoke every live token of the team (as from the app's settings page); which ones.

        Calls with them answer ``error`` afterwards.  An install mints new tokens.
        """
        with self._lock:
            if team_id not in self._teams:
                raise KeyError(team_id)
            revoked = []
            for token in self._tokens_of(team_id):
                if token.live:
                    token.revoked = error
                    revoked.append(token.token)
            return revoked

    def revoke_token(self, token: str, *, error: str = "token_revoked") -> None:
        """Revoke one token (as ``auth.revoke`` does); calls with it answer ``error`` afterwards."""
        with self._lock:
            self._tokens[token].revoked = error

    # ------------------------------------------------------------------
    # OAuth

    def configure_oauth(
        self,
        client_id: str,
        client_secret: str,
        *,
        redirect_uri: str | Sequence[str] | None = None,
        app_name: str = "Invoicebot",
        code_ttl: float = OAUTH_CODE_TTL,
        new_token_on_reinstall: bool = False,
    ) -> OAuthApp:
        """Give the fake the app's credentials, so that it serves the OAuth v2 install.

        ``redirect_uri``: the app's Redirect URL(s) (a redirect_uri must equal one or lie below its
        path; the first is used when the link has none); None accepts any.  A code lives
        ``code_ttl`` seconds of the fake's clock.  Reinstalling into a team where the app has a live
        bot token answers that same token with the scopes added, as Slack does;
        ``new_token_on_reinstall=True`` mints a new one instead (the old one stays valid).
        """
        uris = [redirect_uri] if isinstance(redirect_uri, str) else list(redirect_uri or [])
        app = OAuthApp(client_id, client_secret, uris, app_name, code_ttl, new_token_on_reinstall)
        with self._lock:
            self._oauth = app
        return app

    def next_authorization(
        self, team_id: str | None = None, user_id: str | None = None, *, approve: bool = True
    ) -> None:
        """What the next visit of the authorize page does (queued, one per visit).

        ``approve``: 302 to ``redirect_uri?code=…&state=…`` for ``team_id`` (default: the link's
        ``team`` parameter, else the default team) as ``user_id`` (default: the team's first human
        user, else a ``U<team_id[1:]>INSTALLER`` admin made up for it); otherwise 302 to
        ``redirect_uri?error=access_denied&state=…``.  With nothing queued the page is HTML with an
        "Allow" form and a "Cancel" link leading to the same redirects.
        """
        with self._lock:
            if team_id is not None and team_id not in self._teams:
                raise ValueError(f"unknown team {team_id}")
            if user_id is not None and user_id not in self._teams[team_id or self.team_id].users:
                raise ValueError(f"{user_id} is not a user of {team_id or self.team_id}: add_user first")
            self._decisions.append(Decision(team_id, user_id, approve))

    def _installer(self, workspace: Workspace) -> str:
        humans = sorted(u.id for u in workspace.users.values() if not u.is_bot and not u.deleted)
        if humans:
            return humans[0]
        user_id = f"U{workspace.team_id[1:]}INSTALLER"
        if user_id not in workspace.users:
            workspace.add_user(user_id, name="installer", real_name="Installer", is_admin=True)
        return user_id

    def _grant(
        self, workspace: Workspace, user_id: str, scopes: list[str], user_scopes: list[str], *, bot: bool
    ) -> tuple[Token | None, Token | None]:
        """The bot token (if ``bot``) and user token (if ``user_scopes``) of an install."""
        fresh = self._oauth is not None and self._oauth.new_token_on_reinstall
        team_tokens = self._tokens_of(workspace.team_id)
        bot_token: Token | None = None
        if bot:
            live = [t for t in team_tokens if t.kind == "bot" and t.live]
            if live and not fresh:
                bot_token = live[-1]
                bot_token.scopes = merge_scopes(bot_token.scopes, scopes)
            else:
                bot_token = Token(new_token("bot"), workspace.team_id, "bot", workspace.bot_user_id, list(scopes))
                self._tokens[bot_token.token] = bot_token
        user_token: Token | None = None
        if user_scopes:
            live = [t for t in team_tokens if t.kind == "user" and t.live and t.user_id == user_id]
            if live and not fresh:
                user_token = live[-1]
                user_token.scopes = merge_scopes(user_token.scopes, user_scopes)
            else:
                user_token = Token(new_token("user"), workspace.team_id, "user", user_id, list(user_scopes))
                self._tokens[user_token.token] = user_token
        return bot_token, user_token

    def _oauth_v2_access(self, args: dict[str, Any], headers: Any) -> tuple[dict[str, Any], str]:
        """oauth.v2.access: (the success body, team id) or SlackError."""
        credentials = basic_credentials(headers.get("Authorization", ""))
        client_id, client_secret = credentials or (_text(args.get("client_id")), _text(args.get("client_secret")))
        with self._lock:
            app = self._oauth
            if app is None or not client_id or client_id != app.client_id:
                raise SlackError("invalid_client_id")
            if client_secret != app.client_secret:
                raise SlackError("bad_client_secret")
            grant_type = _text(args.get("grant_type"))
            if grant_type == "refresh_token":
                raise SlackError("invalid_refresh_token")  # the fake's tokens do not rotate
            if grant_type not in ("", "authorization_code"):
                raise SlackError("invalid_grant_type")
            code = self._codes.get(_text(args.get("code")))
            if (
                code is None
                or code.used
                or code.client_id != client_id
                or self._clock() - code.issued_at > app.code_ttl
                or code.team_id not in self._teams
            ):
                raise SlackError("invalid_code")
            redirect_uri = _text(args.get("redirect_uri")) or None
            if code.redirect_uri is not None:
                redirect_ok = redirect_uri == code.redirect_uri
            else:
                redirect_ok = redirect_uri is None or redirect_uri == code.target
            if not redirect_ok:
                raise SlackError("bad_redirect_uri")
            code.used = True
            workspace = self._teams[code.team_id]
            bot, user = self._grant(workspace, code.user_id, code.scopes, code.user_scopes, bot=bool(code.scopes))
            body: dict[str, Any] = {"ok": True, "app_id": workspace.app_id, "authed_user": {"id": code.user_id}}
            if bot is not None:
                body.update(
                    scope=",".join(bot.scopes),
                    token_type="bot",
                    access_token=bot.token,
                    bot_user_id=workspace.bot_user_id,
                )
            if user is not None:
                body["authed_user"].update(scope=",".join(user.scopes), access_token=user.token, token_type="user")
            body.update(
                team={"id": workspace.team_id, "name": workspace.team_name},
                enterprise=None,
                is_enterprise_install=False,
            )
            return body, workspace.team_id

    # --- the authorize page

    def _authorize(self, query: str) -> Reply:
        params = dict(parse_qsl(query, keep_blank_values=True))
        with self._lock:
            app = self._oauth
            client_id = params.get("client_id", "")
            if app is None or client_id != app.client_id:
                return _html(400, error_page("invalid_client_id", f"Unknown client_id {client_id!r}."))
            redirect_uri = params.get("redirect_uri") or None
            if redirect_uri is not None and not app.redirect_allowed(redirect_uri):
                return _html(400, error_page("bad_redirect_uri", f"{redirect_uri} is not a Redirect URL."))
            target = redirect_uri or (app.redirect_uris[0] if app.redirect_uris else None)
            if target is None:
                return _html(400, error_page("bad_redirect_uri", "No redirect_uri and no Redirect URL set."))
            scopes, user_scopes = parse_scopes(params.get("scope")), parse_scopes(params.get("user_scope"))
            if not scopes and not user_scopes:
                return _html(400, error_page("invalid_scope", "No scope or user_scope requested."))
            request = AuthorizationRequest(
                id=secrets.token_urlsafe(16),
                client_id=client_id,
                scopes=scopes,
                user_scopes=user_scopes,
                state=params.get("state"),
                redirect_uri=redirect_uri,
                target=target,
                team=params.get("team") or None,
            )
            if not self._decisions:
                self._requests[request.id] = request
                return _html(200, consent_page(request, app.name, self._installer_choices(request)))
            decision = self._decisions.pop(0)
            if not decision.approve:
                return _redirect(_denied(request))
            team_id = decision.team_id or (request.team if request.team in self._teams else self.team_id)
            workspace = self._teams[team_id]
            return _redirect(self._issue_code(request, workspace, decision.user_id or self._installer(workspace)))

    def _installer_choices(self, request: AuthorizationRequest) -> list[tuple[str, str]]:
        workspaces = [self._teams[request.team]] if request.team in self._teams else list(self._teams.values())
        choices = []
        for workspace in workspaces:
            label = f"{workspace.team_name} ({workspace.team_id})"
            humans = sorted(
                (u for u in workspace.users.values() if not u.is_bot and not u.deleted), key=lambda u: u.id
            )
            for user in humans:
                choices.append((f"{workspace.team_id}:{user.id}", f"{label} as {user.name}"))
            if not humans:
                choices.append((f"{workspace.team_id}:", label))
        return choices

    def _issue_code(self, request: AuthorizationRequest, workspace: Workspace, user_id: str) -> str:
        """A new code for this request; the URL to send the browser to."""
        code = AuthCode(
            code=new_code(self._numbers()),
            client_id=request.client_id,
            team_id=workspace.team_id,
            user_id=user_id,
            scopes=request.scopes,
            user_scopes=request.user_scopes,
            redirect_uri=request.redirect_uri,
            target=request.target,
            issued_at=self._clock(),
        )
        self._codes[code.code] = code
        return with_query(request.target, {"code": code.code, **_state_of(request)})

    def _approve(self, query: str, headers: Any, body: bytes) -> Reply:
        fields = dict(parse_qsl(query, keep_blank_values=True))
        if headers.get("Content-Type", "").split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
            fields.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        with self._lock:
            request = self._requests.pop(fields.get("request", ""), None)
            if request is None:
                return _html(400, error_page("invalid_request", "This authorization is unknown or was answered."))
            choice = fields.get("installer", "")
            if choice not in dict(self._installer_choices(request)):
                self._requests[request.id] = request
                return _html(400, error_page("invalid_installer", f"{choice!r} is not one of the choices."))
            team_id, _, user_id = choice.partition(":")
            workspace = self._teams[team_id]
            return _redirect(self._issue_code(request, workspace, user_id or self._installer(workspace)))

    def _cancel(self, query: str) -> Reply:
        request_id = dict(parse_qsl(query, keep_blank_values=True)).get("request", "")
        with self._lock:
            request = self._requests.pop(request_id, None)
        if request is None:
            return _html(400, error_page("invalid_request", "This authorization is unknown or was answered."))
        return _redirect(_denied(request))

    # ------------------------------------------------------------------
    # behaviour switches

    def fail_next(self, method: str, error: str = "channel_not_found", count: int = 1) -> None:
        """The next ``count`` calls of ``method`` (``"*"``: any) answer 200 ``{"ok": false, "error": …}``."""
        self._faults.add(method, Fault("error", count, error=error))

    def http_error(self, method: str, status: int = 500, count: int = 3) -> None:
        """The next ``count`` calls of ``method`` answer HTTP ``status`` with a non-JSON body."""
        self._faults.add(method, Fault("http", count, status=status))

    def rate_limit(self, method: str, retry_after: int = 1, count: int = 2) -> None:
        """The next ``count`` calls of ``method`` answer HTTP 429 with ``Retry-After: retry_after``.

        The body is Slack's ``{"ok": false, "error": "ratelimited"}``.
        """
        self._faults.add(method, Fault("ratelimit", count, status=429, retry_after=retry_after))

    def enforce_pace(self, posts_per_second: float | None = 1.0, burst: int = 3) -> None:
        """chat.postMessage per channel through a token bucket; past it 429 with a computed Retry-After.

        Every team gets its own buckets (teams added later too); ``None`` turns pacing off again.
        """
        with self._lock:
            self._pace_setting = None if posts_per_second is None else (posts_per_second, burst)
            for workspace in self._teams.values():
                workspace.pace = (
                    None if posts_per_second is None else Pace(posts_per_second, burst, self._clock)
                )

    def latency(self, method: str, seconds: float) -> None:
        """Delay every answer of ``method`` (``"*"``: any) by ``seconds``; 0 removes it."""
        self._faults.set_latency(method, seconds)

    # ------------------------------------------------------------------
    # HTTP plumbing

    def _dispatch(self, verb: str, target: str, headers: Any, body: bytes) -> Reply:
        parts = urlsplit(target)
        path = parts.path
        if path.startswith("/api/"):
            return self._api(path.removeprefix("/api/"), target, headers, body)
        if path.startswith("/response/") and verb == "POST":
            return self._response_url(path, headers, body)
        if path.startswith(UPLOAD_PATH) and verb == "POST":
            return receive_upload(self, path, headers, body)
        if path == AUTHORIZE_PATH and verb == "GET":
            return self._authorize(parts.query)
        if path == APPROVE_PATH:
            return self._approve(parts.query, headers, body)
        if path == CANCEL_PATH and verb == "GET":
            return self._cancel(parts.query)
        return _text_reply(404, "not found")

    def _api(self, method: str, target: str, headers: Any, body: bytes) -> Reply:
        arrived, started = time.time(), time.perf_counter()
        delay = self._faults.latency(method)
        if delay:
            time.sleep(delay)
        encoding = "query"
        args: dict[str, Any] = {}
        team_id: str | None = None
        try:
            args, encoding, form_token = _decode_request(target, headers.get("Content-Type", ""), body)
            status, reply_headers, response, team_id = self._answer_api(method, args, headers, form_token)
        except _BadRequest as exc:
            status, reply_headers, response = 200, {}, {"ok": False, "error": exc.error}
        payload = (
            json.dumps(response).encode() if response is not None else http.HTTPStatus(status).phrase.encode()
        )
        content_type = (
            "application/json; charset=utf-8" if response is not None else "text/plain; charset=utf-8"
        )
        call = Call(
            method=method,
            args=args,
            status=status,
            ok=bool(response and response.get("ok")),
            error=(response or {}).get("error") if response is not None else f"http_{status}",
            time=arrived,
            response=response,
            encoding=encoding,
            duration=time.perf_counter() - started,
            team_id=team_id,
        )
        with self._calls_lock:
            self._calls.append(call)
        reply_headers = {
            "Content-Type": content_type,
            "X-Slack-Req-Id": secrets.token_hex(8),
            **reply_headers,
        }
        return status, reply_headers, payload

    def _answer_api(
        self, method: str, args: dict[str, Any], headers: Any, form_token: str | None
    ) -> tuple[int, dict[str, str], dict[str, Any] | None, str | None]:
        """(HTTP status, extra headers, JSON body or None for a plain-text HTTP error, team id of the token)."""
        fault = self._faults.take(method)
        if fault is not None:
            if fault.kind == "http":
                return fault.status, {}, None, None
            if fault.kind == "ratelimit":
                return 429, {"Retry-After": str(fault.retry_after)}, {"ok": False, "error": "ratelimited"}, None
            return 200, {}, {"ok": False, "error": fault.error}, None
        if method == "apps.connections.open":  # Socket Mode: app-level token, not the bot token
            token = _bearer(headers.get("Authorization", "")) or form_token
            if not self.socket_mode_url or not token or not token.startswith("xapp-"):
                return 200, {}, {"ok": False, "error": "not_allowed_token_type"}, None
            if token != self.app_token:
                return 200, {}, {"ok": False, "error": "invalid_auth"}, None
            return 200, {}, {"ok": True, "url": self.socket_mode_url()}, None
        if method == "oauth.v2.access":  # the app's client id and secret, no token
            try:
                answer, team_id = self._oauth_v2_access(args, headers)
            except SlackError as exc:
                return 200, {}, exc.body(), None
            return 200, {}, answer, team_id
        with self._lock:
            workspace = self._workspace
        if method not in _TOKEN_METHODS and not workspace.knows(method):
            return 200, {}, {"ok": False, "error": "unknown_method", "req_method": method}, None
        token = _bearer(headers.get("Authorization", "")) or form_token
        if not token:
            return 200, {}, {"ok": False, "error": "not_authed"}, None
        with self._lock:
            record = self._tokens.get(token)
            if record is None:
                return 200, {}, {"ok": False, "error": "invalid_auth"}, None
            team_id = record.team_id
            if record.revoked is not None:
                return 200, {}, {"ok": False, "error": record.revoked}, team_id
            workspace = self._teams[team_id]
        scope_headers = {"X-OAuth-Scopes": ",".join(record.scopes)} if record.scopes else {}
        try:
            if method in _TOKEN_METHODS:
                return 200, scope_headers, {"ok": True, **self._token_method(method, record, args)}, team_id
            if record.kind == "user":
                if method != "auth.test":
                    return 200, {}, {"ok": False, "error": "not_allowed_token_type"}, team_id
                return 200, scope_headers, {"ok": True, **workspace.auth_test_for_user(record.user_id)}, team_id
            return 200, scope_headers, {"ok": True, **workspace.call(method, args)}, team_id
        except SlackError as exc:
            return 200, {}, exc.body(), team_id
        except RateLimited as exc:
            return 429, {"Retry-After": str(exc.retry_after)}, {"ok": False, "error": "ratelimited"}, team_id

    def _token_method(self, method: str, record: Token, args: dict[str, Any]) -> dict[str, Any]:
        """auth.revoke and apps.uninstall: about the token and its team rather than a workspace's data."""
        if method == "auth.revoke":
            if _truthy(args.get("test")):
                return {"revoked": False}
            self.revoke_token(record.token)
            return {"revoked": True}
        # apps.uninstall
        with self._lock:
            app = self._oauth
            if app is None or _text(args.get("client_id")) != app.client_id:
                raise SlackError("invalid_client_id")
            if _text(args.get("client_secret")) != app.client_secret:
                raise SlackError("bad_client_secret")
        self.uninstall(record.team_id)
        return {}

    def _response_url(self, path: str, headers: Any, body: bytes) -> Reply:
        arrived = time.time()
        delay = self._faults.latency(RESPONSE_URL_METHOD)
        if delay:
            time.sleep(delay)
        fault = self._faults.take(RESPONSE_URL_METHOD)
        if fault is not None:
            if fault.kind == "http":
                return _text_reply(fault.status, http.HTTPStatus(fault.status).phrase)
            if fault.kind == "ratelimit":
                status, reply = 429, {"ok": False, "error": "ratelimited"}
                return (
                    status,
                    {"Content-Type": "application/json", "Retry-After": str(fault.retry_after)},
                    _j(reply),
                )
            return 400, {"Content-Type": "application/json"}, _j({"ok": False, "error": fault.error})
        token = path.rstrip("/").rsplit("/", 1)[-1]
        payload: Any
        try:
            payload = _decode_response_payload(headers.get("Content-Type", ""), body)
        except ValueError:
            payload = body.decode("utf-8", "replace")
        with self._lock:
            workspaces = list(self._teams.values())
        workspace = next((w for w in workspaces if w.has_response_url(token)), workspaces[0])
        status, reply = workspace.post_to_response_url(token, payload, arrived=arrived)
        return status, {"Content-Type": "application/json; charset=utf-8"}, _j(reply)


_TOKEN_METHODS = frozenset({"auth.revoke", "apps.uninstall"})


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _domain_of(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "team"


def _state_of(request: AuthorizationRequest) -> dict[str, str]:
    return {} if request.state is None else {"state": request.state}


def _denied(request: AuthorizationRequest) -> str:
    return with_query(request.target, {"error": "access_denied", **_state_of(request)})


def _redirect(location: str) -> Reply:
    return 302, {"Location": location, "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}, b""


def _html(status: int, page: str) -> Reply:
    return status, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}, page.encode()


# ----------------------------------------------------------------------
# request decoding


def _j(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def _text_reply(status: int, text: str) -> Reply:
    return status, {"Content-Type": "text/plain; charset=utf-8"}, text.encode()


def _bearer(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def _decode_request(target: str, content_type: str, body: bytes) -> tuple[dict[str, Any], str, str | None]:
    """(args, encoding, token from the query/form) of an API request; JSON-string arguments parsed."""
    args: dict[str, Any] = dict(parse_qsl(urlsplit(target).query, keep_blank_values=True))
    media_type = content_type.split(";")[0].strip().lower()
    encoding = "query"
    token = args.pop("token", None)
    if body:
        if media_type == "application/json":
            encoding = "json"
            try:
                decoded = json.loads(body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise _BadRequest("invalid_json") from exc
            if not isinstance(decoded, dict):
                raise _BadRequest("invalid_json")
            decoded.pop("token", None)  # Slack does not read a token from a JSON body
            args.update(decoded)
        elif media_type == "application/x-www-form-urlencoded":
            encoding = "form"
            try:
                form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
            except UnicodeDecodeError as exc:
                raise _BadRequest("invalid_form_data") from exc
            token = form.pop("token", None) or token
            args.update(form)
        elif media_type == "multipart/form-data":
            encoding = "multipart"
            form = _multipart(content_type, body)
            token = form.pop("token", None) or token
            args.update(form)
        elif not media_type:
            raise _BadRequest("missing_post_type")
        else:
            raise _BadRequest("invalid_post_type")
    for name in JSON_ARGUMENTS:
        value = args.get(name)
        if isinstance(value, str):
            try:
                args[name] = json.loads(value)
            except ValueError:
                pass  # left as a string: the method answers with its own error
    return args, encoding, token


def _multipart(content_type: str, body: bytes) -> dict[str, Any]:
    parser = email.parser.BytesParser(policy=email.policy.HTTP)
    message = parser.parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    if not message.is_multipart():
        raise _BadRequest("invalid_form_data")
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        content = part.get_payload(decode=True)
        data = content if isinstance(content, bytes) else b""
        fields[str(name)] = data if part.get_filename() else data.decode("utf-8", "replace")
    return fields


def _decode_response_payload(content_type: str, body: bytes) -> Any:
    media_type = content_type.split(";")[0].strip().lower()
    if media_type == "application/x-www-form-urlencoded":
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        return json.loads(form["payload"]) if "payload" in form else form
    return json.loads(body)


__all__ = ["ANY_METHOD", "FakeSlack"]
