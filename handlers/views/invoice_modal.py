"""The modal's submit: validate (pure), queue the Stripe work durably, answer at once."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from slack_bolt import Ack, App

from bot import blocks, money
from bot.forms import field_errors, flatten_state, parse_invoice_form

if TYPE_CHECKING:
    from bot.app import Services

logger = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    @app.view(blocks.MODAL_CALLBACK_ID)
    def submit_invoice(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = flatten_state(view["state"]["values"])
        try:
            form = parse_invoice_form(values, services.store.get_price, services.store.get_customer)
        except ValidationError as error:
            ack(response_action="errors", errors=field_errors(error))
            return
        metadata = json.loads(view.get("private_metadata") or "{}")
        payload = {
            "view_id": view["id"],
            "team_id": (body.get("team") or {}).get("id") or view.get("team_id") or "",
            "user_id": body["user"]["id"],
            "channel_id": metadata.get("channel_id") or "",
            "customer_id": form.customer,
            "customer_name": form.customer_name,
            "customer_email": form.customer_email,
            "currency": form.currency,
            "lines": [line.model_dump() for line in form.parsed_lines],
            "days_until_due": form.due_days,
            "memo": form.memo,
            "send_now": form.delivery == "send",
        }
        # The job is keyed by the view: a double submit queues nothing new.
        services.store.enqueue("create_invoice", f"create:{view['id']}", payload)
        services.worker.wake()
        total = money.format_amount(form.total(), form.currency)
        ack(response_action="update", view=blocks.status_view(
            "New invoice", f":hourglass_flowing_sand: Creating the invoice for {blocks.escape(total)}…\n"
                           "You can close this; the invoice will appear in the channel."))
