"""The modal's submit: validate (pure), queue the Stripe work durably, answer at once."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from slack_bolt import Ack, App, BoltContext

from bot import blocks, money
from bot.domain.recurring import REPEATS
from bot.errors import StoreUnavailable
from bot.forms import FormErrors, field_errors, flatten_state, parse_extras, parse_invoice_form, parse_repeat
from bot.jobs.payloads import CreateInvoice, CreateSubscription, SubmittedLine
from bot.mrkdwn import escape
from handlers.context import services_of
from handlers.errors import STORE_DOWN

logger = logging.getLogger(__name__)


def submit_invoice(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
    try:
        _submit(ack, body, view, context)
    except StoreUnavailable as error:
        # The form stays open with what was typed; the note sits on its first field.
        logger.warning("invoice form not queued: %s", error.message)
        inputs = [block["block_id"] for block in view.get("blocks", []) if block.get("type") == "input"]
        ack(response_action="errors", errors={inputs[0] if inputs else "customer": STORE_DOWN})



def _submit(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext) -> None:
    services = services_of(context)
    values = flatten_state(view["state"]["values"])
    reads = services.reads
    try:
        form = parse_invoice_form(values, reads.prices.get, reads.customers.get)
        repeat = parse_repeat(values, form, reads.prices.get)  # recurring invoices (bot/services/recurring.py)
        # Tax, discount, custom fields, footer (bot/domain/invoice_extras.py), against the store's copies.
        extras = parse_extras(values, form, reads.tax_rates.get, reads.discount_codes.find)
        if repeat in REPEATS and extras.given():  # a subscription's invoices are made without them
            raise FormErrors({block_id: "Only for an invoice that doesn't repeat: leave this empty, or choose no repeat"
                              for block_id in extras.given()})
    except ValidationError as error:
        ack(response_action="errors", errors=field_errors(error))
        return
    except FormErrors as error:
        ack(response_action="errors", errors=error.errors)
        return
    metadata = blocks.ModalState.read_metadata(view.get("private_metadata"))
    submission = CreateInvoice(
        view_id=view["id"],
        team_id=(body.get("team") or {}).get("id") or view.get("team_id") or "",
        user_id=body["user"]["id"],
        channel_id=metadata.channel_id,
        customer_id=form.customer,
        customer_name=form.customer_name,
        customer_email=form.customer_email,
        currency=form.currency,
        lines=[SubmittedLine(**line.model_dump()) for line in form.parsed_lines],
        days_until_due=form.due_days,
        memo=form.memo,
        send_now=form.delivery == "send",
        thread_ts=metadata.thread_ts,  # "Invoice this": in the thread of the message it came from
        **extras.payload(),
    )
    if repeat in REPEATS:  # a subscription instead, under the same key: still one per form
        submission = CreateSubscription.model_validate({**submission.model_dump(), "repeat": repeat})
    # Keyed by the view: a double submit queues nothing new.
    services.jobs.submit(submission, key=f"create:{view['id']}")
    total = money.format_amount(form.total(), form.currency)
    ack(response_action="update", view=blocks.status_view(
        "New invoice", f":hourglass_flowing_sand: Creating the invoice for {escape(total)}…\n"
                       "You can close this; the invoice will appear in the channel."))


def register(app: App) -> None:
    app.view(blocks.MODAL_CALLBACK_ID)(submit_invoice)
