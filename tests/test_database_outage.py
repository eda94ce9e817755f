"""PostgreSQL goes away under a running bot and comes back (a restart, a network cut).

A TCP gate between the bot and the server cuts every connection and refuses new ones, as a
restart does. Meanwhile Stripe hears 503 (so it sends the event again), `/healthz` answers 503,
and a person's command, button or form gets "try again in a moment" within Slack's 3 seconds,
never a 500 or silence. When the gate opens, the bot reconnects by itself and the event Stripe
sends again is processed once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from handlers.errors import STORE_DOWN
from tests.contract.conftest import TEST_DATABASE_URL, require_postgres, schema_url
from tests.fakes.slack_fake import FakeSlack
from tests.fakes.tcp_gate import TcpGate
from tests.harness import PAYMENTS_CHANNEL, RunningBot, open_modal, wait_for

SLACK_WINDOW = 3.0  # Slack shows an error when an ack takes longer


def through(url: str, port: int) -> str:
    """`url` with its host and port replaced by the gate's."""
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{port}"))


@pytest.fixture
def gate() -> Iterator[TcpGate]:
    require_postgres()
    server = urlsplit(TEST_DATABASE_URL)
    with TcpGate((server.hostname or "127.0.0.1", server.port or 5432)) as each:
        yield each



def paid(number: int) -> dict[str, Any]:
    invoice_id = f"in_outage{number}"
    return {"id": f"evt_outage{number}", "object": "event", "type": "invoice.paid", "created": int(time.time()),
            "livemode": False, "data": {"object": {
                "id": invoice_id, "object": "invoice", "status": "paid", "currency": "usd", "total": 1000,
                "amount_paid": 1000, "amount_remaining": 0, "customer": "cus_outage", "customer_name": "Outage Ltd",
                "number": f"OUT-{number:04d}", "hosted_invoice_url": f"https://invoice.stripe.com/i/{invoice_id}"}}}


def timed(action: Any) -> tuple[Any, float]:
    began = time.monotonic()
    result = action()
    return result, time.monotonic() - began


def test_a_database_outage_is_answered_clearly_and_the_bot_recovers_by_itself(
        make_bot: Any, fake_slack: FakeSlack, gate: TcpGate, schema: str) -> None:
    bot: RunningBot = make_bot(database_url=through(schema_url(schema), gate.port))
    assert bot.http.get("/healthz").status_code == 200
    assert bot.webhook(paid(1)).status_code == 200
    form = open_modal(bot, fake_slack)

    gate.close()
    health = wait_for(lambda: (r := bot.http.get("/healthz")).status_code == 503 and r, 10, "/healthz to say 503")
    assert health.status_code == 503
    answer, seconds = timed(lambda: bot.webhook(paid(2)))
    assert answer.status_code == 503 and seconds < 10  # never 2xx: Stripe sends it again
    url = fake_slack.response_url("outage")
    answer, seconds = timed(lambda: bot.slash("list", trigger_id=fake_slack.new_trigger_id(), response_url=url))
    assert answer.status_code == 200 and seconds < SLACK_WINDOW
    assert answer.json() == {"response_type": "ephemeral", "text": STORE_DOWN}
    answer, seconds = timed(lambda: bot.block_action("list_more", "0", response_url=url))
    assert answer.status_code == 200 and seconds < SLACK_WINDOW
    wait_for(lambda: any(post.get("text") == STORE_DOWN for post in fake_slack.responses_to("outage")), 5,
             "the button's presser to hear why")
    typed = {"customer_name": "Outage Ltd", "customer_email": "ap@outage.example", "line_1_description": "Work",
             "line_1_unit_amount": "10.00"}
    answer, seconds = timed(lambda: bot.submit(form, typed))
    assert answer.status_code == 200 and seconds < SLACK_WINDOW
    errors = answer.json()["errors"]  # the form stays open, with what was typed
    assert answer.json()["response_action"] == "errors" and list(errors.values()) == [STORE_DOWN]

    gate.open()  # the server is back: nothing restarts the bot
    wait_for(lambda: bot.http.get("/healthz").status_code == 200, 20, "/healthz to recover")
    assert bot.webhook(paid(2)).status_code == 200  # Stripe's retry
    assert bot.webhook(paid(2)).status_code == 200  # and a redelivery: a duplicate
    answered = fake_slack.response_url("after")
    assert bot.slash("list", trigger_id=fake_slack.new_trigger_id(), response_url=answered).status_code == 200
    wait_for(lambda: fake_slack.responses_to("after"), 10, "the command to be answered")
    bot.wait_idle(timeout=20)
    named = " ".join(str(message.blocks) for message in fake_slack.messages(PAYMENTS_CHANNEL))
    assert named.count("OUT-0001") == 1 and named.count("OUT-0002") == 1
