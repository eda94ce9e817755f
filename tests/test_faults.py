"""Fault injection: Stripe failing or slow, Slack refusing, the database locked, the bot killed mid-step."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.domain.tenants import DEFAULT_TENANT
from tests.fakes.slack_fake import FakeSlack
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import (
    WEBHOOK_SECRET,
    BotProcess,
    RunningBot,
    bot_settings,
    create_invoice,
    open_modal,
    wait_for,
)

VALUES = {"customer_name": "Fault Test", "customer_email": "fault@example.com", "line_1_description": "Work",
          "line_1_unit_amount": "10.00"}


def keys_by_path(fake_stripe: FakeStripe) -> dict[tuple[str, str], set[str | None]]:
    keys: dict[tuple[str, str], set[str | None]] = defaultdict(set)
    for request in fake_stripe.requests:
        if request.method == "POST":
            keys[(request.method, request.path)].add(request.idempotency_key)
    return keys


def test_stripe_500s_for_a_while_are_retried_with_the_same_keys(bot: RunningBot, fake_slack: FakeSlack,
                                                                fake_stripe: FakeStripe) -> None:
    fault = fake_stripe.inject(method="POST", path_prefix="/v1/invoices", status=500, count=3)
    invoice = create_invoice(bot, fake_slack, fake_stripe, email="retry@example.com")
    assert fault.hits == 3
    assert fake_stripe.get(invoice["id"])["status"] == "open"
    assert len(fake_stripe.objects("invoice")) == 1
    for (_, path), keys in keys_by_path(fake_stripe).items():
        assert len(keys) == 1, f"{path} was retried with another idempotency key: {keys}"


def test_stripe_429_then_success(bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    fake_stripe.inject(method="POST", path_prefix="/v1/customers", status=429, count=2)
    create_invoice(bot, fake_slack, fake_stripe, email="limited@example.com")
    assert len(fake_stripe.objects("customer")) == 1 and len(fake_stripe.objects("invoice")) == 1


def test_stripe_timing_out_is_retried_without_a_second_invoice(make_bot: Any, fake_slack: FakeSlack,
                                                               fake_stripe: FakeStripe) -> None:
    bot = make_bot(stripe_timeout=0.5)
    # The fake executes the call and then holds the answer past our timeout, like a slow network.
    fake_stripe.inject(method="POST", path_prefix="/v1/invoices", latency=1.0, count=2)
    create_invoice(bot, fake_slack, fake_stripe, email="timeout@example.com")
    bot.wait_idle(timeout=30)
    invoices = fake_stripe.objects("invoice")
    assert len(invoices) == 1 and invoices[0]["status"] == "open"
    assert [e["type"] for e in fake_stripe.events].count("invoice.sent") == 1
    replayed = [r for r in fake_stripe.requests if r.replayed]
    assert replayed, "the retry should have been answered from Stripe's idempotency store"


def test_stripe_down_for_good_tells_the_rep_and_leaves_nothing_half_built(
        make_bot: Any, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    bot = make_bot(job_max_attempts=3)
    fake_stripe.inject(method="POST", path_prefix="/v1/invoices/", status=503)
    try:
        view = open_modal(bot, fake_slack)
        assert bot.submit(view, VALUES).json()["response_action"] == "update"
        wait_for(lambda: bot.job_counts().get("failed"), 30, "the job to give up")
        bot.wait_idle()
    finally:
        fake_stripe.clear_faults()
    assert all(invoice["status"] != "draft" for invoice in fake_stripe.objects("invoice"))
    told = json.dumps([e.args for e in fake_slack.ephemerals]) + json.dumps(
        [c.args for c in fake_slack.calls_to("views.update")])
    assert "not created" in told and "Traceback" not in told


def test_cannot_post_in_the_channel_goes_to_the_reps_dm(bot: RunningBot, fake_slack: FakeSlack,
                                                        fake_stripe: FakeStripe) -> None:
    fake_slack.add_user("UREP")
    fake_slack.add_channel("CPRIVATE", member=False)
    invoice = create_invoice(bot, fake_slack, fake_stripe, channel="CPRIVATE")
    assert fake_slack.messages("CPRIVATE") == []
    (message,) = [m for m in fake_slack.messages("UREP") if not m.thread_ts]
    assert invoice["hosted_invoice_url"] in json.dumps(message.blocks)
    note = fake_slack.thread("UREP", message.ts)
    assert note and "not_in_channel" in note[0].text and "/invite" in note[0].text
    assert bot.invoice(invoice["id"]).message_ts == message.ts


def test_a_payments_channel_that_is_gone_is_reported_to_the_rep(make_bot: Any, fake_slack: FakeSlack,
                                                                fake_stripe: FakeStripe) -> None:
    bot = make_bot(payments_channel="CGONE")
    fake_slack.add_user("UREP")
    invoice = create_invoice(bot, fake_slack, fake_stripe)
    fake_slack.channels.remove("CGONE")
    fake_stripe.pay_invoice(invoice["id"])
    fake_stripe.flush_webhooks()
    bot.wait_idle(timeout=30)
    reports = [m.text for m in fake_slack.messages("UREP") if "couldn't post news" in m.text]
    assert len(reports) == 1 and "channel_not_found" in reports[0] and invoice["number"] in reports[0]
    assert bot.job_counts().get("failed") == 1


def test_slack_5xx_on_the_invoice_message_is_retried(bot: RunningBot, fake_slack: FakeSlack,
                                                     fake_stripe: FakeStripe) -> None:
    fake_slack.http_error("chat.postMessage", status=500, count=4)
    create_invoice(bot, fake_slack, fake_stripe)
    bot.wait_idle(timeout=30)
    assert len([m for m in fake_slack.messages("CSALES") if not m.thread_ts]) == 1


def test_a_locked_database_makes_requests_wait_not_fail(bot: RunningBot) -> None:
    locker = sqlite3.connect(bot.settings.database_url.removeprefix("sqlite:///"), timeout=1)
    locker.execute("BEGIN IMMEDIATE")
    results: list[int] = []
    event = {"id": "evt_locked", "object": "event", "type": "customer.created", "created": int(time.time()),
             "data": {"object": {"id": "cus_1", "object": "customer"}}}
    sender = threading.Thread(target=lambda: results.append(bot.webhook(event).status_code))
    sender.start()
    time.sleep(2.0)
    assert results == []  # still waiting for the writer
    locker.rollback()
    locker.close()
    sender.join(20)
    assert results == [200]
    assert bot.app.store.reads(DEFAULT_TENANT).events.get("evt_locked") is not None
    assert bot.http.get("/healthz").status_code == 200


STEPS = {
    "customer created": lambda fake: bool(fake.objects("customer")),
    "draft created": lambda fake: any(i["status"] == "draft" for i in fake.objects("invoice")),
    "lines added": lambda fake: any(i["status"] == "draft" and i["total"] for i in fake.objects("invoice")),
    "finalized": lambda fake: any(i["status"] == "open" for i in fake.objects("invoice")),
    "sent": lambda fake: any(e["type"] == "invoice.sent" for e in fake.events),
}


@pytest.fixture
def process_bot(tmp_path: Path, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> Iterator[BotProcess]:
    bot = BotProcess(bot_settings(tmp_path / "steps.db", fake_slack.api_url, fake_stripe.url)).start()
    fake_stripe.add_webhook_endpoint(bot.url + "/stripe/webhook", WEBHOOK_SECRET)
    yield bot
    bot.stop()


@pytest.mark.parametrize("step", list(STEPS))
def test_sigkill_after_each_step_then_restart_makes_one_invoice_sent_once_posted_once(
        process_bot: BotProcess, fake_slack: FakeSlack, fake_stripe: FakeStripe, step: str) -> None:
    fake_stripe.inject(method="POST", path_prefix="/v1/", latency=0.4)
    view = open_modal(process_bot, fake_slack)
    assert process_bot.submit(view, VALUES).status_code == 200
    wait_for(lambda: STEPS[step](fake_stripe), 30, step)
    process_bot.kill()
    fake_stripe.clear_faults()
    restarted = BotProcess(process_bot.settings).start()
    try:
        restarted.wait_idle(timeout=30)
        fake_stripe.flush_webhooks()
        restarted.wait_idle(timeout=30)
        assert len(fake_stripe.objects("customer")) == 1
        (invoice,) = fake_stripe.objects("invoice")
        assert invoice["status"] == "open" and invoice["total"] == 1000
        assert [e["type"] for e in fake_stripe.events].count("invoice.sent") == 1
        assert len([m for m in fake_slack.messages("CSALES") if not m.thread_ts]) == 1
    finally:
        restarted.stop()
