"""Slack's current file upload flow, faked (``files.upload`` is retired: the fake does not know it).

1. ``files.getUploadURLExternal`` (``filename``, ``length`` required; ``alt_txt``, ``snippet_type``)
   answers ``{"upload_url": ..., "file_id": "F..."}``. The URL is on the fake's own server:
   ``POST /upload/v1/<opaque>``.
2. The bytes are POSTed to that URL, raw or as a multipart form's file part. Answered ``200 OK - <n>``,
   as Slack does; a URL the fake never issued, or one whose upload was completed, answers 404. The fault
   switches work on it under the name ``file_upload`` (``fake.http_error("file_upload", 500)``).
3. ``files.completeUploadExternal`` (``files`` = ``[{"id", "title"}]``; ``channel_id`` or ``channels``;
   ``initial_comment``; ``thread_ts``) finishes the uploads, once: an id the fake never issued, one
   whose bytes never arrived, or one already completed is refused (``file_not_found``), and so is the
   whole call with it, as Slack does (nothing is shared). With a channel, the files are shared there in
   one message (``subtype: file_share``, the comment as its text, the files under ``files``) that
   ``messages(channel)`` and ``conversations.history`` show; without one they stay private.

``fake.files()`` lists every file of the team, completed or not, with the bytes that arrived.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import mimetypes
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .model import Message, SlackError

if TYPE_CHECKING:
    from .server import FakeSlack
    from .workspace import Workspace

UPLOAD_PATH = "/upload/v1/"
UPLOAD_METHOD = "file_upload"  # the name the fault switches use for the upload URL
MAX_FILE_BYTES = 1024**3  # Slack's limit: 1 GB
Reply = tuple[int, dict[str, str], bytes]


@dataclass
class SlackFile:
    """One file: what `files.getUploadURLExternal` was told, what reached the upload URL, where it was shared."""

    id: str
    name: str
    length: int  # as declared to files.getUploadURLExternal
    user: str
    upload_token: str
    created: int = field(default_factory=lambda: int(time.time()))
    alt_txt: str | None = None
    title: str | None = None
    data: bytes | None = None  # None until the bytes arrive at the upload URL
    upload_content_type: str | None = None
    completed: bool = False
    initial_comment: str | None = None
    shares: list[tuple[str, str]] = field(default_factory=list)  # (channel, ts) of the messages sharing it

    @property
    def mimetype(self) -> str:
        return mimetypes.guess_type(self.name)[0] or "application/octet-stream"

    @property
    def filetype(self) -> str:
        return self.name.rsplit(".", 1)[-1].lower() if "." in self.name else "binary"

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id, "created": self.created, "timestamp": self.created, "name": self.name,
            "title": self.title or self.name, "mimetype": self.mimetype, "filetype": self.filetype,
            "user": self.user, "size": len(self.data or b""), "mode": "hosted", "is_external": False,
            "url_private": f"https://files.fake-slack.example/files-pri/{self.id}/{self.name}",
            "channels": sorted({channel for channel, _ in self.shares}),
        }
        if self.alt_txt:
            body["alt_txt"] = self.alt_txt
        return body


@dataclass
class FileShareMessage(Message):
    """A message that shares files (what files.completeUploadExternal posts in a channel)."""

    files: list[dict[str, Any]] = field(default_factory=list)

    def to_api(self, team_id: str, app_id: str) -> dict[str, Any]:
        body = super().to_api(team_id, app_id)
        body.update(subtype="file_share", upload=True, files=self.files)
        return body


class Files:
    """A workspace's files and its two file methods; installed into the workspace by `install`."""

    def __init__(self, workspace: Workspace, server_url: Callable[[], str]) -> None:
        self.workspace = workspace
        self.server_url = server_url
        self._files: dict[str, SlackFile] = {}
        self._by_token: dict[str, str] = {}

    def all(self) -> list[SlackFile]:
        with self.workspace.lock:
            return sorted(self._files.values(), key=lambda item: (item.created, item.id))

    def has_upload(self, token: str) -> bool:
        with self.workspace.lock:
            return token in self._by_token

    # --- files.getUploadURLExternal --------------------------------------------------------------------
    def get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = args.get("filename")
        if not isinstance(filename, str) or not filename.strip():
            raise SlackError("invalid_arguments", ["[ERROR] missing required field: filename"])
        raw_length = args.get("length")
        if raw_length is None or raw_length == "":
            raise SlackError("invalid_arguments", ["[ERROR] missing required field: length"])
        try:
            length = int(raw_length)
        except (TypeError, ValueError):
            raise SlackError("invalid_arguments", ["[ERROR] length must be an integer"]) from None
        if length < 1:
            raise SlackError("invalid_arguments", ["[ERROR] length must be at least 1"])
        if length > MAX_FILE_BYTES:
            raise SlackError("file_too_large")
        alt_txt = args.get("alt_txt") if isinstance(args.get("alt_txt"), str) else None
        token = secrets.token_urlsafe(18)
        file = SlackFile(id=self.workspace.new_id("F"), name=filename.strip(), length=length,
                         user=self.workspace.bot_user_id, upload_token=token, alt_txt=alt_txt)
        self._files[file.id] = file
        self._by_token[token] = file.id
        return {"upload_url": f"{self.server_url()}{UPLOAD_PATH}{token}", "file_id": file.id}

    # --- POST <upload_url> -------------------------------------------------------------------------------
    def receive(self, token: str, content_type: str, body: bytes) -> Reply:
        with self.workspace.lock:
            file_id = self._by_token.get(token)
            file = self._files.get(file_id) if file_id else None
            if file is None or file.completed:
                return 404, {"Content-Type": "text/plain; charset=utf-8"}, b"Not Found"
            data = _file_part(content_type, body)
            if data is None:
                return 400, {"Content-Type": "text/plain; charset=utf-8"}, b"Bad Request: no file in the form"
            file.data = data
            file.upload_content_type = content_type or None
            return 200, {"Content-Type": "text/plain; charset=utf-8"}, f"OK - {len(data)}".encode()

    # --- files.completeUploadExternal --------------------------------------------------------------------
    def complete(self, args: dict[str, Any]) -> dict[str, Any]:
        requested = args.get("files")
        if requested is None or requested == "":
            raise SlackError("invalid_arguments", ["[ERROR] missing required field: files"])
        if isinstance(requested, str):
            try:
                requested = json.loads(requested)
            except ValueError:
                raise SlackError("invalid_arguments", ["[ERROR] files must be a JSON array"]) from None
        if not isinstance(requested, list) or not requested or not all(isinstance(item, dict) for item in requested):
            raise SlackError("invalid_arguments", ["[ERROR] files must be a non-empty array of objects"])
        files: list[tuple[SlackFile, str | None]] = []
        for item in requested:
            file = self._files.get(str(item.get("id") or ""))
            if file is None or file.completed or file.data is None:
                raise SlackError("file_not_found")  # never issued, its bytes never arrived, or completed already
            title = item.get("title")
            files.append((file, title if isinstance(title, str) and title else None))
        channels = _channel_ids(args)
        targets = [self.workspace._target({"channel": channel}) for channel in channels]  # Slack's channel errors
        comment = args.get("initial_comment") if isinstance(args.get("initial_comment"), str) else None
        thread_ts = args.get("thread_ts") if isinstance(args.get("thread_ts"), str) and args["thread_ts"] else None
        for file, title in files:
            file.completed = True
            file.title = title or file.name
            file.initial_comment = comment
        for target in targets:
            message = self.workspace.store_message(FileShareMessage(
                ts=self.workspace.next_ts(), channel=target.id, text=comment or "", user=self.workspace.bot_user_id,
                thread_ts=thread_ts, bot_id=self.workspace.bot_id, files=[]))
            for file, _ in files:
                file.shares.append((target.id, message.ts))
            message.files = [file.to_api() for file, _ in files]
        return {"files": [{"id": file.id, "title": file.title} for file, _ in files]}


def install(workspace: Workspace, server_url: Callable[[], str]) -> Files:
    """Give a fake workspace the two file methods (and `workspace.files`, what tests read)."""
    files = Files(workspace, server_url)
    workspace.files = files  # type: ignore[attr-defined]
    workspace._methods["files.getUploadURLExternal"] = files.get_upload_url
    workspace._methods["files.completeUploadExternal"] = files.complete
    return files


def receive_upload(fake: FakeSlack, path: str, headers: Any, body: bytes) -> Reply:
    """A POST to an upload URL the fake issued (any team's), through the fault switches."""
    fault = fake._faults.take(UPLOAD_METHOD)
    if fault is not None:
        if fault.kind == "ratelimit":
            return 429, {"Retry-After": str(fault.retry_after), "Content-Type": "text/plain"}, b"Too Many Requests"
        status = fault.status if fault.kind == "http" else 500
        return status, {"Content-Type": "text/plain; charset=utf-8"}, b"Upload failed"
    token = path.removeprefix(UPLOAD_PATH).strip("/")
    with fake._lock:
        workspaces = list(fake._teams.values())
    for workspace in workspaces:
        files: Files | None = getattr(workspace, "files", None)
        if files is not None and files.has_upload(token):
            return files.receive(token, headers.get("Content-Type", ""), body)
    return 404, {"Content-Type": "text/plain; charset=utf-8"}, b"Not Found"


def _channel_ids(args: dict[str, Any]) -> list[str]:
    channel_id = args.get("channel_id")
    if isinstance(channel_id, str) and channel_id:
        return [channel_id]
    channels = args.get("channels")
    if isinstance(channels, str) and channels.strip():
        return [channel.strip() for channel in channels.split(",") if channel.strip()]
    return []


def _file_part(content_type: str, body: bytes) -> bytes | None:
    """The file's bytes: the raw body, or the (first) file part of a multipart form."""
    if content_type.split(";")[0].strip().lower() != "multipart/form-data":
        return body
    parser = email.parser.BytesParser(policy=email.policy.HTTP)
    message = parser.parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    if not message.is_multipart():
        return None
    for part in message.iter_parts():
        if part.get_filename() or part.get_param("name", header="content-disposition") in ("file", "filename"):
            content = part.get_payload(decode=True)
            return content if isinstance(content, bytes) else b""
    return None
