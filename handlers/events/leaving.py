"""The app leaves a workspace: `app_uninstalled`, or `tokens_revoked` listing the bot's token. Acked at once;
the erasing (and the call to Stripe) is a job (`bot/services/leaving.py`), queued before the ack.

Bolt runs no authorize for these two events (the token is gone), and `handlers/context.py` gives no services
for a workspace already erased: a repeat, or the second of the two events, is then a 200 that does nothing.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.jobs.payloads import LeaveWorkspace
from handlers.context import services_of

logger = logging.getLogger(__name__)


def app_uninstalled(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    _leave(body, context, "app_uninstalled")
    ack()


def tokens_revoked(ack: Ack, body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
    tokens = event.get("tokens")
    # Only people's own (user) tokens revoked: the bot's still works, and the workspace stays.
    if isinstance(tokens, dict) and tokens.get("bot"):
        _leave(body, context, "tokens_revoked")
    ack()


def _leave(body: dict[str, Any], context: BoltContext, reason: str) -> None:
    # Keyed by the event: Slack's redelivery queues nothing new. A StoreUnavailable is not caught: the
    # answer is then a 500, and Slack delivers the event again.
    queued = services_of(context).jobs.submit(LeaveWorkspace(reason=reason),
                                              key=f"leave:{body.get('event_id') or uuid.uuid4().hex}")
    if queued:
        logger.info("Slack says invoicebot left workspace %s (%s): erasing its installation", context.team_id,
                    reason)


def register(app: App) -> None:
    app.event("app_uninstalled")(app_uninstalled)
    app.event("tokens_revoked")(tokens_revoked)
