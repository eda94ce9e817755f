"""Link previews: a pasted hosted-invoice or Dashboard invoice link unfurls into the invoice's live card.

`link_shared` is acked at once and queued as `UnfurlInvoiceLinks` (keyed by the event's id, so a redelivered
event unfurls once); this runs it in the worker. Each link is looked up in this tenant's store only (a hosted
page by its stored `hosted_url`, a Dashboard link by its `in_...` id), previews go only to people who may see
the invoice (`bot.access`, `Action.VIEW`, for whoever shared the link) and only in channels the bot is in
(Slack's `is_bot_user_member`; a link still in the composer has no channel yet and is left alone), and the card
carries the buttons that person may use. Everyone in the channel sees the card; every press is checked again
for whoever presses it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from bot import blocks
from bot.access import Access, Action
from bot.adapters.slack import SlackFailure, SlackOut
from bot.domain.invoices import Invoice
from bot.domain.phrases import DASHBOARD_LINK, HOSTED_LINK
from bot.jobs.payloads import UnfurlInvoiceLinks
from bot.services.replies import BUTTON_ACTIONS
from bot.store.scope import TenantScope

logger = logging.getLogger(__name__)

UNFURL_DOMAINS = ("invoice.stripe.com", "dashboard.stripe.com")  # the manifest's `unfurl_domains`
MAX_LINKS = 10  # previews made for one message


class Unfurls:
    def __init__(self, store: TenantScope, slack: SlackOut, access: Access,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.slack = slack
        self.access = access
        self.clock = clock

    def unfurl(self, job: UnfurlInvoiceLinks) -> int:
        """Preview the links of one message that the person who shared them may see; how many."""
        if job.source != "conversations_history" or not job.bot_in_channel:
            logger.info("no previews for %s's links: %s", job.user_id,
                        "still in the composer" if job.source != "conversations_history" else "invoicebot is not in "
                        "the channel")
            return 0
        unfurls: dict[str, dict[str, Any]] = {}
        for url in list(dict.fromkeys(job.urls))[:MAX_LINKS]:
            invoice = self.find(url)
            if invoice is None or self.access.refusal(Action.VIEW, job.user_id, invoice) is not None:
                continue  # not this workspace's, or not theirs to see: Slack shows its own preview, if any
            allowed = {action_id for action_id, name in BUTTON_ACTIONS.items()
                       if self.access.refusal(Action(name), job.user_id, invoice) is None}
            unfurls[url] = {"blocks": blocks.unfurl_card(invoice, allowed, self.clock())}
        if not unfurls:
            return 0
        try:
            self.slack.call("chat.unfurl", channel=job.channel_id, ts=job.message_ts, unfurls=unfurls)
        except SlackFailure as failure:
            if failure.retryable:
                raise
            # The message was deleted or edited meanwhile, or Slack will not unfurl there: nobody to tell.
            logger.warning("Slack did not take the previews of %d link(s): %s", len(unfurls), failure.error)
            return 0
        return len(unfurls)

    def find(self, url: str) -> Invoice | None:
        """The tenant's invoice a link is about, if the bot knows it."""
        dashboard = DASHBOARD_LINK.match(url)
        if dashboard:
            return self.store.reads.invoices.get(dashboard.group(1))
        if HOSTED_LINK.match(url):
            return self.store.reads.invoices.by_hosted_url(url)
        return None
