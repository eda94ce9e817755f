"""`invoicebot serve` as a real process: it serves, drains on SIGTERM, and resumes after SIGKILL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.slack_fake import FakeSlack
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import WEBHOOK_SECRET, BotProcess, bot_settings, state_values, wait_for


@pytest.fixture
def process_bot(tmp_path: Path, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> Iterator[BotProcess]:
    settings = bot_settings(tmp_path / "proc.db", fake_slack.api_url, fake_stripe.url)
    bot = BotProcess(settings).start()
    fake_stripe.add_webhook_endpoint(bot.url + "/stripe/webhook", WEBHOOK_SECRET)
    yield bot
    bot.stop()


def open_and_submit(bot: BotProcess, fake_slack: FakeSlack) -> str:
    bot.slash("", trigger_id=fake_slack.new_trigger_id(), response_url=fake_slack.response_url())
    call = wait_for(lambda: fake_slack.calls_to("views.open"), what="views.open")[-1]
    view = {**call.args["view"], "id": call.result["view"]["id"]}
    values = {"customer_name": "Crash Test", "customer_email": "crash@example.com",
              "line_1_description": "Resilience", "line_1_unit_amount": "42.00"}
    response = bot.submit(view, values)
    assert response.status_code == 200 and response.json()["response_action"] == "update"
    assert state_values(view, values)
    return str(view["id"])


def test_serves_health_and_exits_cleanly_on_sigterm(process_bot: BotProcess) -> None:
    health = process_bot.http.get("/healthz")
    assert health.status_code == 200 and health.json()["database"] == "ok"
    assert process_bot.terminate(timeout=30) == 0
    assert "Traceback" not in process_bot.log.read_text()


@pytest.mark.parametrize("crash_when", ["draft created", "finalized"])
def test_sigkill_mid_invoice_then_restart_finishes_the_same_invoice(
        process_bot: BotProcess, fake_slack: FakeSlack, fake_stripe: FakeStripe, crash_when: str) -> None:
    # Slow Stripe down so the kill lands between two steps of the job.
    fake_stripe.inject(method="POST", path_prefix="/v1/invoices", latency=0.6)
    open_and_submit(process_bot, fake_slack)
    wanted = "draft" if crash_when == "draft created" else "open"
    wait_for(lambda: [i for i in fake_stripe.objects("invoice") if i["status"] == wanted], timeout=20,
             what=f"an invoice in status {wanted}")
    process_bot.kill()
    fake_stripe.clear_faults()

    restarted = BotProcess(process_bot.settings).start()
    try:
        restarted.wait_idle(timeout=30)
        invoices = fake_stripe.objects("invoice")
        assert len(invoices) == 1, invoices
        assert invoices[0]["status"] == "open"
        assert len(fake_stripe.objects("customer")) == 1
        sent = [e for e in fake_stripe.events if e["type"] == "invoice.sent"]
        assert len(sent) == 1
        messages = [m for m in fake_slack.messages("CSALES") if not m.thread_ts]
        assert len(messages) == 1
    finally:
        restarted.stop()
