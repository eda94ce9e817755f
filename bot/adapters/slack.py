"""Everything the bot says in Slack goes out through here.

`slack_sdk`'s retry handlers wait out a 429's `Retry-After` and retry 5xx and connection
errors; what still fails surfaces as `SlackFailure` (an `ExternalFailure`), which the worker
retries or gives up on. Errors that retrying cannot fix (`not_in_channel`, `channel_not_found`,
...) are told apart so the caller can pick another way to reach people.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.webhook import WebhookClient

from bot.errors import ExternalFailure
from bot.metrics import Metrics
from bot.origins import is_slack_origin

logger = logging.getLogger(__name__)

CANNOT_POST_THERE = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action", "cannot_dm_bot"}
GONE = {"message_not_found", "cant_update_message", "not_found", "expired_trigger_id", "view_not_found"}


class SlackFailure(ExternalFailure):
    def __init__(self, error: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(f"Slack: {error}", retryable=retryable, retry_after=retry_after, code=error)
        self.error = error


def build_web_client(token: str, base_url: str, *, retries: int = 2, timeout: int = 10,
                     metrics: Metrics | None = None) -> WebClient:
    client = WebClient(token=token, base_url=base_url, timeout=timeout)
    client.retry_handlers.extend([
        CountedRateLimitRetries(metrics or Metrics(), max_retry_count=retries),
        ServerErrorRetryHandler(max_retry_count=retries),
    ])
    # WebClient already carries a ConnectionErrorRetryHandler with one retry; allow a few more.
    client.retry_handlers[:] = [h for h in client.retry_handlers if not isinstance(h, ConnectionErrorRetryHandler)]
    client.retry_handlers.append(ConnectionErrorRetryHandler(max_retry_count=retries))
    return client


class CountedRateLimitRetries(RateLimitErrorRetryHandler):
    """slack_sdk's retry after a 429, counted: the call's own outcome only shows the last answer."""

    def __init__(self, metrics: Metrics, max_retry_count: int) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.metrics = metrics

    def prepare_for_next_attempt(self, *, state: RetryState, request: HttpRequest,
                                 response: HttpResponse | None = None, error: Exception | None = None) -> None:
        self.metrics.slack_rate_limited.labels(urlsplit(request.url).path.rsplit("/", 1)[-1]).inc()
        super().prepare_for_next_attempt(state=state, request=request, response=response, error=error)


@dataclass(frozen=True)
class Upload:
    """A file to share: its bytes, its name (with the extension Slack types it by), its title, and
    alt text for an image (read to people who cannot see it)."""

    filename: str
    title: str
    content: bytes
    alt_text: str | None = None


class SlackOut:
    def __init__(self, client: WebClient, response_origins: frozenset[str] = frozenset({"https://hooks.slack.com"}),
                 metrics: Metrics | None = None) -> None:
        self.client = client
        self.response_origins = response_origins
        self.metrics = metrics or Metrics()
        self._team_id: str | None = None

    def call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self.client.api_call(method, json=_drop_none(kwargs))
        except SlackApiError as error:
            failure = _failure_from(error)
            self.metrics.slack_call(method, _outcome(failure))
            raise failure from None
        except OSError as error:
            self.metrics.slack_call(method, "failed")
            raise SlackFailure(f"network: {error}", retryable=True) from None
        self.metrics.slack_call(method, "ok")
        return dict(response.data) if isinstance(response.data, dict) else {}

    def users_info(self, user: str) -> dict[str, Any]:
        try:
            return dict(self.client.users_info(user=user)["user"])
        except SlackApiError as error:
            raise _failure_from(error) from None
        except OSError as error:
            raise SlackFailure(f"network: {error}", retryable=True) from None

    def team_id(self) -> str:
        """The workspace the bot is installed in (asked once: it never changes for a token)."""
        if self._team_id is None:
            self._team_id = str(self.call("auth.test")["team_id"])
        return self._team_id

    def channel_members(self, channel: str) -> list[str]:
        members: list[str] = []
        cursor: str | None = None
        while True:
            try:
                page = self.client.conversations_members(channel=channel, limit=1000, cursor=cursor)
            except SlackApiError as error:
                raise _failure_from(error) from None
            except OSError as error:
                raise SlackFailure(f"network: {error}", retryable=True) from None
            members += list(page.get("members") or [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return members

    def usergroup_members(self, usergroup: str) -> list[str]:
        try:
            return list(self.client.usergroups_users_list(usergroup=usergroup)["users"])
        except SlackApiError as error:
            raise _failure_from(error) from None
        except OSError as error:
            raise SlackFailure(f"network: {error}", retryable=True) from None

    def post(self, channel: str, text: str, blocks: list[dict[str, Any]] | None = None, *,
             thread_ts: str | None = None, unfurl: bool = False) -> str:
        data = self.call("chat.postMessage", channel=channel, text=text, blocks=blocks, thread_ts=thread_ts,
                          unfurl_links=unfurl, unfurl_media=unfurl)
        return str(data["ts"])

    def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        self.call("chat.update", channel=channel, ts=ts, text=text, blocks=blocks)

    def ephemeral(self, channel: str, user: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        self.call("chat.postEphemeral", channel=channel, user=user, text=text, blocks=blocks)

    def open_dm(self, user: str) -> str:
        return str(self.call("conversations.open", users=user)["channel"]["id"])

    def dm(self, user: str, text: str, blocks: list[dict[str, Any]] | None = None) -> str:
        return self.post(self.open_dm(user), text, blocks)

    def tell_user(self, channel: str | None, user: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        """An ephemeral note in the channel, or a DM when the bot cannot speak there."""
        if channel:
            try:
                self.ephemeral(channel, user, text, blocks)
                return
            except SlackFailure as failure:
                if failure.retryable:
                    raise
                logger.info("ephemeral to %s in %s failed (%s); sending a DM", user, channel, failure.error)
        self.dm(user, text, blocks)

    def update_view(self, view_id: str, view: dict[str, Any]) -> bool:
        """Replace a modal the rep may already have closed; a closed one is not an error."""
        try:
            self.call("views.update", view_id=view_id, view=view)
            return True
        except SlackFailure as failure:
            if failure.error in GONE:
                return False
            raise

    def permalink(self, channel: str, ts: str) -> str | None:
        try:
            return str(self.call("chat.getPermalink", channel=channel, message_ts=ts).get("permalink") or "") or None
        except SlackFailure:
            logger.warning("no permalink for %s/%s", channel, ts)
            return None

    def share_files(self, channel: str, uploads: list[Upload], *, initial_comment: str | None = None,
                    thread_ts: str | None = None) -> list[str]:
        """Share files in a channel with Slack's current upload flow (`files.upload` is retired): one
        `files.getUploadURLExternal` per file, its bytes POSTed to the URL Slack gave, then one
        `files.completeUploadExternal` for them all, which posts them in `channel` (with the comment, in
        the thread of `thread_ts` if given). The ids of the files shared."""
        started: list[tuple[str, Upload]] = []
        for upload in uploads:
            answer = self._files_call("files.getUploadURLExternal", self.client.files_getUploadURLExternal,
                                      filename=upload.filename, length=len(upload.content), alt_txt=upload.alt_text)
            self._put_bytes(str(answer["upload_url"]), upload.content)
            started.append((str(answer["file_id"]), upload))
        done = self._files_call("files.completeUploadExternal", self.client.files_completeUploadExternal,
                                files=[{"id": file_id, "title": upload.title} for file_id, upload in started],
                                channel_id=channel, initial_comment=initial_comment, thread_ts=thread_ts)
        return [str(item.get("id")) for item in done.get("files") or []]

    def _files_call(self, method: str, call: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            response = call(**kwargs)
        except SlackApiError as error:
            failure = _failure_from(error)
            self.metrics.slack_call(method, _outcome(failure))
            raise failure from None
        except OSError as error:
            self.metrics.slack_call(method, "failed")
            raise SlackFailure(f"network: {error}", retryable=True) from None
        self.metrics.slack_call(method, "ok")
        return dict(response.data) if isinstance(response.data, dict) else {}

    def _put_bytes(self, url: str, content: bytes) -> None:
        """Step two: the bytes to the upload URL, over HTTPS (or to the API's own origin: a local Slack)."""
        parts, api = urlsplit(url), urlsplit(self.client.base_url)
        if parts.scheme != "https" and (parts.scheme, parts.netloc) != (api.scheme, api.netloc):
            raise SlackFailure("files.getUploadURLExternal gave an upload URL that is not https", retryable=False)
        request = urllib.request.Request(url, data=content, method="POST",
                                         headers={"Content-Type": "application/octet-stream"})
        try:
            with urllib.request.urlopen(request, timeout=self.client.timeout) as response:  # noqa: S310 (checked)
                response.read()
        except urllib.error.HTTPError as error:
            self.metrics.slack_call("file_upload", "failed" if error.code >= 500 or error.code == 429 else "error")
            raise SlackFailure(f"the upload URL answered {error.code}",
                               retryable=error.code >= 500 or error.code == 429) from None
        except OSError as error:
            self.metrics.slack_call("file_upload", "failed")
            raise SlackFailure(f"network: {error}", retryable=True) from None
        self.metrics.slack_call("file_upload", "ok")

    def respond(self, response_url: str, text: str, blocks: list[dict[str, Any]] | None = None, *,
                replace_original: bool = False) -> None:
        """Answer a slash command through its response_url (works where the bot is not a member)."""
        if not is_slack_origin(response_url, self.response_origins):
            raise SlackFailure("response_url is not one of Slack's", retryable=False)
        try:
            response = WebhookClient(response_url, timeout=10).send(
                text=text, blocks=blocks, response_type="ephemeral", replace_original=replace_original
            )
        except OSError:
            self.metrics.slack_call("response_url", "failed")
            raise
        status = response.status_code
        self.metrics.slack_call("response_url", "ok" if status < 400 else "rate_limited" if status == 429
                                else "failed" if status >= 500 else "error")
        if status >= 500 or status == 429:
            raise SlackFailure(f"response_url answered {status}", retryable=True)
        if status >= 400:
            raise SlackFailure(f"response_url answered {status}", retryable=False)


def _drop_none(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in kwargs.items() if value is not None}


def _outcome(failure: SlackFailure) -> str:
    if failure.retry_after is not None:
        return "rate_limited"
    return "failed" if failure.retryable else "error"


def _failure_from(error: SlackApiError) -> SlackFailure:
    status = error.response.status_code
    code = str(error.response.get("error") or f"http_{status}")
    if status == 429:
        retry_after = float(error.response.headers.get("Retry-After", error.response.headers.get("retry-after", 1)))
        return SlackFailure("ratelimited", retryable=True, retry_after=retry_after)
    if status >= 500 or code in {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}:
        return SlackFailure(code, retryable=True)
    return SlackFailure(code, retryable=False)
