"""The chasing forms submitted (Promise to pay, Disputed, Chasing…): validated here (pure, `bot/chase_forms.py`),
every mistake on its field and nothing queued; otherwise the change is queued (`ChangeChasing`, keyed by the
view: a double submit queues nothing new) and the form says it is being saved. The job asks `bot.access`
again, writes Stripe's metadata and the store, and says in the form what was done."""

from __future__ import annotations

import logging
import time
from typing import Any

from pydantic import ValidationError
from slack_bolt import Ack, App, BoltContext

from bot import blocks
from bot.chase_forms import ChasingFormMetadata, parse_cadence_form, parse_dispute, parse_promise
from bot.domain.chasing import cadence_text
from bot.errors import StoreUnavailable
from bot.forms import field_errors
from bot.jobs.payloads import ChangeChasing
from handlers.context import services_of
from handlers.errors import STORE_DOWN

logger = logging.getLogger(__name__)

OUT_OF_DATE = "This form is out of date: press the button on the invoice again."


def _queue(ack: Ack, context: BoltContext, change: ChangeChasing, *, field: str, title: str, saving: str) -> None:
    try:
        services_of(context).jobs.submit(change, key=f"chasing:{change.request}")
    except StoreUnavailable as error:
        logger.warning("chasing form not queued: %s", error.message)
        ack(response_action="errors", errors={field: STORE_DOWN})  # the form stays as typed
        return
    ack(response_action="update", view=blocks.status_view(title, f":hourglass_flowing_sand: {saving}"))


def _change(body: dict[str, Any], view: dict[str, Any], metadata: ChasingFormMetadata, **fields: Any) -> ChangeChasing:
    return ChangeChasing(invoice_id=metadata.invoice_id, user_id=str(body["user"]["id"]), request=str(view["id"]),
                         view_id=str(view["id"]), channel_id=metadata.channel_id or None, **fields)


def submit_promise(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
    metadata = ChasingFormMetadata.read(view.get("private_metadata"))
    if metadata is None:
        ack(response_action="errors", errors={"promised_until": OUT_OF_DATE})
        return
    try:
        form = parse_promise(view["state"]["values"], metadata.today(time.time()))
    except ValidationError as error:
        ack(response_action="errors", errors=field_errors(error))
        return
    _queue(ack, context, _change(body, view, metadata, change="promise",
                                 promised_until=form.promised_until.isoformat(), note=form.promise_note),
           field="promised_until", title="Promise to pay", saving="Recording the promise…")


def submit_dispute(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
    metadata = ChasingFormMetadata.read(view.get("private_metadata"))
    if metadata is None:
        ack(response_action="errors", errors={"dispute_reason": OUT_OF_DATE})
        return
    try:
        form = parse_dispute(view["state"]["values"])
    except ValidationError as error:
        ack(response_action="errors", errors=field_errors(error))
        return
    _queue(ack, context, _change(body, view, metadata, change="dispute", reason=form.dispute_reason),
           field="dispute_reason", title="Disputed", saving="Marking the invoice disputed…")


def submit_cadence(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
    metadata = ChasingFormMetadata.read(view.get("private_metadata"))
    if metadata is None:
        ack(response_action="errors", errors={"chase_days": OUT_OF_DATE})
        return
    try:
        form = parse_cadence_form(view["state"]["values"])
    except ValidationError as error:
        ack(response_action="errors", errors=field_errors(error))
        return
    days = form.days
    _queue(ack, context, _change(body, view, metadata, change="cadence",
                                 days=cadence_text(days) if days is not None else ""),
           field="chase_days", title="Chasing", saving="Saving this invoice's chasing…")


def register(app: App) -> None:
    app.view(blocks.PROMISE_CALLBACK_ID)(submit_promise)
    app.view(blocks.DISPUTE_CALLBACK_ID)(submit_dispute)
    app.view(blocks.CADENCE_CALLBACK_ID)(submit_cadence)
