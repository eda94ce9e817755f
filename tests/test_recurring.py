"""Recurring invoices end to end over HTTP (bot/services/recurring.py): "Repeat" in the form makes a
subscription in the fake Stripe; each invoice it generates gets its own message in the rep's channel; double
clicks and redelivered events change nothing; `/invoice recurring` lists them with Cancel; bad input is a field
error or a clear message, with nothing half-created in Stripe."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import stripe

from tests.fakes.slack_fake import FakeSlack
from tests.fakes.stripe_fake import FakeStripe, StripeApiError
from tests.harness import STRIPE_KEY, RunningBot, open_modal, wait_for
from tests.test_invoice_flow import add_catalog_price

DAY = 86_400


def settle(bot: RunningBot, fake_stripe: FakeStripe) -> None:
    """Every event delivered and every job done (news of news included)."""
    for _ in range(3):
        fake_stripe.flush_webhooks()
        bot.wait_idle()


def top_messages(fake_slack: FakeSlack, channel: str = "CSALES") -> list[Any]:
    return fake_slack.messages(channel)


def replies_to(fake_slack: FakeSlack, ts: str, channel: str = "CSALES") -> list[str]:
    return [m.text or "" for m in fake_slack.thread(channel, ts)]


def form(name: str = "Jenny Rosen", email: str = "jenny@example.com", **extra: str) -> dict[str, str]:
    return {"customer_name": name, "customer_email": email, "line_1_description": "Support plan",
            "line_1_unit_amount": "250.00", "line_1_quantity": "2", "days_until_due": "14", "repeat": "month",
            **extra}


def subscribe(bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe, **extra: str) -> dict[str, Any]:
    view = open_modal(bot, fake_slack)
    response = bot.submit(view, form(**extra))
    assert response.status_code == 200 and response.json().get("response_action") == "update", response.text
    settle(bot, fake_stripe)
    (subscription,) = fake_stripe.objects("subscription")
    return {**subscription, "view_id": view["id"]}


def stripe_writes(fake_stripe: FakeStripe, path: str) -> list[Any]:
    return [r for r in fake_stripe.requests if r.method in ("POST", "DELETE") and r.path.startswith(path)
            and r.status == 200 and not r.replayed]


def test_repeat_monthly_makes_a_subscription_and_each_invoice_gets_its_message(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    view = open_modal(bot, fake_slack)
    assert "repeat" in [block.get("block_id") for block in view["blocks"]]
    response = bot.submit(view, form())
    assert response.status_code == 200 and response.json()["response_action"] == "update"
    # Slack sends the same submission again (a double click on Create): still one subscription.
    again = bot.submit(view, form())
    assert again.status_code == 200
    settle(bot, fake_stripe)

    (subscription,) = fake_stripe.objects("subscription")
    assert subscription["collection_method"] == "send_invoice" and subscription["days_until_due"] == 14
    (item,) = subscription["items"]["data"]
    assert item["quantity"] == 2 and item["price"]["unit_amount"] == 25000
    assert item["price"]["recurring"]["interval"] == "month" and item["price"]["recurring"]["interval_count"] == 1
    assert subscription["metadata"]["slack_user"] == "UREP" and subscription["metadata"]["slack_channel"] == "CSALES"
    create = next(r for r in fake_stripe.requests if r.method == "POST" and r.path == "/v1/subscriptions")
    assert create.idempotency_key == f"{view['id']}:subscription"
    assert len(stripe_writes(fake_stripe, "/v1/subscriptions")) == 1
    assert len(fake_stripe.objects("customer")) == 1 and len(fake_stripe.objects("invoice")) == 1

    (first,) = fake_stripe.objects("invoice")
    (message,) = top_messages(fake_slack)
    assert first["hosted_invoice_url"] in json.dumps(message.blocks) and "$500.00" in json.dumps(message.blocks)
    assert any(":repeat:" in text for text in replies_to(fake_slack, message.ts))
    stored = bot.invoice(first["id"])
    assert stored.rep_user_id == "UREP" and stored.channel_id == "CSALES" and stored.message_ts == message.ts
    status = json.dumps(fake_slack.views[view["id"]])
    assert "Repeating invoice created" in status and "monthly" in status
    row = bot.rows("SELECT * FROM subscriptions")
    assert len(row) == 1 and row[0]["stripe_id"] == subscription["id"] and row[0]["rep_user_id"] == "UREP"
    assert row[0]["repeat_every"] == "month:1" and row[0]["amount"] == 50000

    # The next period: Stripe makes the invoice and its events (each delivered three times).
    fake_stripe.webhooks.duplicate = 2
    second = fake_stripe.advance_subscription(subscription["id"])
    assert second is not None
    settle(bot, fake_stripe)
    messages = top_messages(fake_slack)
    assert len(messages) == 2, [m.text for m in messages]
    newest = next(m for m in messages if m.ts != message.ts)
    assert second["hosted_invoice_url"] in json.dumps(newest.blocks)
    assert bot.invoice(second["id"]).rep_user_id == "UREP"
    assert sum(":repeat:" in text for text in replies_to(fake_slack, newest.ts)) == 1

    # A draft Stripe finalizes an hour later: one message, updated in place when it is finalized.
    third = fake_stripe.advance_subscription(subscription["id"], finalize=False)
    assert third is not None
    settle(bot, fake_stripe)
    fake_stripe.finalize_draft(third["id"])
    settle(bot, fake_stripe)
    assert len(top_messages(fake_slack)) == 3
    assert bot.invoice(third["id"]).status == "open" and bot.invoice(third["id"]).has_message
    # Paid: the payments channel hears of it as of an invoice made in Slack.
    fake_stripe.pay_invoice(second["id"])
    settle(bot, fake_stripe)
    assert any(second["id"] in json.dumps(m.blocks) or "Paid" in (m.text or "")
               for m in fake_slack.messages("CPAYMENTS"))


def test_a_one_off_catalog_price_cannot_repeat_field_error_and_nothing_in_stripe(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    add_catalog_price(bot, fake_slack, 'catalog add "Gold Special" 10.00 usd')
    price = fake_stripe.objects("price")[0]
    view = open_modal(bot, fake_slack)
    response = bot.submit(view, {"customer_name": "Jenny", "customer_email": "jenny@example.com",
                                 "line_1_price": price["id"], "repeat": "quarter"})
    assert response.status_code == 200
    errors = response.json()["errors"]
    assert set(errors) == {"line_1_price"} and "one-off" in errors["line_1_price"]
    # Repeating and a draft do not go together either.
    response = bot.submit(view, {**form(), "delivery": "draft"})
    assert "repeat" in response.json()["errors"]
    bot.wait_idle()
    assert fake_stripe.objects("subscription") == [] and fake_stripe.objects("invoice") == []
    assert fake_stripe.objects("customer") == []


def test_a_price_the_cache_did_not_know_is_checked_with_stripe_before_anything_is_made(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    client = stripe.StripeClient(STRIPE_KEY, base_addresses={"api": fake_stripe.url})
    product = client.v1.products.create({"name": "Legacy"})
    one_off = client.v1.prices.create({"product": product.id, "unit_amount": 700, "currency": "usd"})
    # Cached before migration 0013 (or by an older refresh): whether it repeats is not known.
    bot.execute("INSERT INTO prices (tenant_id, stripe_id, product_id, product_name, unit_amount, currency, active, "
                "updated_at, recurring) VALUES ('default', ?, ?, 'Legacy', 700, 'usd', ?, ?, NULL)",
                (one_off.id, product.id, True, time.time()))
    products_before = len(fake_stripe.objects("product"))
    view = open_modal(bot, fake_slack)
    response = bot.submit(view, {**form(), "line_1_description": "", "line_1_unit_amount": "",
                                 "line_1_price": one_off.id})
    assert response.json()["response_action"] == "update"
    settle(bot, fake_stripe)
    assert fake_stripe.objects("subscription") == [] and fake_stripe.objects("invoice") == []
    assert fake_stripe.objects("customer") == [] and len(fake_stripe.objects("product")) == products_before
    status = json.dumps(fake_slack.views[view["id"]])
    assert "not created" in status and "one-off" in status
    assert bot.rows("SELECT * FROM subscriptions") == []


def test_a_quarterly_catalog_price_is_used_as_it_is(bot: RunningBot, fake_slack: FakeSlack,
                                                     fake_stripe: FakeStripe) -> None:
    client = stripe.StripeClient(STRIPE_KEY, base_addresses={"api": fake_stripe.url})
    product = client.v1.products.create({"name": "Quarterly care"})
    price = client.v1.prices.create({"product": product.id, "unit_amount": 9900, "currency": "usd",
                                     "recurring": {"interval": "month", "interval_count": 3}})
    bot.execute("INSERT INTO prices (tenant_id, stripe_id, product_id, product_name, unit_amount, currency, active, "
                "updated_at, recurring) VALUES ('default', ?, ?, 'Quarterly care', 9900, 'usd', ?, ?, 'month:3')",
                (price.id, product.id, True, time.time()))
    view = open_modal(bot, fake_slack)
    monthly = bot.submit(view, {"customer_name": "Jenny", "customer_email": "jenny@example.com",
                                "line_1_price": price.id, "repeat": "month"})
    assert "quarterly" in monthly.json()["errors"]["line_1_price"]
    one_off = bot.submit(view, {"customer_name": "Jenny", "customer_email": "jenny@example.com",
                                "line_1_price": price.id})
    assert "repeats" in one_off.json()["errors"]["line_1_price"]
    response = bot.submit(view, {"customer_name": "Jenny", "customer_email": "jenny@example.com",
                                 "line_1_price": price.id, "repeat": "quarter"})
    assert response.json()["response_action"] == "update"
    settle(bot, fake_stripe)
    (subscription,) = fake_stripe.objects("subscription")
    assert subscription["items"]["data"][0]["price"]["id"] == price.id
    assert len(top_messages(fake_slack)) == 1


def list_recurring(bot: RunningBot, fake_slack: FakeSlack, user: str = "UREP") -> tuple[str, Any]:
    url = fake_slack.response_url(f"recurring-{time.monotonic_ns()}")
    bot.slash("recurring", trigger_id=fake_slack.new_trigger_id(), response_url=url, user=user)
    answer = wait_for(lambda: next((r for r in fake_slack.responses if r.url == url), None), 10, "the list")
    return url, answer


def test_recurring_lists_and_cancels_at_period_end_once(bot: RunningBot, fake_slack: FakeSlack,
                                                         fake_stripe: FakeStripe) -> None:
    subscription = subscribe(bot, fake_slack, fake_stripe)
    _, answer = list_recurring(bot, fake_slack)
    dumped = json.dumps(answer)
    assert "Jenny Rosen" in dumped and "recurring_cancel_at_end" in dumped and "recurring_cancel_now" in dumped
    # Another rep sees none of it, and may not cancel it.
    fake_slack.add_user("UOTHER")
    _, other = list_recurring(bot, fake_slack, user="UOTHER")
    assert "Jenny Rosen" not in json.dumps(other)
    url = fake_slack.response_url("cancel-other")
    bot.block_action("recurring_cancel_now", subscription["id"], user="UOTHER", response_url=url)
    refused = wait_for(lambda: fake_slack.responses_to("cancel-other"), 10, "the refusal")
    assert "Only the rep" in refused[0]["text"]

    url = fake_slack.response_url("cancel-end")
    for _ in range(2):  # a double click
        bot.block_action("recurring_cancel_at_end", subscription["id"], response_url=url)
    settle(bot, fake_stripe)
    updates = stripe_writes(fake_stripe, f"/v1/subscriptions/{subscription['id']}")
    assert len(updates) == 1 and updates[0].params == {"cancel_at_period_end": True}
    assert fake_stripe.get(subscription["id"])["cancel_at_period_end"] is True
    told = [r["text"] for r in fake_slack.responses_to("cancel-end")]
    assert sum("to end on" in text for text in told) == 1
    row = bot.rows("SELECT * FROM subscriptions")[0]
    assert row["status"] == "active" and bool(row["cancel_at_period_end"]) and row["canceled_by"] == "UREP"

    # The period ends: no invoice, the subscription is over, its rep hears once.
    assert fake_stripe.advance_subscription(subscription["id"]) is None
    fake_stripe.webhooks.duplicate = 1
    settle(bot, fake_stripe)
    assert bot.rows("SELECT status FROM subscriptions")[0]["status"] == "canceled"
    assert len(fake_stripe.objects("invoice")) == 1 and len(top_messages(fake_slack)) == 1
    _, after = list_recurring(bot, fake_slack)
    assert "none" in after["text"]


def test_an_admin_cancels_now_and_the_rep_hears(bot: RunningBot, fake_slack: FakeSlack,
                                                fake_stripe: FakeStripe) -> None:
    subscription = subscribe(bot, fake_slack, fake_stripe)
    fake_slack.add_user("UADMIN", is_admin=True)
    _, answer = list_recurring(bot, fake_slack, user="UADMIN")
    assert "Jenny Rosen" in json.dumps(answer) and "UREP" in json.dumps(answer)
    url = fake_slack.response_url("cancel-now")
    bot.block_action("recurring_cancel_now", subscription["id"], user="UADMIN", response_url=url)
    bot.block_action("recurring_cancel_now", subscription["id"], user="UADMIN", response_url=url)
    settle(bot, fake_stripe)
    assert fake_stripe.get(subscription["id"])["status"] == "canceled"
    assert len(stripe_writes(fake_stripe, f"/v1/subscriptions/{subscription['id']}")) == 1
    assert bot.rows("SELECT status, canceled_by FROM subscriptions")[0] == {"status": "canceled",
                                                                           "canceled_by": "UADMIN"}
    assert any("canceled" in (e.text or "") for e in fake_slack.ephemerals) or any(
        "canceled" in (m.text or "") for channel in ("CSALES",) for m in fake_slack.messages(channel))
    with pytest.raises(StripeApiError):
        fake_stripe.advance_subscription(subscription["id"])


# --- the pure parts ------------------------------------------------------------------------------------------
def test_how_prices_and_repeats_match() -> None:
    from bot.domain.recurring import describe, line_problem, recurring_text, subscription_of_invoice

    assert recurring_text({"interval": "month", "interval_count": 3}) == "month:3" and recurring_text(None) == ""
    assert describe("month:3") == "quarterly" and describe("year:1") == "yearly" and describe("week:2") == \
        "every 2 weeks" and describe("") == "once"
    assert line_problem("month", "month:1") is None and line_problem("none", "") is None
    assert line_problem("month", None) is None  # not known yet: Stripe is asked before anything is made
    assert "one-off" in (line_problem("quarter", "") or "")
    assert "quarterly" in (line_problem("month", "month:3") or "")
    assert "repeats" in (line_problem("none", "year:1") or "")
    assert subscription_of_invoice({"parent": {"type": "subscription_details",
                                               "subscription_details": {"subscription": "sub_1"}}}) == "sub_1"
    assert subscription_of_invoice({"subscription": "sub_2", "parent": None}) == "sub_2"
    assert subscription_of_invoice({"subscription": None, "parent": None}) is None


def test_the_command_and_the_form() -> None:
    from bot import blocks, slash

    assert slash.parse("recurring") == slash.ListRecurring()
    assert isinstance(slash.parse("recurring all"), slash.Refuse)
    assert "/invoice recurring" in slash.help_text()
    modal = blocks.invoice_modal(blocks.ModalState(channel_id="C1", default_currency="usd", default_days=30,
                                                   values={"repeat": "quarter"}))
    repeat = next(block for block in modal["blocks"] if block.get("block_id") == "repeat")
    assert repeat["element"]["initial_option"]["value"] == "quarter" and repeat["optional"] is True
