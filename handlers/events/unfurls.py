"""`link_shared`: pasted invoice links, checked (pure) and queued for their previews, then acked. The job
(`bot/services/unfurls.py`) finds each invoice in this workspace's store, checks who may see it and answers
with `chat.unfurl`.

Keyed by the event's id: an event Slack delivers again queues nothing new. A StoreUnavailable is not caught:
the answer is then a 500, and Slack delivers the event again.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.blocks import MESSAGE_TS
from bot.domain.phrases import invoice_link
from bot.jobs.payloads import UnfurlInvoiceLinks
from handlers.context import services_of

logger = logging.getLogger(__name__)

MAX_LINKS = 10  # links of one message queued for previews


def job_of(event: dict[str, Any]) -> UnfurlInvoiceLinks | None:
    """The previews' job; None when there is nothing to preview: no invoice link, a link still in the
    composer (no channel yet), a channel invoicebot is not in, or an event without its user or message."""
    links = event.get("links")
    urls = [str(link["url"]) for link in links if isinstance(link, dict) and invoice_link(link.get("url"))] \
        if isinstance(links, list) else []
    channel, user, ts = event.get("channel"), event.get("user"), event.get("message_ts")
    source = event.get("source") or "conversations_history"
    if not urls or source != "conversations_history" or event.get("is_bot_user_member") is not True:
        return None
    if not (isinstance(channel, str) and channel and isinstance(user, str) and user and isinstance(ts, str)
            and MESSAGE_TS.match(ts)):
        return None
    unfurl_id = event.get("unfurl_id")
    return UnfurlInvoiceLinks(user_id=user, channel_id=channel, message_ts=ts,
                              urls=list(dict.fromkeys(urls))[:MAX_LINKS], bot_in_channel=True, source=source,
                              unfurl_id=unfurl_id if isinstance(unfurl_id, str) else None)


def link_shared(ack: Ack, body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
    job = job_of(event)
    if job is not None:
        key = f"unfurl:{body.get('event_id') or f'{job.channel_id}:{job.message_ts}'}"
        services_of(context).jobs.submit(job, key=key)
    ack()


def register(app: App) -> None:
    app.event("link_shared")(link_shared)
