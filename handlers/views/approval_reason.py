"""Reject's reason form submitted: validate (pure), queue the rejection, answer at once. The job asks
again who may decide and records the first decision once (`bot/services/approvals.py`)."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot import blocks
from bot.domain.approvals import reason_problem
from bot.errors import StoreUnavailable
from bot.jobs.payloads import RejectInvoice
from handlers.context import services_of
from handlers.errors import STORE_DOWN

logger = logging.getLogger(__name__)

MAX_INVOICE_ID = 255


def _invoice_id(view: dict[str, Any]) -> str | None:
    """The invoice the form is about, from its `private_metadata` (a JSON object, as shape.py checked)."""
    try:
        invoice_id = json.loads(view.get("private_metadata") or "{}").get("invoice_id")
    except (ValueError, AttributeError):
        return None
    return invoice_id if isinstance(invoice_id, str) and 0 < len(invoice_id) <= MAX_INVOICE_ID else None


def submit_reason(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
    element = (view["state"]["values"].get("reason") or {}).get("reason") or {}
    reason = element.get("value") if isinstance(element.get("value"), str) else None
    problem = reason_problem(reason)
    if problem:
        ack(response_action="errors", errors={"reason": problem})
        return
    invoice_id = _invoice_id(view)
    if invoice_id is None:
        ack(response_action="update", view=blocks.status_view("Not rejected", "This form names no invoice."))
        return
    assert reason is not None  # reason_problem refuses a missing one
    try:
        # Keyed by the view: a double submit queues nothing new.
        services_of(context).jobs.submit(RejectInvoice(view_id=view["id"], user_id=body["user"]["id"],
                                                       invoice_id=invoice_id, reason=reason.strip()),
                                         key=f"reject:{view['id']}")
    except StoreUnavailable as error:
        logger.warning("rejection not queued: %s", error.message)
        ack(response_action="errors", errors={"reason": STORE_DOWN})  # the form stays as typed
        return
    ack(response_action="update", view=blocks.status_view("Reject invoice", ":hourglass_flowing_sand: Rejecting…"))


def register(app: App) -> None:
    app.view(blocks.APPROVAL_REASON_CALLBACK_ID)(submit_reason)
