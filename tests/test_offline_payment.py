"""Mark paid outside Stripe, end to end over HTTP against the fakes: the button's confirmation, the note (required,
on its field), Stripe's `pay` with `paid_out_of_band` once whatever the clicks, the audit log, the thread, one
announcement whichever of the job and Stripe's `invoice.paid` comes first, and who may."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.slack_fake import FakeSlack
from tests.fakes.stripe_fake import FakeStripe
from tests.fakes.stripe_fake.api import RecordedRequest
from tests.harness import PAYMENTS_CHANNEL, RunningBot, create_invoice, on_both_databases, wait_for
from tests.test_chasing import invoice_thread, press, settle
from tests.test_credit_notes import message_json, open_money_form, status_text, submit_view

PAY_OUTSIDE = "invoice_pay_outside"


def pay_requests(fake_stripe: FakeStripe, invoice_id: str) -> list[RecordedRequest]:
    return [r for r in fake_stripe.requests if r.method == "POST" and r.path == f"/v1/invoices/{invoice_id}/pay"]


def paid_notices(fake_slack: FakeSlack) -> list[Any]:
    return [m for m in fake_slack.messages(PAYMENTS_CHANNEL) if (m.text or "").startswith(":white_check_mark: Paid")]


@on_both_databases
def test_marked_paid_outside_stripe_with_a_note_once_audited_and_announced_once(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    invoice_id = create_invoice(bot, fake_slack, fake_stripe, amount="250.00")["id"]
    settle(bot, fake_stripe)
    message = json.loads(message_json(fake_slack, bot, invoice_id))
    button = next(element for block in message if block.get("type") == "actions" for element in block["elements"]
                  if element.get("action_id") == PAY_OUTSIDE)
    assert button["confirm"]["confirm"]["text"] == "Continue"  # Slack's confirmation dialog first

    form = open_money_form(bot, fake_slack, PAY_OUTSIDE, invoice_id)
    assert [b.get("block_id") for b in form["blocks"] if b.get("type") == "input"] == ["payment_method",
                                                                                      "payment_note"]
    answer = submit_view(bot, form, {"payment_method": "cheque"})
    assert answer["response_action"] == "errors" and "payment_note" in answer["errors"]
    answer = submit_view(bot, form, {"payment_note": "Cheque #1042 <!channel>"})
    assert answer["response_action"] == "errors" and "payment_method" in answer["errors"]
    assert pay_requests(fake_stripe, invoice_id) == []

    values = {"payment_method": "cheque", "payment_note": "Cheque #1042 <!channel>"}
    first, second = submit_view(bot, form, values), submit_view(bot, form, values)  # a double click
    assert first["response_action"] == second["response_action"] == "update"
    status_text(fake_slack, form["id"], "marked paid outside Stripe")
    settle(bot, fake_stripe)
    (paid,) = pay_requests(fake_stripe, invoice_id)
    assert paid.params == {"paid_out_of_band": True} and paid.idempotency_key == f"pay_outside:{form['id']}"
    assert fake_stripe.get(invoice_id)["status"] == "paid"
    stored = bot.invoice(invoice_id)
    assert stored.status == "paid" and stored.amount_paid == 25_000
    (entry,) = [e for e in bot.audit_for(invoice_id) if e.action == "paid_outside"]
    assert entry.actor == "UREP" and entry.detail["method"] == "cheque"
    assert entry.detail["note"] == "Cheque #1042 <!channel>"
    thread = invoice_thread(fake_slack, invoice_id, bot)
    line = next(text for text in thread if "Marked paid outside Stripe" in text)
    assert "by <@UREP> (cheque): “Cheque #1042 &lt;!channel&gt;”" in line and "<!channel>" not in line
    message = message_json(fake_slack, bot, invoice_id)
    assert "Paid" in message and f'"{PAY_OUTSIDE}"' not in message and '"invoice_void"' not in message
    wait_for(lambda: paid_notices(fake_slack), 10, "the payment's notice")

    # Stripe's invoice.paid again (a redelivery): nothing new.
    event = next(e for e in fake_stripe.events
                 if e["type"] == "invoice.paid" and e["data"]["object"]["id"] == invoice_id)
    assert bot.webhook(event).json()["duplicate"] is True
    settle(bot, fake_stripe)
    assert len(paid_notices(fake_slack)) == 1
    assert len([text for text in invoice_thread(fake_slack, invoice_id, bot) if "outside Stripe" in text]) == 1


def test_only_the_rep_or_an_admin_and_only_an_open_invoice(bot: RunningBot, fake_slack: FakeSlack,
                                                           fake_stripe: FakeStripe) -> None:
    fake_slack.add_user("UOTHER")
    fake_slack.add_user("UADMIN", is_admin=True)
    invoice_id = create_invoice(bot, fake_slack, fake_stripe)["id"]
    settle(bot, fake_stripe)
    stored = bot.invoice(invoice_id)
    opened = len(fake_slack.calls_to("views.open"))
    press(bot, PAY_OUTSIDE, invoice_id, user="UOTHER", channel=str(stored.channel_id), message_ts=stored.message_ts)
    wait_for(lambda: [e for e in fake_slack.ephemerals if e.user == "UOTHER"
                      and "mark as paid outside Stripe" in (e.text or "")], 10, "the refusal")
    assert len(fake_slack.calls_to("views.open")) == opened

    form = open_money_form(bot, fake_slack, PAY_OUTSIDE, invoice_id, user="UADMIN")  # an admin may
    fake_stripe.pay_invoice(invoice_id)  # meanwhile the customer paid by card
    settle(bot, fake_stripe)
    submit_view(bot, form, {"payment_method": "bank_transfer", "payment_note": "Wire ref 77"}, user="UADMIN")
    status_text(fake_slack, form["id"], "Not marked paid")
    assert "paid already" in json.dumps(fake_slack.views[form["id"]])
    assert pay_requests(fake_stripe, invoice_id) == []
    assert not [e for e in bot.audit_for(invoice_id) if e.action == "paid_outside"]
    assert len(paid_notices(fake_slack)) == 1  # the card payment's, once

    press(bot, PAY_OUTSIDE, invoice_id, channel=str(stored.channel_id), message_ts=stored.message_ts)
    wait_for(lambda: [e for e in fake_slack.ephemerals if "only an open invoice can be marked paid" in (e.text or "")],
             10, "the refusal")


def test_stripe_refusing_is_told_and_nothing_changes(bot: RunningBot, fake_slack: FakeSlack,
                                                     fake_stripe: FakeStripe) -> None:
    invoice_id = create_invoice(bot, fake_slack, fake_stripe)["id"]
    settle(bot, fake_stripe)
    form = open_money_form(bot, fake_slack, PAY_OUTSIDE, invoice_id)
    fake_stripe.inject(method="POST", path_prefix=f"/v1/invoices/{invoice_id}/pay", status=400, count=1)
    try:
        submit_view(bot, form, {"payment_method": "cash", "payment_note": "Paid at the counter"})
        status_text(fake_slack, form["id"], "Not marked paid")
    finally:
        fake_stripe.clear_faults()
    settle(bot, fake_stripe)
    assert fake_stripe.get(invoice_id)["status"] == "open" and bot.invoice(invoice_id).status == "open"
    assert not [e for e in bot.audit_for(invoice_id) if e.action == "paid_outside"]
    assert not [text for text in invoice_thread(fake_slack, invoice_id, bot) if "outside Stripe" in text]
