"""Credit notes and refunds from the invoice's message, end to end over HTTP against the fakes: the form, Stripe's
preview, the confirmation clicked twice (one credit note), the message ("Credited") and thread, refunds and the
customer's balance on a paid invoice, never more than what was paid or is due (a field error, nothing asked of
Stripe), Stripe refusing the preview (the form back with its reason, nothing made), who may, and credit notes made
in Stripe's Dashboard announced once, in whatever order their events come, however often."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import stripe

from tests.fakes.slack_fake import FakeSlack
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import (
    PAYMENTS_CHANNEL,
    STRIPE_KEY,
    TEAM_ID,
    RunningBot,
    create_invoice,
    on_both_databases,
    wait_for,
)
from tests.test_chasing import invoice_thread, press, settle

CREDIT = "invoice_credit_note"


def open_money_form(bot: RunningBot, fake_slack: FakeSlack, action_id: str, invoice_id: str,
                    user: str = "UREP") -> dict[str, Any]:
    """Press a button on the invoice's message; the form it opened (with its view id)."""
    before = len(fake_slack.calls_to("views.open"))
    stored = bot.invoice(invoice_id)
    press(bot, action_id, invoice_id, user=user, channel=str(stored.channel_id), message_ts=stored.message_ts,
          trigger_id=fake_slack.new_trigger_id(user))
    wait_for(lambda: len(fake_slack.calls_to("views.open")) > before, 10, "views.open")
    call = fake_slack.calls_to("views.open")[-1]
    assert call.ok and call.result is not None, call.error
    return {**call.args["view"], "id": call.result["view"]["id"]}


def submit_view(bot: RunningBot, view: dict[str, Any], values: dict[str, Any], user: str = "UREP") -> dict[str, Any]:
    """The view submitted as Slack sends it: each input's state by its element's type (selects and radio buttons
    keep their initial option unless given another)."""
    state: dict[str, Any] = {}
    for block in view["blocks"]:
        if block.get("type") != "input":
            continue
        block_id, element = block["block_id"], block["element"]
        kind, action_id = element["type"], element["action_id"]
        value = values.get(block_id)
        if kind in ("static_select", "radio_buttons"):
            if value is None and element.get("initial_option"):
                value = element["initial_option"]["value"]
            state[block_id] = {action_id: {"type": kind, "selected_option": {"value": value} if value else None}}
        elif kind == "checkboxes":
            state[block_id] = {action_id: {"type": kind, "selected_options": [{"value": v} for v in value or []]}}
        else:
            state[block_id] = {action_id: {"type": kind, "value": value}}
    response = bot.interactive({
        "type": "view_submission", "team": {"id": TEAM_ID, "domain": "acme"},
        "user": {"id": user, "username": user.lower(), "team_id": TEAM_ID}, "api_app_id": "A123",
        "trigger_id": f"{uuid.uuid4().int % 10**12}.1.x", "view": {**view, "state": {"values": state}},
    })
    assert response.status_code == 200, response.text
    return response.json() if response.content else {}


def view_now(fake_slack: FakeSlack, view_id: str, callback_id: str) -> dict[str, Any]:
    """The view as the job left it, once it is the one named (the preview, the form again)."""
    wait_for(lambda: fake_slack.views[view_id].get("callback_id") == callback_id, 10, callback_id)
    return {**fake_slack.views[view_id], "id": view_id}


def status_text(fake_slack: FakeSlack, view_id: str, words: str) -> str:
    return str(wait_for(lambda: words in json.dumps(fake_slack.views[view_id]) and json.dumps(
        fake_slack.views[view_id]), 10, words))


def message_json(fake_slack: FakeSlack, bot: RunningBot, invoice_id: str) -> str:
    stored = bot.invoice(invoice_id)
    found = fake_slack.message(str(stored.channel_id), str(stored.message_ts))
    assert found is not None
    return json.dumps(found.blocks)


def block_ids(view: dict[str, Any]) -> list[str]:
    return [str(block.get("block_id")) for block in view["blocks"]]


def preview_and_issue(bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe, invoice_id: str,
                      values: dict[str, Any]) -> str:
    """The whole flow: form, preview, confirm. Returns the preview's text."""
    form = open_money_form(bot, fake_slack, CREDIT, invoice_id)
    assert submit_view(bot, form, values)["response_action"] == "update"
    confirmation = view_now(fake_slack, form["id"], "credit_note_confirm")
    assert submit_view(bot, confirmation, {})["response_action"] == "update"
    status_text(fake_slack, form["id"], "Credit note issued")
    settle(bot, fake_stripe)
    return json.dumps(confirmation["blocks"])


def notices(fake_slack: FakeSlack, words: str) -> list[Any]:
    return [m for m in fake_slack.messages(PAYMENTS_CHANNEL) if words in (m.text or "")]


@on_both_databases
def test_a_credit_note_is_previewed_then_issued_once_and_shown(bot: RunningBot, fake_slack: FakeSlack,
                                                               fake_stripe: FakeStripe) -> None:
    invoice_id = create_invoice(bot, fake_slack, fake_stripe, amount="1234.00")["id"]
    settle(bot, fake_stripe)
    assert f'"{CREDIT}"' in message_json(fake_slack, bot, invoice_id)
    form = open_money_form(bot, fake_slack, CREDIT, invoice_id)
    ids = block_ids(form)
    assert {"credit_what", "credit_lines", "credit_amount", "credit_reason", "credit_memo"} <= set(ids)
    assert "credit_method" not in ids and "credit_no_payment" in ids  # nothing paid: it lowers what is owed
    answer = submit_view(bot, form, {"credit_what": "amount", "credit_amount": "100.00",
                                     "credit_reason": "order_change", "credit_memo": "Goodwill <!channel>"})
    assert answer["response_action"] == "update"
    confirmation = view_now(fake_slack, form["id"], "credit_note_confirm")
    shown = json.dumps(confirmation["blocks"])
    assert "$100.00" in shown and "$1,134.00 left to pay" in shown and "Order change" in shown
    assert "&lt;!channel&gt;" in shown and "<!channel>" not in shown
    assert fake_stripe.objects("credit_note") == []  # a preview makes nothing
    previews = [r for r in fake_stripe.requests if r.path == "/v1/credit_notes/preview"]
    assert len(previews) == 1 and previews[0].params["amount"] == 10_000 and previews[0].status == 200

    # A double click on "Issue credit note": one job, one credit note.
    first, second = submit_view(bot, confirmation, {}), submit_view(bot, confirmation, {})
    assert first["response_action"] == second["response_action"] == "update"
    status_text(fake_slack, form["id"], "Credit note issued")
    settle(bot, fake_stripe)
    (note,) = fake_stripe.objects("credit_note")
    assert note["total"] == 10_000 and note["reason"] == "order_change" and note["memo"] == "Goodwill <!channel>"
    assert note["metadata"] == {"created_via": "invoicebot", "slack_user": "UREP", "slack_view": form["id"]}
    creates = [r for r in fake_stripe.requests if r.method == "POST" and r.path == "/v1/credit_notes"]
    assert len(creates) == 1 and str(creates[0].idempotency_key).startswith(f"credit_note:{form['id']}:")
    stored = bot.invoice(invoice_id)
    assert stored.credited == 10_000 and stored.amount_remaining == 113_400 and stored.status == "open"
    message = message_json(fake_slack, bot, invoice_id)
    assert "*Credited*\\n$100.00" in message and "*Remaining*\\n$1,134.00" in message
    lines = [line for line in invoice_thread(fake_slack, invoice_id, bot) if "Credit note" in line]
    assert len(lines) == 1 and "issued by <@UREP>: $100.00 off what is due (reason: order change)" in lines[0]
    wait_for(lambda: notices(fake_slack, "Credit note"), 10, "the payments channel's notice")
    audit = [entry for entry in bot.audit_for(invoice_id) if entry.action == "credit_note"]
    assert len(audit) == 1 and audit[0].actor == "UREP" and audit[0].stripe_ids["credit_note"] == note["id"]
    assert audit[0].detail["amount"] == 10_000 and audit[0].detail["memo"] == "Goodwill <!channel>"

    # Stripe delivers the credit note's event again: a duplicate, nothing new anywhere.
    created = next(event for event in fake_stripe.events if event["type"] == "credit_note.created")
    assert bot.webhook(created).json()["duplicate"] is True
    settle(bot, fake_stripe)
    assert len([line for line in invoice_thread(fake_slack, invoice_id, bot) if "Credit note" in line]) == 1
    assert len(notices(fake_slack, "Credit note")) == 1


def test_a_paid_invoice_refunds_or_credits_the_balance_never_more_than_was_paid(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    invoice = create_invoice(bot, fake_slack, fake_stripe, amount="100.00")
    fake_stripe.pay_invoice(invoice["id"])  # through Stripe: a charge to refund
    settle(bot, fake_stripe)
    form = open_money_form(bot, fake_slack, CREDIT, invoice["id"])
    assert "credit_method" in block_ids(form)
    answer = submit_view(bot, form, {"credit_what": "amount", "credit_amount": "100.01", "credit_reason": "duplicate",
                                     "credit_method": "refund"})
    assert answer["response_action"] == "errors" and "at most $100.00" in answer["errors"]["credit_amount"]
    assert not [r for r in fake_stripe.requests if r.path.startswith("/v1/credit_notes")]

    shown = preview_and_issue(bot, fake_slack, fake_stripe, invoice["id"], {
        "credit_what": "amount", "credit_amount": "30", "credit_reason": "product_unsatisfactory",
        "credit_method": "credit"})
    assert "Adds $30.00 to the customer's credit balance" in shown
    (balance_note,) = fake_stripe.objects("credit_note")
    assert balance_note["type"] == "post_payment" and balance_note["customer_balance_transaction"]
    assert fake_stripe.get(invoice["customer"])["balance"] == -3_000
    assert bot.invoice(invoice["id"]).creditable == 7_000

    shown = preview_and_issue(bot, fake_slack, fake_stripe, invoice["id"], {
        "credit_what": "whole", "credit_reason": "duplicate", "credit_method": "refund"})
    assert "Refunds $70.00 to the original payment" in shown
    refund_note = fake_stripe.objects("credit_note")[-1]
    assert refund_note["refunds"][0]["amount_refunded"] == 7_000 and refund_note["total"] == 7_000
    stored = bot.invoice(invoice["id"])
    assert stored.credited == 10_000 and stored.creditable == 0 and stored.status == "paid"
    message = message_json(fake_slack, bot, invoice["id"])
    assert "*Credited*\\n$100.00" in message and f'"{CREDIT}"' not in message  # nothing left: no button
    thread = invoice_thread(fake_slack, invoice["id"], bot)
    assert any("$30.00 to the customer's credit balance" in line for line in thread)
    assert any("$70.00 refunded" in line for line in thread)

    # A button from before (an older copy of the message): told, no form.
    opened = len(fake_slack.calls_to("views.open"))
    stored = bot.invoice(invoice["id"])
    press(bot, CREDIT, invoice["id"], channel=str(stored.channel_id), message_ts=stored.message_ts)
    wait_for(lambda: [e for e in fake_slack.ephemerals if "Nothing is left to credit" in (e.text or "")], 10,
             "the refusal")
    assert len(fake_slack.calls_to("views.open")) == opened


def test_bad_input_is_answered_on_its_field_and_nothing_reaches_stripe(bot: RunningBot, fake_slack: FakeSlack,
                                                                       fake_stripe: FakeStripe) -> None:
    invoice_id = create_invoice(bot, fake_slack, fake_stripe, amount="50.00")["id"]
    settle(bot, fake_stripe)
    form = open_money_form(bot, fake_slack, CREDIT, invoice_id)
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"credit_what": "amount", "credit_reason": "duplicate"}, "credit_amount", "Type the amount"),
        ({"credit_what": "amount", "credit_amount": "ten", "credit_reason": "duplicate"}, "credit_amount", ""),
        ({"credit_what": "amount", "credit_amount": "50.01", "credit_reason": "duplicate"}, "credit_amount",
         "at most $50.00 ($50.00 still due)"),
        ({"credit_what": "amount", "credit_amount": "-5", "credit_reason": "duplicate"}, "credit_amount", ""),
        ({"credit_what": "lines", "credit_reason": "duplicate"}, "credit_lines", "Tick the lines"),
        ({"credit_what": "lines", "credit_lines": ["7"], "credit_reason": "duplicate"}, "credit_lines", "no such line"),
        ({"credit_what": "whole"}, "credit_reason", ""),
        ({"credit_what": "whole", "credit_reason": "duplicate", "credit_memo": "bad\u202eline"}, "credit_memo",
         "invisible character"),
    ]
    for values, field, words in cases:
        answer = submit_view(bot, form, values)
        assert answer.get("response_action") == "errors", (values, answer)
        assert field in answer["errors"] and words in answer["errors"][field], (values, answer)
    bot.wait_idle()
    assert not [r for r in fake_stripe.requests if r.path.startswith("/v1/credit_notes")]
    assert fake_stripe.objects("credit_note") == []


def test_stripe_refusing_the_preview_puts_the_form_back_and_nothing_is_made(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    invoice_id = create_invoice(bot, fake_slack, fake_stripe, amount="80.00")["id"]
    fake_stripe.pay_invoice(invoice_id, out_of_band=True)  # paid outside Stripe: no charge to refund
    settle(bot, fake_stripe)
    form = open_money_form(bot, fake_slack, CREDIT, invoice_id)
    submit_view(bot, form, {"credit_what": "whole", "credit_reason": "fraudulent", "credit_method": "refund"})
    wait_for(lambda: "credit_error" in block_ids(view_now(fake_slack, form["id"], "credit_note")), 10, "the error")
    again = view_now(fake_slack, form["id"], "credit_note")
    text = json.dumps(again["blocks"])
    assert "Stripe refused this credit note" in text and "no charge to refund" in text and "nothing was issued" in text
    reason = next(block for block in again["blocks"] if block.get("block_id") == "credit_reason")
    assert reason["element"]["initial_option"]["value"] == "fraudulent"  # as it was chosen
    assert fake_stripe.objects("credit_note") == []

    # Changed and previewed again (another request): out of band this time.
    submit_view(bot, again, {"credit_what": "whole", "credit_reason": "fraudulent", "credit_method": "out_of_band"})
    confirmation = view_now(fake_slack, form["id"], "credit_note_confirm")
    assert "as paid back outside Stripe" in json.dumps(confirmation["blocks"])
    submit_view(bot, confirmation, {})
    status_text(fake_slack, form["id"], "Credit note issued")
    settle(bot, fake_stripe)
    (note,) = fake_stripe.objects("credit_note")
    assert note["out_of_band_amount"] == 8_000 and note["refunds"] == []


def test_chosen_lines_are_credited_by_stripes_line_ids(bot: RunningBot, fake_slack: FakeSlack,
                                                       fake_stripe: FakeStripe) -> None:
    invoice = create_invoice(bot, fake_slack, fake_stripe, amount="40.00")
    settle(bot, fake_stripe)
    line_id = invoice["lines"]["data"][0]["id"]
    preview_and_issue(bot, fake_slack, fake_stripe, invoice["id"], {
        "credit_what": "lines", "credit_lines": ["0"], "credit_reason": "order_change"})
    (note,) = fake_stripe.objects("credit_note")
    assert [line["invoice_line_item"] for line in note["lines"]["data"]] == [line_id]
    create = next(r for r in fake_stripe.requests if r.method == "POST" and r.path == "/v1/credit_notes")
    assert create.params["lines"] == [{"type": "invoice_line_item", "invoice_line_item": line_id, "amount": 4_000}]
    # Credited down to nothing due: paid, but not announced as a payment.
    stored = bot.invoice(invoice["id"])
    assert stored.status == "paid" and stored.amount_paid == 0 and stored.credited == 4_000
    assert any("Settled by credit notes" in line for line in invoice_thread(fake_slack, invoice["id"], bot))
    assert not notices(fake_slack, "Paid")


def test_only_the_rep_and_admins_may_issue_one(bot: RunningBot, fake_slack: FakeSlack,
                                               fake_stripe: FakeStripe) -> None:
    fake_slack.add_user("UOTHER")
    fake_slack.add_user("UADMIN", is_admin=True)
    invoice_id = create_invoice(bot, fake_slack, fake_stripe)["id"]
    settle(bot, fake_stripe)
    opened = len(fake_slack.calls_to("views.open"))
    stored = bot.invoice(invoice_id)
    press(bot, CREDIT, invoice_id, user="UOTHER", channel=str(stored.channel_id), message_ts=stored.message_ts)
    wait_for(lambda: [e for e in fake_slack.ephemerals if e.user == "UOTHER"
                      and "issue a credit note for" in (e.text or "")], 10, "the refusal")
    assert len(fake_slack.calls_to("views.open")) == opened
    form = open_money_form(bot, fake_slack, CREDIT, invoice_id, user="UADMIN")
    # A form submitted by someone who may not (forged): the job asks again, nothing is previewed.
    submit_view(bot, form, {"credit_what": "whole", "credit_reason": "duplicate"}, user="UOTHER")
    status_text(fake_slack, form["id"], "Not allowed")
    assert not [r for r in fake_stripe.requests if r.path.startswith("/v1/credit_notes")]


def test_credit_notes_made_in_stripe_are_announced_once_whatever_the_order(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    invoice_id = create_invoice(bot, fake_slack, fake_stripe, amount="200.00")["id"]
    settle(bot, fake_stripe)
    client = stripe.StripeClient(STRIPE_KEY, base_addresses={"api": fake_stripe.url}, max_network_retries=0)
    seen = len(fake_stripe.events)
    fake_stripe.webhooks.pause()
    try:  # as in the Dashboard: issued, then voided a moment later; the events come back to front
        note = client.v1.credit_notes.create(params={"invoice": invoice_id, "amount": 5_000, "reason": "duplicate"})
        time.sleep(1.1)
        client.v1.credit_notes.void_credit_note(note.id)
        new = fake_stripe.events[seen:]
        assert [event["type"] for event in new] == ["invoice.updated", "credit_note.created", "invoice.updated",
                                                     "credit_note.voided"]
        for event in reversed(new):
            assert bot.webhook(event).status_code == 200
        bot.wait_idle()
    finally:
        fake_stripe.webhooks.resume()
    settle(bot, fake_stripe)  # and the fake delivers them all again: duplicates
    thread = [line for line in invoice_thread(fake_slack, invoice_id, bot) if "Credit note" in line]
    assert len(thread) == 1 and "voided" in thread[0] and "$50.00" in thread[0]
    wait_for(lambda: notices(fake_slack, "Credit note voided"), 10, "the void's notice")
    assert len(notices(fake_slack, "Credit note")) == 1  # the issue is old news once its void is known
    assert bot.invoice(invoice_id).credited == 0
    assert "*Credited*" not in message_json(fake_slack, bot, invoice_id)

    # Another one, left standing: its line says what it did, the message shows it, the channel hears it.
    client.v1.credit_notes.create(params={"invoice": invoice_id, "amount": 2_000, "reason": "order_change"})
    settle(bot, fake_stripe)
    thread = [line for line in invoice_thread(fake_slack, invoice_id, bot) if "Credit note" in line]
    assert len(thread) == 2 and "-CN-02 for $20.00: $20.00 off what is due (reason: order change)" in thread[1]
    assert "issued by" not in thread[1]
    assert bot.invoice(invoice_id).credited == 2_000
    assert "*Credited*\\n$20.00" in message_json(fake_slack, bot, invoice_id)
    wait_for(lambda: len(notices(fake_slack, "Credit note")) == 2, 10, "the second notice")
