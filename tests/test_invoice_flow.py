"""/invoice end to end over HTTP: signed Slack requests in, real SDK calls out to the fakes."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.fakes.slack_fake import FakeSlack
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import RunningBot, on_both_databases, open_modal, wait_for


def add_catalog_price(bot: RunningBot, fake_slack: FakeSlack, text: str) -> dict[str, Any]:
    """As a workspace admin: the catalog is the admins' (every rep's form offers what is in it)."""
    fake_slack.add_user("UADMIN", is_admin=True)
    url = fake_slack.response_url(f"catalog-{time.monotonic_ns()}")
    response = bot.slash(text, trigger_id=fake_slack.new_trigger_id(), response_url=url, user="UADMIN")
    assert response.status_code == 200
    answers = wait_for(lambda: (found := [r for r in fake_slack.responses if r.url == url]) and len(found) >= 2
                       and found, 10, "Creating… then Created")
    assert answers[0]["text"].startswith("Creating"), answers
    bot.wait_idle()
    return answers[-1]


def customer_named(name: str, email: str) -> dict[str, Any]:
    return {"customer_name": name, "customer_email": email}


def submit(bot: RunningBot, view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    response = bot.submit(view, values)
    assert response.status_code == 200, response.text
    return response.json() if response.content else {}


def the_message(fake_slack: FakeSlack, channel: str = "CSALES") -> Any:
    messages = [m for m in fake_slack.messages(channel) if not m.thread_ts]
    assert len(messages) == 1, [m.text for m in messages]
    return messages[0]


@on_both_databases
def test_create_and_send_in_usd_with_a_catalog_price_and_an_adhoc_line(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    answer = add_catalog_price(bot, fake_slack, 'catalog add "Gold Special" 10.00 usd')
    price = fake_stripe.objects("price")[0]
    assert price["unit_amount"] == 1000 and price["id"] in json.dumps(answer)

    view = open_modal(bot, fake_slack)
    block_ids = [b.get("block_id") for b in view["blocks"]]
    for expected in ("customer", "customer_name", "customer_email", "currency", "line_1_description",
                     "line_1_quantity", "line_1_unit_amount", "line_1_price", "days_until_due", "memo", "delivery"):
        assert expected in block_ids
    # "Add line" keeps what was typed and adds line 2
    typed = {**customer_named("Jenny Rosen", "jenny@example.com"), "line_1_price": price["id"],
             "line_1_quantity": "2"}
    response = bot.block_action("add_line", "2", view=view, values=typed)
    assert response.status_code == 200
    bot_deadline = time.monotonic() + 5
    while not fake_slack.calls_to("views.update"):
        assert time.monotonic() < bot_deadline
        time.sleep(0.01)
    updated = fake_slack.views[view["id"]]
    assert "line_2_unit_amount" in [b.get("block_id") for b in updated["blocks"]]
    assert "$20.00" in json.dumps(updated)  # the running total
    updated = {**updated, "id": view["id"]}

    result = submit(bot, updated, {**typed, "line_2_description": "Setup & <!channel>",
                                   "line_2_quantity": "1", "line_2_unit_amount": "1,234.56",
                                   "days_until_due": "14", "memo": "Thanks!"})
    assert result.get("response_action") == "update"
    bot.wait_idle()

    customers = fake_stripe.objects("customer")
    invoices = fake_stripe.objects("invoice")
    assert len(customers) == 1 and customers[0]["email"] == "jenny@example.com"
    assert len(invoices) == 1
    invoice = invoices[0]
    assert invoice["status"] == "open" and invoice["collection_method"] == "send_invoice"
    create = next(r for r in fake_stripe.requests if r.method == "POST" and r.path == "/v1/invoices")
    assert create.params["days_until_due"] == 14 and create.params["auto_advance"] is False
    finalized_at = invoice["status_transitions"]["finalized_at"]
    assert invoice["due_date"] == finalized_at + 14 * 86400 and invoice["description"] == "Thanks!"
    assert invoice["total"] == 2 * 1000 + 123456
    assert invoice["metadata"]["slack_channel"] == "CSALES" and invoice["metadata"]["slack_user"] == "UREP"
    assert [e["type"] for e in fake_stripe.events].count("invoice.sent") == 1

    message = the_message(fake_slack)
    dumped = json.dumps(message.blocks)
    assert "$1,254.56" in dumped and invoice["hosted_invoice_url"] in dumped
    assert "<!channel>" not in dumped and "&lt;!channel&gt;" in dumped
    stored = bot.invoice(invoice["id"])
    assert stored.message_ts == message.ts and stored.channel_id == "CSALES"


@pytest.mark.parametrize(("currency", "typed", "minor"), [("jpy", "1000", 1000), ("kwd", "1.250", 1250)])
def test_zero_and_three_decimal_currencies_are_exact(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe, currency: str, typed: str,
        minor: int) -> None:
    view = open_modal(bot, fake_slack)
    submit(bot, view, {**customer_named("Taro", "taro@example.jp"), "currency": currency,
                       "line_1_description": "Work", "line_1_unit_amount": typed})
    bot.wait_idle()
    (invoice,) = fake_stripe.objects("invoice")
    assert invoice["currency"] == currency and invoice["total"] == minor and invoice["status"] == "open"


def test_draft_then_send_button(bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    view = open_modal(bot, fake_slack, "new jenny@example.com")
    email_block = next(b for b in view["blocks"] if b.get("block_id") == "customer_email")
    assert email_block["element"]["initial_value"] == "jenny@example.com"
    submit(bot, view, {"customer_name": "Jenny", "line_1_description": "Draft work",
                       "line_1_unit_amount": "5", "delivery": "draft"})
    bot.wait_idle()
    (invoice,) = fake_stripe.objects("invoice")
    assert invoice["status"] == "draft"
    message = the_message(fake_slack)
    assert "invoice_send" in json.dumps(message.blocks)

    bot.block_action("invoice_send", invoice["id"], message_ts=message.ts)
    bot.wait_idle()
    assert fake_stripe.get(invoice["id"])["status"] == "open"
    assert [e["type"] for e in fake_stripe.events].count("invoice.sent") == 1
    message = the_message(fake_slack)
    assert "invoice_void" in json.dumps(message.blocks) and "invoice_send" not in json.dumps(message.blocks)
    assert bot.audit_for(invoice["id"])[-1].action == "send"


@pytest.mark.parametrize(("action", "status"), [("invoice_void", "void"), ("invoice_uncollectible", "uncollectible")])
def test_void_and_mark_uncollectible_buttons(bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe,
                                             action: str, status: str) -> None:
    view = open_modal(bot, fake_slack)
    submit(bot, view, {**customer_named("Acme", "ap@acme.test"), "line_1_description": "Audit",
                       "line_1_unit_amount": "99.99"})
    bot.wait_idle()
    (invoice,) = fake_stripe.objects("invoice")
    message = the_message(fake_slack)
    bot.block_action(action, invoice["id"], message_ts=message.ts)
    bot.wait_idle()
    assert fake_stripe.get(invoice["id"])["status"] == status
    assert bot.invoice(invoice["id"]).status == status
    final = json.dumps(the_message(fake_slack).blocks)
    assert '"action_id": "invoice_void"' not in final and '"action_id": "invoice_uncollectible"' not in final
    assert status.capitalize() in final
    replies = fake_slack.thread("CSALES", message.ts)
    assert any("by <@UREP>" in reply.text for reply in replies)
    audit = bot.audit_for(invoice["id"])
    assert audit[-1].action == action.removeprefix("invoice_") and audit[-1].actor == "UREP"


def test_field_errors_come_back_on_the_right_block(bot: RunningBot, fake_slack: FakeSlack,
                                                   fake_stripe: FakeStripe) -> None:
    view = open_modal(bot, fake_slack)
    result = submit(bot, view, {"customer_email": "nope", "customer_name": "X", "line_1_description": "A",
                                "line_1_unit_amount": "10.001", "days_until_due": "366"})
    assert result["response_action"] == "errors"
    assert set(result["errors"]) >= {"customer_email"} or set(result["errors"]) >= {
        "line_1_unit_amount", "days_until_due"}
    bot.wait_idle()
    assert fake_stripe.objects("invoice") == [] and fake_stripe.objects("customer") == []


def test_double_submit_makes_one_invoice(bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    view = open_modal(bot, fake_slack)
    values = {**customer_named("Jenny", "jenny@example.com"), "line_1_description": "Once",
              "line_1_unit_amount": "10"}
    submit(bot, view, values)
    submit(bot, view, values)
    bot.wait_idle()
    assert len(fake_stripe.objects("invoice")) == 1 and len(fake_stripe.objects("customer")) == 1
    assert [e["type"] for e in fake_stripe.events].count("invoice.sent") == 1
    the_message(fake_slack)


def test_existing_customer_is_reused_by_email(bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    for _ in range(2):
        view = open_modal(bot, fake_slack)
        submit(bot, view, {**customer_named("Jenny", "Jenny@Example.com"), "line_1_description": "A",
                           "line_1_unit_amount": "1"})
        bot.wait_idle()
    assert len(fake_stripe.objects("customer")) == 1 and len(fake_stripe.objects("invoice")) == 2


def test_stripe_refusal_deletes_the_draft_and_tells_the_rep(bot: RunningBot, fake_slack: FakeSlack,
                                                            fake_stripe: FakeStripe) -> None:
    view = open_modal(bot, fake_slack)
    fake_stripe.inject(method="POST", path_prefix="/v1/invoices/", status=400, count=None)
    try:
        submit(bot, view, {**customer_named("Jenny", "jenny@example.com"), "line_1_description": "A",
                           "line_1_unit_amount": "1"})
        bot.wait_idle()
    finally:
        fake_stripe.clear_faults()
    invoices = fake_stripe.objects("invoice")
    assert all(i.get("status") != "draft" for i in invoices)
    told = [e for e in fake_slack.ephemerals] + [c for c in fake_slack.calls_to("views.update")]
    assert any("not created" in json.dumps(getattr(t, "args", t)) for t in told)


def test_slow_stripe_never_delays_slacks_acks(bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    fake_stripe.inject(method="POST", path_prefix="/v1/", latency=2.0)
    try:
        started = time.monotonic()
        view = open_modal(bot, fake_slack)
        open_took = time.monotonic() - started
        started = time.monotonic()
        submit(bot, view, {**customer_named("Slow", "slow@example.com"), "line_1_description": "A",
                           "line_1_unit_amount": "1"})
        submit_took = time.monotonic() - started
        assert open_took < 1.0 and submit_took < 1.0
        bot.wait_idle(timeout=30)
    finally:
        fake_stripe.clear_faults()
    assert fake_stripe.objects("invoice")[0]["status"] == "open"


def test_help_unknown_and_catalog_listing(bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    help_answer = bot.slash("help", trigger_id=fake_slack.new_trigger_id(), response_url=fake_slack.response_url())
    assert "catalog add" in help_answer.json()["text"]
    unknown = bot.slash("<!channel>", trigger_id=fake_slack.new_trigger_id(),
                        response_url=fake_slack.response_url())
    assert "&lt;!channel&gt;" in unknown.json()["text"] and "Traceback" not in unknown.text
    add_catalog_price(bot, fake_slack, 'catalog add "Gold Special" 10.00 usd')
    url = fake_slack.response_url("listing")
    assert bot.slash("catalog", trigger_id=fake_slack.new_trigger_id(), response_url=url).status_code == 200
    listing = wait_for(lambda: [r for r in fake_slack.responses if r.url == url], 5, "the catalog")[0]
    assert "Gold Special" in listing["text"] and "$10.00" in listing["text"]


def test_customer_and_price_searches_answer_from_the_store(bot: RunningBot, fake_slack: FakeSlack,
                                                           fake_stripe: FakeStripe) -> None:
    from tests.harness import create_invoice

    create_invoice(bot, fake_slack, fake_stripe, name="Acme <Corp>", email="ap@acme.test")
    add_catalog_price(bot, fake_slack, 'catalog add "Gold Special" 10.00 usd')
    view = open_modal(bot, fake_slack)
    started = time.monotonic()
    customers = bot.suggest("customer_search", "customer", "acme", view).json()["options"]
    prices = bot.suggest("price_search", "line_1_price", "gold", view).json()["options"]
    assert time.monotonic() - started < 1.0
    assert [o["text"]["text"] for o in customers] == ["Acme &lt;Corp&gt; &lt;ap@acme.test&gt;"]
    assert customers[0]["value"] == fake_stripe.objects("customer")[0]["id"]
    assert prices[0]["text"]["text"] == "Gold Special – $10.00" and prices[0]["value"].startswith("price_")
    assert bot.suggest("customer_search", "customer", "zzz", view).json()["options"] == []
    # picking the existing customer reuses it
    submit(bot, view, {"customer": customers[0]["value"], "line_1_price": prices[0]["value"]})
    bot.wait_idle()
    assert len(fake_stripe.objects("customer")) == 1 and len(fake_stripe.objects("invoice")) == 2


def test_a_customer_named_like_a_mention_is_escaped_everywhere(bot: RunningBot, fake_slack: FakeSlack,
                                                               fake_stripe: FakeStripe) -> None:
    from tests.harness import create_invoice

    invoice = create_invoice(bot, fake_slack, fake_stripe, name="<!channel> & <@U123>", email="evil@example.com")
    fake_stripe.fail_payment(invoice["id"])
    fake_stripe.pay_invoice(invoice["id"])
    fake_stripe.flush_webhooks()
    bot.wait_idle()
    everything = [c.args for c in fake_slack.calls if c.method in ("chat.postMessage", "chat.update",
                                                                    "views.update", "chat.postEphemeral")]
    dumped = json.dumps(everything)
    assert len(everything) >= 5
    assert "<!channel>" not in dumped and "<@U123>" not in dumped
    assert "&lt;!channel&gt; &amp; &lt;@U123&gt;" in dumped
