"""The credit note form, its confirmation, and "Mark paid outside Stripe"'s note, submitted.

Each is validated here, before the ack (pure, over the stored invoice: `bot/credit_forms.py`), every mistake on
its field and nothing queued; otherwise the job is queued, keyed by the form's view (and, for a credit note, by
what it asks), so a double submit queues nothing new, and the form says what is under way. The jobs ask
`bot.access` again and do the Stripe work (bot/services/credit_notes.py)."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from pydantic import ValidationError
from slack_bolt import Ack, App, BoltContext

from bot import blocks
from bot.credit_forms import (
    CREDIT_CALLBACK_ID,
    CREDIT_CONFIRM_CALLBACK_ID,
    PAY_OUTSIDE_CALLBACK_ID,
    MoneyFormMetadata,
    parse_credit_note,
    parse_offline_payment,
    read_confirmation,
    request_key,
)
from bot.errors import StoreUnavailable
from bot.forms import field_errors
from bot.jobs.payloads import IssueCreditNote, PreviewCreditNote, RecordOfflinePayment
from handlers.context import services_of
from handlers.errors import STORE_DOWN

logger = logging.getLogger(__name__)

OUT_OF_DATE = "This form is out of date: press the button on the invoice's message again."


def _on_fields(errors: dict[str, str], view: dict[str, Any], fallback: str) -> dict[str, str]:
    """Errors on input blocks the view has (Slack refuses others); any other goes on `fallback`."""
    inputs = {block.get("block_id") for block in view.get("blocks") or [] if isinstance(block, dict)
              and block.get("type") == "input"}
    placed: dict[str, str] = {}
    for block_id, message in errors.items():
        target = block_id if block_id in inputs else fallback
        placed[target] = f"{placed[target]} {message}" if target in placed else message
    return placed


def submit_credit_note(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
    metadata = MoneyFormMetadata.read(view.get("private_metadata"))
    if metadata is None:
        ack(response_action="errors", errors={"credit_what": OUT_OF_DATE})
        return
    services = services_of(context)
    try:
        invoice = services.reads.invoices.get(metadata.invoice_id)
        request = parse_credit_note(view["state"]["values"], invoice)
    except ValidationError as error:
        ack(response_action="errors", errors=_on_fields(field_errors(error), view, "credit_what"))
        return
    except StoreUnavailable as error:
        logger.warning("credit note form not checked: %s", error.message)
        ack(response_action="errors", errors={"credit_what": STORE_DOWN})
        return
    job = PreviewCreditNote(view_id=str(view["id"]), user_id=str(body["user"]["id"]), invoice_id=metadata.invoice_id,
                            channel_id=metadata.channel_id or None, request=request)
    asked = hashlib.sha256(request.model_dump_json().encode()).hexdigest()[:16]
    try:
        services.jobs.submit(job, key=f"credit_preview:{view['id']}:{asked}")
    except StoreUnavailable as error:
        logger.warning("credit note preview not queued: %s", error.message)
        ack(response_action="errors", errors={"credit_what": STORE_DOWN})  # the form stays as typed
        return
    ack(response_action="update", view=blocks.status_view(
        "Issue credit note", ":hourglass_flowing_sand: Asking Stripe for a preview of the credit note…"))


def confirm_credit_note(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
    confirmation = read_confirmation(view.get("private_metadata"))
    if confirmation is None:
        ack(response_action="update", view=blocks.status_view("Not issued", f":x: {OUT_OF_DATE}"))
        return
    job = IssueCreditNote(view_id=str(view["id"]), user_id=str(body["user"]["id"]),
                          invoice_id=confirmation.metadata.invoice_id,
                          channel_id=confirmation.metadata.channel_id or None, request=confirmation.request,
                          params=confirmation.params)
    try:
        # A double click is one job (and one Stripe idempotency key): the view and what it previewed.
        services_of(context).jobs.submit(job, key=f"credit_issue:{request_key(job.view_id, job.params)}")
    except StoreUnavailable as error:
        logger.warning("credit note not queued: %s", error.message)
        ack(response_action="update", view=blocks.status_view(
            "Not issued", f"{STORE_DOWN} Nothing was issued: press Issue credit note on the invoice again."))
        return
    ack(response_action="update", view=blocks.status_view(
        "Issue credit note", ":hourglass_flowing_sand: Issuing the credit note in Stripe…"))


def submit_pay_outside(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
    metadata = MoneyFormMetadata.read(view.get("private_metadata"))
    if metadata is None:
        ack(response_action="errors", errors={"payment_note": OUT_OF_DATE})
        return
    try:
        form = parse_offline_payment(view["state"]["values"])
    except ValidationError as error:
        ack(response_action="errors", errors=_on_fields(field_errors(error), view, "payment_note"))
        return
    job = RecordOfflinePayment(view_id=str(view["id"]), user_id=str(body["user"]["id"]),
                               invoice_id=metadata.invoice_id, channel_id=metadata.channel_id or None,
                               method=form.payment_method, note=form.payment_note)
    try:
        services_of(context).jobs.submit(job, key=f"pay_outside:{view['id']}")
    except StoreUnavailable as error:
        logger.warning("payment outside Stripe not queued: %s", error.message)
        ack(response_action="errors", errors={"payment_note": STORE_DOWN})  # the form stays as typed
        return
    ack(response_action="update", view=blocks.status_view(
        "Mark paid outside Stripe", ":hourglass_flowing_sand: Recording the payment in Stripe…"))


def register(app: App) -> None:
    app.view(CREDIT_CALLBACK_ID)(submit_credit_note)
    app.view(CREDIT_CONFIRM_CALLBACK_ID)(confirm_credit_note)
    app.view(PAY_OUTSIDE_CALLBACK_ID)(submit_pay_outside)
