"""``FakeSlack``: the fake workspace served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import email.parser
import email.policy
import http
import json
import secrets
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from slack_sdk import WebClient

from .faults import ANY_METHOD, Fault, Faults, Pace
from .model import (
    DEFAULT_TZ,
    Call,
    Channel,
    Channels,
    Ephemeral,
    Message,
    ResponsePost,
    ResponseUrl,
    SlackError,
    StoredView,
    User,
    Usergroup,
)
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


class FakeSlack:
    """A fake Slack Web API on a real local HTTP server.

    >>> with FakeSlack() as fake:
    ...     client = WebClient(token="xoxb-test", base_url=fake.api_url)
    ...     client.chat_postMessage(channel="C1", text="hi")["ok"]
    True

    Defaults: channel ids ``C…``/``G…``/``D…`` exist with the bot as a member
    (see :class:`Channels`); users exist only once added (``add_user``), except
    the bot user itself; a trigger id lives ``trigger_ttl`` = 3 s; a response_url
    takes 5 posts; no faults, no pacing, no latency.
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
        self._workspace = self._new_workspace()

    def _new_workspace(self) -> Workspace:
        return Workspace(
            token=self.token,
            bot_user_id=self.bot_user_id,
            team_id=self.team_id,
            bot_id=self.bot_id,
            app_id=self.app_id,
            trigger_ttl=self._trigger_ttl,
            clock=self._clock,
        )

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

    def client(self, **kwargs: Any) -> WebClient:
        """A ``WebClient`` with this fake's token and URL (kwargs go to ``WebClient``)."""
        kwargs.setdefault("token", self.token)
        return WebClient(base_url=self.api_url, **kwargs)

    def reset(self) -> None:
        """Back to the state right after construction: records, views, faults, pacing, directories.

        The server keeps running on the same URL.  Objects fetched before (``fake.channels``,
        ``fake.users``, a ``response_url``) belong to the old state: fetch them again.
        """
        self._faults.clear()
        with self._calls_lock:
            self._calls.clear()
        self._workspace = self._new_workspace()

    # ------------------------------------------------------------------
    # recorded state

    @property
    def calls(self) -> list[Call]:
        with self._calls_lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

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

    @property
    def trigger_ttl(self) -> float:
        return self._workspace.trigger_ttl

    @trigger_ttl.setter
    def trigger_ttl(self, seconds: float) -> None:
        self._trigger_ttl = seconds
        self._workspace.trigger_ttl = seconds

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
        url = f"{self.url}/response/{quote(name, safe='')}/{token}"
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

        ``None`` turns pacing off again.
        """
        self._workspace.pace = (
            None if posts_per_second is None else Pace(posts_per_second, burst, self._clock)
        )

    def latency(self, method: str, seconds: float) -> None:
        """Delay every answer of ``method`` (``"*"``: any) by ``seconds``; 0 removes it."""
        self._faults.set_latency(method, seconds)

    # ------------------------------------------------------------------
    # HTTP plumbing

    def _dispatch(self, verb: str, target: str, headers: Any, body: bytes) -> Reply:
        path = urlsplit(target).path
        if path.startswith("/api/"):
            return self._api(path.removeprefix("/api/"), target, headers, body)
        if path.startswith("/response/") and verb == "POST":
            return self._response_url(path, headers, body)
        return _text_reply(404, "not found")

    def _api(self, method: str, target: str, headers: Any, body: bytes) -> Reply:
        arrived, started = time.time(), time.perf_counter()
        delay = self._faults.latency(method)
        if delay:
            time.sleep(delay)
        encoding = "query"
        args: dict[str, Any] = {}
        try:
            args, encoding, form_token = _decode_request(target, headers.get("Content-Type", ""), body)
            status, reply_headers, response = self._answer_api(method, args, headers, form_token)
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
    ) -> tuple[int, dict[str, str], dict[str, Any] | None]:
        """(HTTP status, extra headers, JSON body or None for a plain-text HTTP error)."""
        fault = self._faults.take(method)
        if fault is not None:
            if fault.kind == "http":
                return fault.status, {}, None
            if fault.kind == "ratelimit":
                return 429, {"Retry-After": str(fault.retry_after)}, {"ok": False, "error": "ratelimited"}
            return 200, {}, {"ok": False, "error": fault.error}
        workspace = self._workspace
        if method == "apps.connections.open":  # Socket Mode: app-level token, not the bot token
            token = _bearer(headers.get("Authorization", "")) or form_token
            if not self.socket_mode_url or not token or not token.startswith("xapp-"):
                return 200, {}, {"ok": False, "error": "not_allowed_token_type"}
            if token != self.app_token:
                return 200, {}, {"ok": False, "error": "invalid_auth"}
            return 200, {}, {"ok": True, "url": self.socket_mode_url()}
        if not workspace.knows(method):
            return 200, {}, {"ok": False, "error": "unknown_method", "req_method": method}
        token = _bearer(headers.get("Authorization", "")) or form_token
        if not token:
            return 200, {}, {"ok": False, "error": "not_authed"}
        if token != self.token:
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        try:
            return 200, {}, {"ok": True, **workspace.call(method, args)}
        except SlackError as exc:
            return 200, {}, exc.body()
        except RateLimited as exc:
            return 429, {"Retry-After": str(exc.retry_after)}, {"ok": False, "error": "ratelimited"}

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
        status, reply = self._workspace.post_to_response_url(token, payload, arrived=arrived)
        return status, {"Content-Type": "application/json; charset=utf-8"}, _j(reply)


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
