"""Bounded tables, over the running bot: pruning never lets a duplicate event or a double submit through.

The bot's store runs on a clock these tests move forward by days (the rest of the bot, Slack's and
Stripe's signatures included, keeps real time); pruning runs as the periodic job does, through the
queue. Stripe forgets an idempotency key after 24 hours: the fake is made to forget them too, so
only the bot's own memory (its events, its jobs' keys, its invoices) stands between a resent
request and a duplicate.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.domain.tenants import DEFAULT_TENANT
from bot.jobs.payloads import PruneTables
from bot.store import open_store
from bot.store.retention import DAY
from tests.fakes.slack_fake import FakeSlack
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import (
    PAYMENTS_CHANNEL,
    TEAM_ID,
    WEBHOOK_SECRET,
    RunningBot,
    bot_settings,
    create_invoice,
    open_modal,
)

RETENTION_DAYS = 7


class MovableClock:
    """Real time, plus however many days a test has moved it on."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def bot(tmp_path: Path, fake_slack: FakeSlack, fake_stripe: FakeStripe, clock: MovableClock) -> Iterator[RunningBot]:
    settings = bot_settings(tmp_path / "bot.db", fake_slack.api_url, fake_stripe.url,
                            job_retention_days=RETENTION_DAYS)
    running = RunningBot(settings, store=open_store(settings.database_url, clock=clock)).start()
    fake_stripe.add_webhook_endpoint(running.url + "/stripe/webhook", WEBHOOK_SECRET)
    yield running
    running.stop()


def settle(bot: RunningBot, fake_stripe: FakeStripe) -> None:
    fake_stripe.flush_webhooks()
    bot.wait_idle(timeout=30)


def prune(bot: RunningBot) -> None:
    """What the hourly `PruneTables` job does, now."""
    bot.app.services.jobs.submit(PruneTables(), f"prune_tables:test-{uuid.uuid4().hex[:8]}")
    bot.wait_idle(timeout=30)


def stripe_forgets_idempotency_keys(fake_stripe: FakeStripe) -> None:
    """Stripe keeps an idempotency key for 24 hours; these tests move days ahead."""
    with fake_stripe._state.lock:
        fake_stripe._api._idempotency.clear()


def job_exists(bot: RunningBot, key: str) -> bool:
    return bool(bot.rows("SELECT 1 FROM jobs WHERE key = ?", (key,)))


def stripe_writes_since(fake_stripe: FakeStripe, since: int) -> list[str]:
    return [f"{request.method} {request.path}" for request in fake_stripe.requests[since:]
            if request.method in ("POST", "DELETE")]


def slack_posts(fake_slack: FakeSlack) -> dict[str, int]:
    """How often the bot has said something in Slack, per method."""
    methods = ("chat.postMessage", "chat.update", "chat.postEphemeral", "views.update")
    return {method: len(fake_slack.calls_to(method)) for method in methods} | {"responses": len(fake_slack.responses)}


# --- (a) Stripe events ------------------------------------------------------------------------------
def test_an_event_redelivered_after_its_job_was_pruned_is_neither_processed_nor_announced_again(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe, clock: MovableClock,
        caplog: pytest.LogCaptureFixture) -> None:
    invoice = create_invoice(bot, fake_slack, fake_stripe)
    settle(bot, fake_stripe)
    fake_stripe.pay_invoice(invoice["id"])
    settle(bot, fake_stripe)
    events = fake_stripe.events  # every event of the invoice's life, each stored and decided once
    paid = next(event for event in events if event["type"] == "invoice.paid")
    assert len(fake_slack.messages(PAYMENTS_CHANNEL)) == 1
    decided = bot.app.store.reads(DEFAULT_TENANT).events.get(paid["id"])
    assert decided is not None and decided.processed_at is not None
    said = slack_posts(fake_slack)

    clock.advance(RETENTION_DAYS * DAY + 3600)
    with caplog.at_level(logging.INFO, logger="bot.store.retention"):
        prune(bot)
    assert not job_exists(bot, f"event:{paid['id']}")  # the event's job is gone ...
    assert bot.app.store.reads(DEFAULT_TENANT).events.get(paid["id"]) == decided  # ... the event is not
    lines = [record.getMessage() for record in caplog.records if record.getMessage().startswith("pruned ")]
    assert lines and all("finished jobs" in line and "@" not in line and invoice["id"] not in line
                         for line in lines)

    def redeliver_everything() -> None:
        for event in events:
            response = bot.webhook(event)
            assert response.status_code == 200 and response.json()["duplicate"] is True, event["type"]
        bot.wait_idle(timeout=30)

    redeliver_everything()
    assert not job_exists(bot, f"event:{paid['id']}")  # stored once: no job queued for it again
    assert bot.app.store.reads(DEFAULT_TENANT).events.get(paid["id"]) == decided
    assert slack_posts(fake_slack) == said and len(fake_slack.messages(PAYMENTS_CHANNEL)) == 1

    clock.advance(29 * DAY - (RETENTION_DAYS * DAY + 3600))  # 29 days after it came: still remembered
    prune(bot)
    redeliver_everything()
    assert bot.app.store.reads(DEFAULT_TENANT).events.get(paid["id"]) == decided
    assert slack_posts(fake_slack) == said and len(fake_slack.messages(PAYMENTS_CHANNEL)) == 1

    clock.advance(2 * DAY)  # past 30 days: the event, its job and its posts' records go; the invoice stays
    prune(bot)
    assert bot.app.store.reads(DEFAULT_TENANT).events.get(paid["id"]) is None
    assert bot.rows("SELECT count(*) AS n FROM deliveries WHERE status = 'sent'") == [{"n": 0}]
    assert bot.invoice(invoice["id"]).status == "paid" and bot.audit_for(invoice["id"])


# --- (b) the invoice form ----------------------------------------------------------------------------
@pytest.mark.parametrize("delivery", ["draft", "send"])
def test_a_form_resent_after_its_job_was_pruned_makes_no_second_invoice_and_adds_no_lines(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe, clock: MovableClock, delivery: str) -> None:
    view = open_modal(bot, fake_slack)
    values = {"customer_name": "Jenny Rosen", "customer_email": "jenny@example.com", "currency": "usd",
              "line_1_description": "Services", "line_1_unit_amount": "1234.00", "delivery": delivery}
    assert bot.submit(view, values).json()["response_action"] == "update"
    settle(bot, fake_stripe)
    (invoice,) = fake_stripe.objects("invoice")
    assert len(invoice["lines"]["data"]) == 1 and invoice["total"] == 123400
    sent = [event["type"] for event in fake_stripe.events].count("invoice.sent")
    assert sent == (1 if delivery == "send" else 0)

    clock.advance(RETENTION_DAYS * DAY + 3600)
    prune(bot)
    assert not job_exists(bot, f"create:{view['id']}") and not job_exists(bot, f"publish:{view['id']}")
    stripe_forgets_idempotency_keys(fake_stripe)
    since = len(fake_stripe.requests)

    resent = bot.submit(view, values)  # the same form, the same view id
    assert resent.status_code == 200 and resent.json()["response_action"] == "update"
    settle(bot, fake_stripe)
    assert job_exists(bot, f"create:{view['id']}")  # its key was free: the job ran again ...
    assert stripe_writes_since(fake_stripe, since) == []  # ... and asked Stripe for nothing
    (again,) = fake_stripe.objects("invoice")
    assert again["id"] == invoice["id"] and len(again["lines"]["data"]) == 1 and again["total"] == 123400
    assert len(fake_stripe.objects("customer")) == 1
    assert [event["type"] for event in fake_stripe.events].count("invoice.sent") == sent
    assert len([m for m in fake_slack.messages("CSALES") if not m.thread_ts]) == 1
    # The resent form is answered like the first: the modal says the invoice was created.
    assert "Invoice created" in json.dumps(fake_slack.calls_to("views.update")[-1].args["view"])


def test_a_form_resent_after_its_refused_invoice_was_pruned_stays_refused(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe, clock: MovableClock) -> None:
    view = open_modal(bot, fake_slack)
    values = {"customer_name": "Jenny Rosen", "customer_email": "jenny@example.com",
              "line_1_description": "Services", "line_1_unit_amount": "12.00"}
    fake_stripe.inject(method="POST", path_prefix="/v1/invoices/", status=400, count=None)
    try:
        bot.submit(view, values)
        settle(bot, fake_stripe)
    finally:
        fake_stripe.clear_faults()
    (invoice,) = fake_stripe.objects("invoice") or [None]
    assert invoice is None or invoice.get("status") != "draft"  # the half-built draft was deleted
    said = slack_posts(fake_slack)
    clock.advance(RETENTION_DAYS * DAY + 3600)
    prune(bot)
    assert not job_exists(bot, f"create:{view['id']}")
    stripe_forgets_idempotency_keys(fake_stripe)
    since = len(fake_stripe.requests)
    bot.submit(view, values)
    settle(bot, fake_stripe)
    assert stripe_writes_since(fake_stripe, since) == []
    # No second "not created" message: only the modal, if still open, says so again.
    assert slack_posts(fake_slack) == {**said, "views.update": said["views.update"] + 1}
    assert "Invoice not created" in json.dumps(fake_slack.calls_to("views.update")[-1].args["view"])


# --- (c) buttons and commands ----------------------------------------------------------------------
def press(bot: RunningBot, action_id: str, value: str, message_ts: str, action_ts: str) -> None:
    """A button press exactly as Slack sends it, so that sending it twice is a resend."""
    response = bot.interactive({
        "type": "block_actions", "team": {"id": TEAM_ID, "domain": "acme"},
        "user": {"id": "UREP", "username": "rep", "team_id": TEAM_ID}, "api_app_id": "A123",
        "trigger_id": f"{action_ts}.trigger", "response_url": "",
        "actions": [{"action_id": action_id, "block_id": "b", "value": value, "type": "button",
                     "action_ts": action_ts}],
        "container": {"type": "message", "message_ts": message_ts, "channel_id": "CSALES"},
        "channel": {"id": "CSALES", "name": "sales"}, "message": {"ts": message_ts, "text": ""},
    })
    assert response.status_code == 200, response.text


def answer_jobs(bot: RunningBot) -> dict[str, int]:
    return {row["kind"]: row["n"] for row in bot.rows(
        "SELECT kind, count(*) AS n FROM jobs WHERE kind IN ('answer_action', 'answer_command', 'invoice_action', "
        "'publish_invoice') GROUP BY kind")}


def test_a_button_press_and_a_command_resent_within_the_retention_are_still_deduped(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe, clock: MovableClock) -> None:
    invoice = create_invoice(bot, fake_slack, fake_stripe, delivery="draft")
    settle(bot, fake_stripe)
    (message,) = [m for m in fake_slack.messages("CSALES") if not m.thread_ts]
    action_ts = f"{time.time():.6f}"
    press(bot, "invoice_send", invoice["id"], message.ts, action_ts)
    trigger_id, response_url = fake_slack.new_trigger_id(), fake_slack.response_url()
    assert bot.slash("list", trigger_id=trigger_id, response_url=response_url).status_code == 200
    settle(bot, fake_stripe)
    assert fake_stripe.get(invoice["id"])["status"] == "open"
    assert [event["type"] for event in fake_stripe.events].count("invoice.sent") == 1
    assert len([r for r in fake_slack.responses if r.url == response_url]) == 1
    said, answers = slack_posts(fake_slack), answer_jobs(bot)

    clock.advance((RETENTION_DAYS - 1) * DAY)  # a day short of the retention: the keys are still there
    prune(bot)
    assert job_exists(bot, f"action:{action_ts}:UREP") and job_exists(bot, f"command:{trigger_id}")
    stripe_forgets_idempotency_keys(fake_stripe)
    since = len(fake_stripe.requests)
    press(bot, "invoice_send", invoice["id"], message.ts, action_ts)
    assert bot.slash("list", trigger_id=trigger_id, response_url=response_url).status_code == 200
    settle(bot, fake_stripe)
    assert stripe_writes_since(fake_stripe, since) == []
    assert [event["type"] for event in fake_stripe.events].count("invoice.sent") == 1
    assert slack_posts(fake_slack) == said and answer_jobs(bot) == answers
    assert len([r for r in fake_slack.responses if r.url == response_url]) == 1

    clock.advance(2 * DAY)  # past the retention: those keys go with their jobs
    prune(bot)
    assert not job_exists(bot, f"action:{action_ts}:UREP") and not job_exists(bot, f"command:{trigger_id}")


def test_pruning_keeps_what_it_must_not_touch(bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe,
                                              clock: MovableClock) -> None:
    invoice = create_invoice(bot, fake_slack, fake_stripe)
    settle(bot, fake_stripe)
    tables = ("invoices", "audit", "customers", "routes")
    before = {table: bot.rows(f"SELECT count(*) AS n FROM {table}")[0]["n"] for table in tables}
    clock.advance(400 * DAY)
    prune(bot)
    assert {table: bot.rows(f"SELECT count(*) AS n FROM {table}")[0]["n"] for table in tables} == before
    assert bot.rows("SELECT count(*) AS n FROM stripe_events")[0]["n"] == 0
    assert bot.rows("SELECT count(*) AS n FROM deliveries")[0]["n"] == 0
    # The invoice's own message is found through the invoice, not through its post's record: news
    # a year on updates it in place.
    fake_stripe.pay_invoice(invoice["id"])
    settle(bot, fake_stripe)
    (message,) = [m for m in fake_slack.messages("CSALES") if not m.thread_ts]
    assert message.edited is not None and "Paid" in json.dumps(message.blocks)
    assert len(fake_slack.messages(PAYMENTS_CHANNEL)) == 1
