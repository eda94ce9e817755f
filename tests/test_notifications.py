"""Stripe events -> Slack, over HTTP: message updated in place, thread replies, channel notices, once."""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe

from bot.domain.tenants import DEFAULT_TENANT
from tests.fakes.slack_fake import FakeSlack
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import (
    PAYMENTS_CHANNEL,
    STRIPE_KEY,
    WEBHOOK_SECRET,
    BotProcess,
    RunningBot,
    bot_settings,
    create_invoice,
    on_both_databases,
    wait_for,
)


def settle(bot: Any, fake_stripe: FakeStripe) -> None:
    fake_stripe.flush_webhooks()
    bot.wait_idle(timeout=30)


def invoice_message(fake_slack: FakeSlack, channel: str = "CSALES") -> Any:
    (message,) = [m for m in fake_slack.messages(channel) if not m.thread_ts]
    return message


def thread_texts(fake_slack: FakeSlack, message: Any, channel: str = "CSALES") -> list[str]:
    return [reply.text for reply in fake_slack.thread(channel, message.ts)]


def notices(fake_slack: FakeSlack, channel: str = PAYMENTS_CHANNEL) -> list[str]:
    return [m.text + json.dumps(m.blocks) for m in fake_slack.messages(channel)]


def stripe_client(fake_stripe: FakeStripe) -> stripe.StripeClient:
    return stripe.StripeClient(STRIPE_KEY, base_addresses={"api": fake_stripe.url})


@on_both_databases
def test_paid_updates_the_message_threads_and_tells_the_payments_channel(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    invoice = create_invoice(bot, fake_slack, fake_stripe)
    settle(bot, fake_stripe)
    fake_stripe.pay_invoice(invoice["id"])
    settle(bot, fake_stripe)
    message = invoice_message(fake_slack)
    assert "Paid" in json.dumps(message.blocks) and "invoice_void" not in json.dumps(message.blocks)
    assert message.edited is not None
    replies = thread_texts(fake_slack, message)
    assert sum("Paid $1,234.00" in text for text in replies) == 1
    (notice,) = notices(fake_slack)
    assert invoice["number"] in notice and "$1,234.00" in notice and "<@UREP>" in notice
    assert invoice["hosted_invoice_url"] in notice and "Invoice message" in notice
    assert bot.invoice(invoice["id"]).status == "paid"


def test_payment_failed_asks_the_rep_to_follow_up(bot: RunningBot, fake_slack: FakeSlack,
                                                  fake_stripe: FakeStripe) -> None:
    invoice = create_invoice(bot, fake_slack, fake_stripe)
    settle(bot, fake_stripe)
    fake_stripe.fail_payment(invoice["id"], decline_code="insufficient_funds")
    settle(bot, fake_stripe)
    replies = thread_texts(fake_slack, invoice_message(fake_slack))
    assert any("Payment failed: insufficient funds" in text for text in replies)
    (notice,) = notices(fake_slack)
    assert "Payment failed" in notice and "please follow up" in notice and invoice["number"] in notice


def test_processing_bank_debit_is_announced(bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    invoice = create_invoice(bot, fake_slack, fake_stripe)
    settle(bot, fake_stripe)
    fake_stripe.start_processing(invoice["id"])
    settle(bot, fake_stripe)
    assert any("Payment processing" in text for text in thread_texts(fake_slack, invoice_message(fake_slack)))
    (notice,) = notices(fake_slack)
    assert "Payment processing" in notice and invoice["number"] in notice


def test_voided_and_uncollectible_in_the_dashboard_update_the_message(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    invoice = create_invoice(bot, fake_slack, fake_stripe)
    settle(bot, fake_stripe)
    stripe_client(fake_stripe).v1.invoices.mark_uncollectible(invoice["id"])
    settle(bot, fake_stripe)
    message = invoice_message(fake_slack)
    assert "Uncollectible" in json.dumps(message.blocks)
    stripe_client(fake_stripe).v1.invoices.void_invoice(invoice["id"])
    settle(bot, fake_stripe)
    message = invoice_message(fake_slack)
    assert "Void" in json.dumps(message.blocks)
    replies = thread_texts(fake_slack, message)
    assert any("Marked uncollectible" in t for t in replies) and any("Voided" in t for t in replies)
    assert notices(fake_slack) == []  # the payments channel hears of money, not of write-offs


def test_overdue_nudges_the_rep_with_a_reminder_button_once_a_day(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    invoice = create_invoice(bot, fake_slack, fake_stripe)
    settle(bot, fake_stripe)
    fake_stripe.make_overdue(invoice["id"])
    settle(bot, fake_stripe)
    message = invoice_message(fake_slack)
    overdue = [r for r in fake_slack.thread("CSALES", message.ts) if "Overdue" in r.text]
    assert len(overdue) == 1 and "<@UREP>" in overdue[0].text
    assert "invoice_remind" in json.dumps(overdue[0].blocks)
    (notice,) = notices(fake_slack)
    assert "Overdue" in notice
    sent_before = [e["type"] for e in fake_stripe.events].count("invoice.sent")
    bot.block_action("invoice_remind", invoice["id"], message_ts=message.ts)
    settle(bot, fake_stripe)
    assert [e["type"] for e in fake_stripe.events].count("invoice.sent") == sent_before + 1
    assert any("Reminder emailed" in t for t in thread_texts(fake_slack, message))
    bot.block_action("invoice_remind", invoice["id"], message_ts=message.ts)
    settle(bot, fake_stripe)
    assert [e["type"] for e in fake_stripe.events].count("invoice.sent") == sent_before + 1
    assert any("already went out" in json.dumps(e.args) for e in fake_slack.ephemerals)
    actions = [row.action for row in bot.audit_for(invoice["id"])]
    assert actions.count("remind") == 1


def test_every_event_three_times_in_shuffled_order_gives_one_notice_per_change(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    fake_stripe.webhooks.duplicate = 2
    fake_stripe.webhooks.shuffle = True
    invoice = create_invoice(bot, fake_slack, fake_stripe)
    fake_stripe.pay_invoice(invoice["id"])
    settle(bot, fake_stripe)
    time.sleep(0.3)
    settle(bot, fake_stripe)
    message = invoice_message(fake_slack)
    assert "Paid" in json.dumps(message.blocks)
    assert bot.invoice(invoice["id"]).status == "paid"
    replies = thread_texts(fake_slack, message)
    assert sum("Paid" in text for text in replies) == 1
    assert sum("Emailed" in text for text in replies) == 1
    assert len(notices(fake_slack)) == 1
    delivered = Counter(row["id"] for row in bot.rows("SELECT id FROM stripe_events"))
    assert delivered and set(delivered.values()) == {1}


def test_a_late_finalized_never_reopens_a_paid_invoice(bot: RunningBot, fake_slack: FakeSlack,
                                                       fake_stripe: FakeStripe) -> None:
    fake_stripe.webhooks.pause()
    invoice = create_invoice(bot, fake_slack, fake_stripe)
    fake_stripe.pay_invoice(invoice["id"])
    events = [e for e in fake_stripe.events if e["data"]["object"].get("id") == invoice["id"]]
    finalized = next(e for e in events if e["type"] == "invoice.finalized")
    paid = next(e for e in events if e["type"] == "invoice.paid")
    assert bot.webhook(paid).status_code == 200
    bot.wait_idle()
    assert bot.webhook(finalized).status_code == 200
    bot.wait_idle()
    assert bot.invoice(invoice["id"]).status == "paid"
    assert "Paid" in json.dumps(invoice_message(fake_slack).blocks)


def test_slack_429_and_500_for_a_while_still_deliver_every_notice_once(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    invoice = create_invoice(bot, fake_slack, fake_stripe)
    settle(bot, fake_stripe)
    fake_slack.rate_limit("chat.postMessage", retry_after=1, count=3)
    fake_slack.http_error("chat.postMessage", status=500, count=4)
    fake_slack.http_error("chat.update", status=503, count=2)
    fake_stripe.pay_invoice(invoice["id"])
    settle(bot, fake_stripe)
    wait_for(lambda: len(notices(fake_slack)) == 1, 20, "the paid notice")
    wait_for(lambda: any("Paid" in t for t in thread_texts(fake_slack, invoice_message(fake_slack))), 20,
             "the paid reply")
    bot.wait_idle(timeout=30)
    assert len(notices(fake_slack)) == 1
    assert sum("Paid" in t for t in thread_texts(fake_slack, invoice_message(fake_slack))) == 1
    assert "Paid" in json.dumps(invoice_message(fake_slack).blocks)
    statuses = Counter(call.status for call in fake_slack.calls_to("chat.postMessage"))
    assert statuses[429] >= 1 and statuses[500] >= 1


def foreign_paid_event(number: int, currency: str = "usd", amount: int = 1000) -> dict[str, Any]:
    invoice_id = f"in_foreign{number:06d}"
    return {
        "id": f"evt_foreign{number:06d}", "object": "event", "type": "invoice.paid", "created": int(time.time()),
        "livemode": False, "api_version": "2026-10-28.endive",
        "data": {"object": {"id": invoice_id, "object": "invoice", "status": "paid", "currency": currency,
                            "total": amount, "amount_paid": amount, "amount_remaining": 0,
                            "customer": f"cus_f{number}", "customer_name": f"Customer {number}",
                            "customer_email": f"c{number}@example.com", "number": f"FOREIGN-{number:06d}",
                            "hosted_invoice_url": f"https://invoice.stripe.com/i/{invoice_id}"}},
    }


def test_invoices_made_outside_the_bot_are_announced_unless_turned_off(
        make_bot: Any, fake_slack: FakeSlack) -> None:
    bot = make_bot()
    assert bot.webhook(foreign_paid_event(1)).status_code == 200
    bot.wait_idle()
    (notice,) = notices(fake_slack)
    assert "FOREIGN-000001" in notice and "created outside invoicebot" in notice
    quiet = make_bot(announce_foreign_invoices=False)
    assert quiet.webhook(foreign_paid_event(2)).status_code == 200
    quiet.wait_idle()
    assert len(notices(fake_slack)) == 1


def test_routes_send_a_customers_and_a_reps_news_to_their_channels(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    fake_slack.add_user("UADMIN", is_admin=True)
    fake_slack.add_user("UREP", is_admin=False)
    refused = bot.slash("route rep <@UREP|rep> <#CREPS|reps>", trigger_id=fake_slack.new_trigger_id(),
                        response_url=fake_slack.response_url(), user="UREP")
    assert refused.status_code == 200
    wait_for(lambda: any("Only invoicing admins" in json.dumps(r) for r in fake_slack.responses), 5, "refusal")
    for text in ("route customer <mailto:vip@example.com|vip@example.com> <#CVIP|vip>",
                 "route rep <@UREP|rep> <#CREPS|reps>"):
        bot.slash(text, trigger_id=fake_slack.new_trigger_id(), response_url=fake_slack.response_url(),
                  user="UADMIN")
    wait_for(lambda: sum("now goes to" in json.dumps(r) for r in fake_slack.responses) == 2, 5, "routes set")
    vip = create_invoice(bot, fake_slack, fake_stripe, name="VIP", email="vip@example.com")
    other = create_invoice(bot, fake_slack, fake_stripe, name="Other", email="other@example.com")
    fake_stripe.pay_invoice(vip["id"])
    fake_stripe.pay_invoice(other["id"])
    settle(bot, fake_stripe)
    assert len(notices(fake_slack, "CVIP")) == 1 and vip["number"] in notices(fake_slack, "CVIP")[0]
    assert len(notices(fake_slack, "CREPS")) == 1 and other["number"] in notices(fake_slack, "CREPS")[0]
    assert notices(fake_slack) == []
    assert [row["action"] for row in bot.rows("SELECT action FROM audit WHERE action='route'")]


def post_events(bot: Any, events: list[dict[str, Any]], threads: int = 8) -> list[int]:
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda event: bot.webhook(event).status_code, events))


def announced_numbers(fake_slack: FakeSlack) -> Counter[str]:
    counts: Counter[str] = Counter()
    for message in fake_slack.messages(PAYMENTS_CHANNEL):
        body = json.dumps(message.blocks)
        for number in set(__import__("re").findall(r"FOREIGN-\d{6}", body)):
            counts[number] += body.count(number)
    return counts


def test_a_burst_of_2000_paid_events_is_digested_without_flooding_or_losing_any(
        bot: RunningBot, fake_slack: FakeSlack) -> None:
    fake_slack.enforce_pace(posts_per_second=1.0, burst=3)
    events = [foreign_paid_event(n) for n in range(2000)]
    assert set(post_events(bot, events)) == {200}
    wait_for(lambda: len(announced_numbers(fake_slack)) == 2000, 90, "every payment announced")
    bot.wait_idle(timeout=30)
    counts = announced_numbers(fake_slack)
    assert len(counts) == 2000 and set(counts.values()) == {1}
    posts = fake_slack.calls_to("chat.postMessage")
    assert len([c for c in posts if c.ok]) <= 40
    assert any(m.text.startswith("Invoice digest: ") for m in fake_slack.messages(PAYMENTS_CHANNEL))


def test_sigkill_in_a_burst_of_500_then_restart_loses_and_repeats_nothing(
        tmp_path: Path, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    settings = bot_settings(tmp_path / "burst.db", fake_slack.api_url, fake_stripe.url)
    bot = BotProcess(settings).start()
    fake_slack.enforce_pace(posts_per_second=1.0, burst=1)
    events = [foreign_paid_event(n) for n in range(500)]
    accepted: dict[str, int] = {}

    def send(event: dict[str, Any]) -> None:
        try:
            accepted[event["id"]] = bot.webhook(event).status_code
        except httpx.TransportError:
            accepted[event["id"]] = 0  # the bot is down: Stripe will deliver it again

    try:
        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(send, event) for event in events]
            wait_for(lambda: len(announced_numbers(fake_slack)) >= 1, 30, "the first notice")
            bot.kill()
            for future in futures:
                future.result()
        assert len(announced_numbers(fake_slack)) < 500
        bot = BotProcess(settings).start()
        # Stripe retries what was not acknowledged; an event delivered twice is recorded once.
        redeliver = [event for event in events if accepted[event["id"]] != 200] + events[:50]
        assert set(post_events(bot, redeliver)) == {200}
        wait_for(lambda: len(announced_numbers(fake_slack)) == 500, 90, "every notice after restart")
        bot.wait_idle(timeout=30)
        counts = announced_numbers(fake_slack)
        assert len(counts) == 500 and set(counts.values()) == {1}
    finally:
        bot.stop()


@pytest.mark.parametrize("currency", ["jpy", "kwd"])
def test_notices_format_amounts_per_currency(make_bot: Any, fake_slack: FakeSlack, currency: str) -> None:
    bot = make_bot()
    bot.webhook(foreign_paid_event(7, currency=currency, amount=1250))
    bot.wait_idle()
    (notice,) = notices(fake_slack)
    assert {"jpy": "¥1,250", "kwd": "1.250"}[currency] in notice
    assert WEBHOOK_SECRET not in notice


@pytest.mark.parametrize("in_thread", [False, True])
def test_a_post_interrupted_after_slack_took_it_is_found_not_repeated(
        tmp_path: Path, fake_slack: FakeSlack, in_thread: bool) -> None:
    from bot.adapters.courier import DELIVERY_EVENT_TYPE, Courier
    from bot.adapters.slack import SlackOut, build_web_client
    from bot.store.sqlite import SqliteStore
    from tests.harness import BOT_TOKEN

    def begin_delivery(key: str, channel: str, thread_ts: str | None) -> None:
        with store.unit_of_work(DEFAULT_TENANT) as uow:
            uow.deliveries.begin(key, channel, thread_ts)
            uow.commit()

    store = SqliteStore(str(tmp_path / "courier.db"))
    client = build_web_client(BOT_TOKEN, fake_slack.api_url)
    courier = Courier(store.tenant(DEFAULT_TENANT), SlackOut(client))
    parent = client.chat_postMessage(channel="CSALES", text="parent")["ts"] if in_thread else None
    # The crash: the intent was recorded and Slack took the message, but its ts was never stored.
    begin_delivery("notice:evt_1", "CSALES", parent)
    posted = client.chat_postMessage(channel="CSALES", text="the notice", thread_ts=parent, metadata={
        "event_type": DELIVERY_EVENT_TYPE, "event_payload": {"key": "notice:evt_1"}})["ts"]
    assert courier.post_once("notice:evt_1", "CSALES", "the notice", thread_ts=parent) == posted
    assert courier.post_once("notice:evt_1", "CSALES", "the notice", thread_ts=parent) == posted
    texts = [m.text for m in (fake_slack.thread("CSALES", parent) if parent else fake_slack.messages("CSALES"))]
    assert texts.count("the notice") == 1
    # An intent whose post never reached Slack is posted on the next try.
    begin_delivery("notice:evt_2", "CSALES", parent)
    courier.post_once("notice:evt_2", "CSALES", "second", thread_ts=parent)
    texts = [m.text for m in (fake_slack.thread("CSALES", parent) if parent else fake_slack.messages("CSALES"))]
    assert texts.count("second") == 1
