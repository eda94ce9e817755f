"""`/invoice`: the ack answers what needs nothing but the text (help, a usage message); anything
else is acked empty and answered by a job (`bot/services/replies.py`), queued before the ack."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot import slash
from bot.errors import StoreUnavailable
from bot.forms import unsafe_character
from bot.jobs.payloads import AnswerCommand
from handlers.context import services_of
from handlers.errors import STORE_DOWN

logger = logging.getLogger(__name__)

# What of the command the answer needs (not the legacy verification token Slack also sends).
KEPT = ("user_id", "channel_id", "team_id", "text", "trigger_id", "response_url")


def immediate_answer(parsed: slash.Command) -> str | None:
    """What the ack itself says: answers that need nothing but the command's text."""
    if isinstance(parsed, slash.ShowHelp):
        return slash.help_text(parsed.unknown)
    if isinstance(parsed, slash.Refuse):
        return parsed.message
    if isinstance(parsed, slash.AddCatalogPrice) and unsafe_character(parsed.name):
        return f"Remove the invisible character {unsafe_character(parsed.name)} from the product name."
    return None


def invoice_command(ack: Ack, command: dict[str, Any], context: BoltContext) -> None:
    text = immediate_answer(slash.parse(command.get("text", "")))
    if text is not None:
        ack(response_type="ephemeral", text=text)
        return
    try:
        services_of(context).jobs.submit(AnswerCommand(command={k: str(command.get(k) or "") for k in KEPT}),
                                         key=f"command:{command['trigger_id']}")
    except StoreUnavailable as error:
        logger.warning("/invoice not queued: %s", error.message)
        ack(response_type="ephemeral", text=STORE_DOWN)
        return
    ack()


def register(app: App) -> None:
    app.command("/invoice")(invoice_command)
