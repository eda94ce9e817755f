"""One answer for a listener that failed: logged once, and the person hears something useful."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App

from bot.errors import ExternalFailure

logger = logging.getLogger(__name__)

TRY_AGAIN = ":hourglass: Slack or Stripe didn't answer in time, so I couldn't do that. Try again in a moment."
STORE_DOWN = ":hourglass: I can't reach my database right now, so I couldn't take that. Try again in a moment."
BROKEN = ":warning: Something went wrong on my side; it has been logged. Try again, or ask an admin to check the logs."


def answer_failure(error: Exception, respond: Any) -> None:
    retryable = isinstance(error, ExternalFailure) and error.retryable
    if retryable:
        logger.warning("a listener could not finish: %s", error)
    else:
        logger.exception("a listener failed", exc_info=error)
    if respond is None:
        return
    try:
        respond(response_type="ephemeral", replace_original=False, text=TRY_AGAIN if retryable else BROKEN)
    except Exception:
        logger.exception("could not tell the user about the failure")


def answer_error(error: Exception, body: dict[str, Any], respond: Any) -> None:
    has_url = bool(body.get("response_url") or body.get("response_urls"))
    answer_failure(error, respond if has_url else None)


def register(app: App) -> None:
    app.error(answer_error)
