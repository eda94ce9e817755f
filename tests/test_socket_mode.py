"""Socket Mode: with SLACK_APP_TOKEN set, Slack arrives over a WebSocket; HTTP still serves Stripe and health."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.slack_fake import FakeSlack
from tests.fakes.slack_socket import FakeSocketMode
from tests.harness import TEAM_ID, wait_for

APP_TOKEN = "xapp-1-A1-test-socket"


@pytest.fixture
def socket_mode(fake_slack: FakeSlack) -> Iterator[FakeSocketMode]:
    fake = FakeSocketMode(APP_TOKEN).start()
    fake_slack.app_token = APP_TOKEN
    fake_slack.socket_mode_url = lambda: fake.url
    yield fake
    fake_slack.app_token = None
    fake_slack.socket_mode_url = None
    fake.stop()


def slash_payload(fake_slack: FakeSlack, text: str) -> dict[str, Any]:
    return {"token": "legacy", "team_id": TEAM_ID, "team_domain": "acme", "channel_id": "CSALES",
            "channel_name": "sales", "user_id": "UREP", "user_name": "rep", "command": "/invoice", "text": text,
            "api_app_id": "A1", "response_url": fake_slack.response_url(), "trigger_id": fake_slack.new_trigger_id()}


def test_slack_over_socket_mode_and_stripe_over_http(make_bot: Any, fake_slack: FakeSlack,
                                                     socket_mode: FakeSocketMode) -> None:
    bot = make_bot(slack_app_token=APP_TOKEN, slack_signing_secret="")
    assert bot.settings.socket_mode
    ack = socket_mode.push("slash_commands", slash_payload(fake_slack, "help"))
    assert "catalog add" in ack["payload"]["text"]
    socket_mode.push("slash_commands", slash_payload(fake_slack, ""))
    call = wait_for(lambda: fake_slack.calls_to("views.open"), 5, "the modal over Socket Mode")[-1]
    assert call.ok and call.args["view"]["callback_id"] == "invoice_modal"
    # the HTTP server no longer takes Slack's requests, but still serves Stripe and health
    assert bot.post_slack("command=%2Finvoice&text=help").status_code == 404
    assert bot.http.get("/healthz").json()["slack_mode"] == "socket"
    event = {"id": "evt_socket", "object": "event", "type": "customer.created", "created": 1700000000,
             "data": {"object": {"id": "cus_1", "object": "customer"}}}
    assert bot.webhook(event).status_code == 200
    assert [c.method for c in fake_slack.calls if c.method == "apps.connections.open"]
