"""Posting each keyed Slack message once, even across a crash between Slack's answer and our record."""

from __future__ import annotations

import logging
from typing import Any

from bot.adapters.slack import SlackFailure, SlackOut
from bot.store.scope import TenantScope

logger = logging.getLogger(__name__)

DELIVERY_EVENT_TYPE = "invoicebot_delivery"
RECOVERY_LOOKBACK = 120.0  # seconds before an interrupted post started, to look for it in Slack
RECOVERY_PAGES = 5


class Courier:
    """Posts each keyed message once, even across a crash between Slack's answer and our record.

    Before posting, the intent is stored; the message carries its key in Slack's message
    metadata. If a restart finds an intent without an outcome, the channel (or thread) is read
    back for a message with that key before anything is posted again.
    """

    def __init__(self, store: TenantScope, slack: SlackOut) -> None:
        self.store = store
        self.slack = slack

    def post_once(self, key: str, channel: str, text: str, blocks: list[dict[str, Any]] | None = None, *,
                  thread_ts: str | None = None) -> str:
        with self.store.unit_of_work() as uow:
            earlier = uow.deliveries.begin(key, channel, thread_ts)
            uow.commit()
        if earlier is not None:
            if earlier.sent and earlier.ts:
                return earlier.ts
            found = self._find_posted(key, earlier.channel or channel, earlier.thread_ts, earlier.started_at)
            if found:
                self._finish(key, found)
                return found
        metadata = {"event_type": DELIVERY_EVENT_TYPE, "event_payload": {"key": key}}
        data = self.slack.call("chat.postMessage", channel=channel, text=text, blocks=blocks, thread_ts=thread_ts,
                               metadata=metadata, unfurl_links=False, unfurl_media=False)
        ts = str(data["ts"])
        self._finish(key, ts)
        return ts

    def _finish(self, key: str, ts: str) -> None:
        with self.store.unit_of_work() as uow:
            uow.deliveries.finish(key, ts)
            uow.commit()

    def _find_posted(self, key: str, channel: str, thread_ts: str | None, started_at: float) -> str | None:
        oldest = f"{max(0.0, started_at - RECOVERY_LOOKBACK):.6f}"
        cursor_args: dict[str, Any] = {"channel": channel, "oldest": oldest, "include_all_metadata": True,
                                       "limit": 200}
        method = "conversations.history"
        if thread_ts:
            method, cursor_args["ts"] = "conversations.replies", thread_ts
        latest: str | None = None
        try:
            for _ in range(RECOVERY_PAGES):
                args = {**cursor_args, **({"latest": latest} if latest else {})}
                data = self.slack.call(method, **args)
                messages = data.get("messages") or []
                for message in messages:
                    payload = (message.get("metadata") or {}).get("event_payload") or {}
                    if payload.get("key") == key:
                        return str(message["ts"])
                if not data.get("has_more") or not messages or thread_ts:
                    return None
                latest = min(messages, key=lambda m: float(m["ts"]))["ts"]
        except SlackFailure as failure:
            if failure.retryable:
                raise
            logger.warning("cannot read %s back to check delivery %s (%s); posting again", channel, key,
                           failure.error)
        return None
