"""`invoicebot serve` as a real process: it serves and drains on SIGTERM. (SIGKILL and restart at
every step of an invoice: tests/test_faults.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.slack_fake import FakeSlack
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import WEBHOOK_SECRET, BotProcess, bot_settings


@pytest.fixture
def process_bot(tmp_path: Path, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> Iterator[BotProcess]:
    settings = bot_settings(tmp_path / "proc.db", fake_slack.api_url, fake_stripe.url)
    bot = BotProcess(settings).start()
    fake_stripe.add_webhook_endpoint(bot.url + "/stripe/webhook", WEBHOOK_SECRET)
    yield bot
    bot.stop()


def test_serves_health_and_exits_cleanly_on_sigterm(process_bot: BotProcess) -> None:
    health = process_bot.http.get("/healthz")
    assert health.status_code == 200 and health.json()["database"] == "ok"
    assert process_bot.terminate(timeout=30) == 0
    assert "Traceback" not in process_bot.log.read_text()
