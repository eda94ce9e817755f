"""Socket Mode: with SLACK_APP_TOKEN set, Slack arrives over a WebSocket; HTTP still serves Stripe and health."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.bootstrap import build
from bot.config import settings_env
from bot.single_instance import SOCKET_MODE, AnotherInstance, InstanceLease, socket_mode_refusal
from bot.store.sqlite import SqliteStore
from tests.fakes.slack_fake import FakeSlack
from tests.fakes.slack_socket import FakeSocketMode
from tests.harness import ROOT, TEAM_ID, free_port, wait_for

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


def test_a_second_socket_mode_instance_on_the_same_database_is_refused(make_bot: Any,
                                                                       socket_mode: FakeSocketMode) -> None:
    first = make_bot(slack_app_token=APP_TOKEN, slack_signing_secret="")
    settings = first.settings.model_copy(update={"port": free_port()})  # the same database
    second = build(settings)
    try:
        with pytest.raises(AnotherInstance) as refused:
            second.start()
        assert str(refused.value).startswith("Socket Mode runs as one instance: another invoicebot (host ")
        assert f"pid {os.getpid()}) holds it since " in str(refused.value)  # the first one, in this process
        assert "DATABASE_URL=postgresql://" in str(refused.value)
        assert second.socket_mode is None and not second.workers.busy()  # nothing of it started
    finally:
        second.stop()
    # `invoicebot serve` says so in one line and exits, before it serves anything.
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **settings_env(settings)}
    serve = subprocess.run([sys.executable, "-m", "bot.cli", "serve", "--env-file", "/dev/null"], env=env, cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    assert serve.returncode == 1, serve.stderr
    assert "invoicebot cannot start: Socket Mode runs as one instance" in serve.stderr
    assert "Traceback" not in serve.stderr, serve.stderr
    # A clean stop gives the lease up: the next instance starts at once.
    first.stop()
    again = build(settings)
    try:
        again.start()
        assert again.socket_mode is not None
    finally:
        again.stop()


def test_an_instance_that_lost_its_lease_is_told_to_stop(tmp_path: Path) -> None:
    """Its renewal found another token (or none) in the row: whatever the lease is for must stop here."""
    store = SqliteStore(str(tmp_path / "lease.db"))
    lost = threading.Event()
    held = InstanceLease(store.leases, SOCKET_MODE, refusal=socket_mode_refusal, renew_every=0.05)
    try:
        held.acquire(on_lost=lost.set)
        assert held.held and not lost.wait(0.3)  # renewed, and kept, several times over
        store.leases.release(SOCKET_MODE, held.token)  # as if it had run out and been taken over
        assert lost.wait(5) and wait_for(lambda: not held.held, 5, "the renewing thread to end")
        held.release()  # gives up nothing it no longer holds, and does not raise
        follower = InstanceLease(store.leases, SOCKET_MODE, refusal=socket_mode_refusal)
        follower.acquire()
        with pytest.raises(AnotherInstance, match=r"another invoicebot \(host .+, pid \d+\) holds it since "):
            InstanceLease(store.leases, SOCKET_MODE, refusal=socket_mode_refusal).acquire()
        follower.release()
    finally:
        store.close()
