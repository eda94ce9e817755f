""""Invoice this" end to end over HTTP: the message shortcut, signed as Slack signs it; the form it opens,
filled in from the message; the invoice it makes, posted in that message's thread. Double clicks, a resent
request and a double submit make one invoice."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.fakes.slack_fake import FakeSlack, Message, message_action
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import RunningBot, create_invoice, on_both_databases, wait_for


def block(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    return next(b for b in view["blocks"] if b.get("block_id") == block_id)


def initial(view: dict[str, Any], block_id: str) -> Any:
    element = block(view, block_id)["element"]
    if "initial_option" in element:
        return element["initial_option"]["value"]
    return element.get("initial_value")


def shortcut(bot: RunningBot, fake_slack: FakeSlack, message: Message, *, user: str = "UREP",
             payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """Pick "Invoice this" on `message`; the form the bot opened (with its view id)."""
    before = len(fake_slack.calls_to("views.open"))
    payload = payload or message_action(fake_slack, "invoice_this", message, user=user)
    started = time.monotonic()
    response = bot.interactive(payload)
    assert response.status_code == 200 and time.monotonic() - started < 1.0, response.text
    wait_for(lambda: len(fake_slack.calls_to("views.open")) > before, 5, "views.open")
    call = fake_slack.calls_to("views.open")[-1]
    assert call.ok and call.result is not None, call.error  # within the trigger's 3 s
    return {**call.args["view"], "id": call.result["view"]["id"]}


def invoice_in_thread(fake_slack: FakeSlack, channel: str, ts: str) -> list[Message]:
    return [reply for reply in fake_slack.thread(channel, ts)
            if reply.user == fake_slack.bot_user_id and "invoice_actions" in json.dumps(reply.blocks)]


@on_both_databases
def test_the_form_is_filled_in_from_the_message_and_the_invoice_goes_in_its_thread(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    message = fake_slack.add_message("CSALES", "Can you invoice <mailto:jenny@example.com|jenny@example.com> "
                                               "$1,250 for the March retainer?", user="UBOSS")
    view = shortcut(bot, fake_slack, message)
    assert json.loads(view["private_metadata"]) == {"channel_id": "CSALES", "lines": 1, "thread_ts": message.ts}
    assert initial(view, "customer_email") == "jenny@example.com" and initial(view, "currency") == "usd"
    assert initial(view, "line_1_unit_amount") == "1250.00" and initial(view, "line_1_quantity") == "1"
    assert initial(view, "line_1_description") == "March retainer"
    notes = json.dumps(block(view, "prefill_notes"))
    assert "read as US dollars" in notes and "not a customer yet" in notes

    values = {"customer_name": "Jenny Rosen"}
    assert bot.submit(view, values).json()["response_action"] == "update"
    assert bot.submit(view, values).status_code == 200  # a double submit
    bot.wait_idle()
    (invoice,) = fake_stripe.objects("invoice")
    assert invoice["total"] == 125000 and invoice["currency"] == "usd" and invoice["status"] == "open"
    assert fake_stripe.objects("customer")[0]["email"] == "jenny@example.com"
    (posted,) = invoice_in_thread(fake_slack, "CSALES", message.ts)
    assert [m.ts for m in fake_slack.messages("CSALES")] == [message.ts]  # nothing new at the top level
    stored = bot.invoice(invoice["id"])
    assert stored.channel_id == "CSALES" and stored.message_ts == posted.ts

    # Stripe's news updates that message in place, and its notes stay in the same thread.
    fake_stripe.pay_invoice(invoice["id"])
    fake_stripe.flush_webhooks()
    bot.wait_idle()
    wait_for(lambda: "Paid" in json.dumps(getattr(fake_slack.message("CSALES", posted.ts), "blocks", None)), 5,
             "paid")
    assert [m.ts for m in fake_slack.messages("CSALES")] == [message.ts]
    assert len(fake_slack.thread("CSALES", message.ts)) >= 1


def test_a_known_customer_by_name_and_euros_with_a_decimal_comma(bot: RunningBot, fake_slack: FakeSlack,
                                                                 fake_stripe: FakeStripe) -> None:
    create_invoice(bot, fake_slack, fake_stripe, name="Acme Corp", email="ap@acme.test", currency="eur",
                   amount="5.00")
    customer_id = fake_stripe.objects("customer")[0]["id"]
    message = fake_slack.add_message("CSALES", "Acme Corp: EUR 99,90 for support, 2x €400 laptops", user="UBOSS")
    view = shortcut(bot, fake_slack, message)
    assert initial(view, "customer") == customer_id
    assert "Acme Corp" in block(view, "customer")["element"]["initial_option"]["text"]["text"]
    assert initial(view, "currency") == "eur"
    assert [initial(view, f"line_{n}_unit_amount") for n in (1, 2)] == ["99.90", "400.00"]
    assert [initial(view, f"line_{n}_quantity") for n in (1, 2)] == ["1", "2"]
    assert [initial(view, f"line_{n}_description") for n in (1, 2)] == ["support", "laptops"]
    bot.submit(view, {})
    bot.wait_idle()
    created = [i for i in fake_stripe.objects("invoice") if i["total"] == 9990 + 80000]
    assert len(created) == 1 and created[0]["customer"] == customer_id
    assert len(invoice_in_thread(fake_slack, "CSALES", message.ts)) == 1


def test_yen_leaves_the_currency_to_the_rep_and_a_reply_joins_its_thread(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    parent = fake_slack.add_message("CSALES", "Samples for Tokyo", user="UBOSS")
    reply = fake_slack.add_message("CSALES", "¥1000 for the samples, bill taro@example.jp", user="UBOSS",
                                   thread_ts=parent.ts)
    view = shortcut(bot, fake_slack, reply)
    assert json.loads(view["private_metadata"])["thread_ts"] == parent.ts
    currency = block(view, "currency")["element"]
    assert "initial_option" not in currency and currency["placeholder"]["text"] == "Pick the currency"
    assert initial(view, "line_1_unit_amount") == "1000"
    assert "could be CNY or JPY" in json.dumps(block(view, "prefill_notes"))

    # "Add line" keeps the thread, and the currency still unpicked.
    bot.block_action("add_line", "2", view=view, values={"customer_name": "Taro"})
    wait_for(lambda: fake_slack.calls_to("views.update"), 5, "views.update")
    updated = {**fake_slack.views[view["id"]], "id": view["id"]}
    assert json.loads(updated["private_metadata"])["thread_ts"] == parent.ts
    assert "initial_option" not in block(updated, "currency")["element"]

    refused = bot.submit(updated, {"customer_name": "Taro"}).json()
    assert refused["response_action"] == "errors" and "currency" in refused["errors"]
    assert bot.submit(updated, {"customer_name": "Taro", "currency": "jpy"}).json()["response_action"] == "update"
    bot.wait_idle()
    (invoice,) = fake_stripe.objects("invoice")
    assert invoice["currency"] == "jpy" and invoice["total"] == 1000
    assert len(invoice_in_thread(fake_slack, "CSALES", parent.ts)) == 1


def test_a_resent_request_opens_one_form_and_a_double_click_still_makes_one_invoice(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    message = fake_slack.add_message("CSALES", "bill ap@acme.test USD 20 for the audit", user="UBOSS")
    payload = message_action(fake_slack, "invoice_this", message, user="UREP")
    shortcut(bot, fake_slack, message, payload=payload)
    assert bot.interactive(payload).status_code == 200  # Slack sends it again: the same trigger
    bot.wait_idle()
    assert len(fake_slack.calls_to("views.open")) == 1

    first = shortcut(bot, fake_slack, message)  # two more clicks: two triggers, two forms
    second = shortcut(bot, fake_slack, message)
    assert fake_slack.views[first["id"]].closed and not fake_slack.views[second["id"]].closed
    for _ in range(2):
        assert bot.submit(second, {"customer_name": "Acme"}).json()["response_action"] == "update"
    bot.wait_idle()
    assert len(fake_stripe.objects("invoice")) == 1
    assert len(invoice_in_thread(fake_slack, "CSALES", message.ts)) == 1


def test_who_may_not_create_is_told_and_nothing_is_read(make_bot: Any, fake_slack: FakeSlack,
                                                         fake_stripe: FakeStripe) -> None:
    bot = make_bot(invoice_creators="UREP")
    fake_slack.add_user("UGUEST", guest="multi")
    message = fake_slack.add_message("CSALES", "$5 for ap@acme.test", user="UBOSS")
    for user in ("UGUEST", "UNOBODY"):
        view = shortcut(bot, fake_slack, message, user=user)
        assert view["title"]["text"] == "Not allowed" and view.get("callback_id", "") == ""
    assert shortcut(bot, fake_slack, message, user="UREP")["callback_id"] == "invoice_modal"


def test_where_the_bot_is_not_a_member_the_invoice_goes_to_the_reps_dm(bot: RunningBot, fake_slack: FakeSlack,
                                                                      fake_stripe: FakeStripe) -> None:
    fake_slack.add_user("UREP")  # the DM needs a user to open it with
    fake_slack.add_channel("CLOSED", member=False)
    message = fake_slack.add_message("CLOSED", "£12.50 for ap@acme.test: design review", user="UBOSS")
    view = shortcut(bot, fake_slack, message)
    assert initial(view, "currency") == "gbp" and initial(view, "line_1_unit_amount") == "12.50"
    assert initial(view, "line_1_description") == "design review"
    assert bot.submit(view, {"customer_name": "Acme"}).json()["response_action"] == "update"
    bot.wait_idle()
    (invoice,) = fake_stripe.objects("invoice")
    stored = bot.invoice(invoice["id"])
    assert stored.channel_id == fake_slack.dm_channel("UREP") and stored.message_ts


@pytest.mark.parametrize("text", ["", "no amounts here", "x" * 41000])
def test_messages_without_amounts_still_open_the_form(bot: RunningBot, fake_slack: FakeSlack,
                                                      fake_stripe: FakeStripe, text: str) -> None:
    message = fake_slack.add_message("CSALES", text or "see the file", user="UBOSS")
    message.text = text
    view = shortcut(bot, fake_slack, message)
    assert initial(view, "currency") == "usd"  # the workspace's default: the message names none
    assert "No amount" in json.dumps(block(view, "prefill_notes"))


def test_each_workspace_reads_its_own_customers(oauth_bot: RunningBot, fake_slack: FakeSlack,
                                                fake_stripe: FakeStripe) -> None:
    from tests.test_workspaces import create_invoice as create_in
    from tests.test_workspaces import join

    alpha = join(oauth_bot, fake_slack, fake_stripe, "TALPHA", "Alpha")
    beta = join(oauth_bot, fake_slack, fake_stripe, "TBETA", "Beta")
    create_in(oauth_bot, alpha, "100.00")  # Alpha knows Jenny Rosen; Beta does not
    for space, known in ((alpha, True), (beta, False)):
        message = space.team.add_message(space.sales, "Jenny Rosen: $300 for the audit", user=space.rep)
        before = len(space.team.calls_to("views.open"))
        payload = message_action(space.team, "invoice_this", message, user=space.rep)
        assert oauth_bot.interactive(payload).status_code == 200
        wait_for(lambda space=space, before=before: len(space.team.calls_to("views.open")) > before, 5, "views.open")
        view = space.team.calls_to("views.open")[-1].args["view"]
        assert initial(view, "line_1_unit_amount") == "300.00"
        assert initial(view, "line_1_description") == ("audit" if known else "Jenny Rosen: for the audit")
        customer = block(view, "customer")["element"].get("initial_option")
        assert (customer is not None and "Jenny Rosen" in customer["text"]["text"]) is known
