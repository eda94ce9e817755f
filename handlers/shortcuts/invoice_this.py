""""Invoice this", the message shortcut: the payload checked (pure), the form's job queued, then the ack. The
job (`bot/services/shortcuts.py`) opens the form with the shortcut's trigger, within Slack's 3 s.

Keyed by the trigger: a request Slack sends again queues nothing new. Two clicks are two triggers and open
the form twice, the second replacing the first (Slack keeps one modal open); its submit is keyed by the view,
so one invoice comes of it whatever is clicked.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond

from bot.blocks import MESSAGE_TS
from bot.domain.phrases import MAX_TEXT
from bot.jobs.payloads import OpenInvoiceThis
from handlers.queueing import queue_then_ack

logger = logging.getLogger(__name__)

CALLBACK_ID = "invoice_this"  # the manifest's message shortcut
MAX_BLOCK_TEXT_PARTS = 200  # rich text pieces gathered from a message without `text`


def _text(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def message_text(message: dict[str, Any]) -> str:
    """The message's text: its `text`, or (a message made of blocks only) the text pieces of its blocks; at
    most MAX_TEXT characters and one more (the reader notes that it was cut)."""
    text = message.get("text")
    if isinstance(text, str) and text.strip():
        return text[:MAX_TEXT + 1]
    pieces: list[str] = []

    def gather(node: Any, depth: int) -> None:
        if depth > 8 or len(pieces) >= MAX_BLOCK_TEXT_PARTS:
            return
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                pieces.append(node["text"])
            elif isinstance(node.get("url"), str):
                pieces.append(node["url"])
            for key in ("text", "elements", "fields"):
                if isinstance(node.get(key), (dict, list)):
                    gather(node[key], depth + 1)
        elif isinstance(node, list):
            for item in node:
                gather(item, depth + 1)

    gather(message.get("blocks"), 0)
    return "".join(pieces)[:MAX_TEXT + 1]


def job_of(body: dict[str, Any]) -> OpenInvoiceThis | None:
    """The form's job from a `message_action` payload; None when it lacks what the form needs."""
    user, channel, message = body.get("user"), body.get("channel"), body.get("message")
    if not (isinstance(user, dict) and _text(user.get("id")) and isinstance(channel, dict)
            and _text(channel.get("id")) and _text(body.get("trigger_id")) and isinstance(message, dict)):
        return None
    ts = message.get("ts") or body.get("message_ts")
    if not isinstance(ts, str) or not MESSAGE_TS.match(ts):
        return None
    thread_ts = message.get("thread_ts")  # a reply: the invoice joins its thread
    response_url = body.get("response_url")
    return OpenInvoiceThis(
        user_id=str(user["id"]), channel_id=str(channel["id"]), trigger_id=str(body["trigger_id"]),
        response_url=response_url if _text(response_url) else None, message_ts=ts,
        thread_ts=thread_ts if isinstance(thread_ts, str) and MESSAGE_TS.match(thread_ts) else ts,
        text=message_text(message))


def invoice_this(ack: Ack, body: dict[str, Any], context: BoltContext, respond: Respond) -> None:
    job = job_of(body)
    if job is None:
        logger.warning("an Invoice this shortcut without its user, channel, trigger or message: ignored")
        ack()
        return
    queue_then_ack(ack, respond, context, job, f"shortcut:{job.trigger_id}", response_url=job.response_url,
                   what="Invoice this")


def register(app: App) -> None:
    app.message_shortcut(CALLBACK_ID)(invoice_this)
