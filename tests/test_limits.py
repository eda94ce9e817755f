"""Requests that cost nothing to refuse: oversized and chunked bodies, slow clients, huge headers,
Stripe signatures dated in the future, nesting, response_urls that are not Slack's, and text from
Stripe's side carrying mentions. Each is refused (or shown inert) with nothing stored or posted."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import stripe

from bot.domain.tenants import DEFAULT_TENANT
from bot.jobs.payloads import RefreshCatalog
from tests.fakes.slack_fake import FakeSlack
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import (
    PAYMENTS_CHANNEL,
    SIGNING_SECRET,
    STRIPE_KEY,
    TEAM_ID,
    WEBHOOK_SECRET,
    RunningBot,
    bot_settings,
    slack_signature,
    stripe_signature,
    wait_for,
)

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def bot(slack_server: FakeSlack, stripe_server: FakeStripe, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[RunningBot]:
    slack_server.reset()
    database: Path = tmp_path_factory.mktemp("limits") / "bot.db"
    running = RunningBot(bot_settings(database, slack_server.api_url, stripe_server.url,
                                      http_request_timeout=1.5)).start()
    stripe_server.add_webhook_endpoint(running.url + "/stripe/webhook", WEBHOOK_SECRET)
    yield running
    running.stop()


def stored(bot: RunningBot) -> dict[str, int]:
    bot.wait_idle()
    return {table: bot.rows(f"SELECT count(*) AS n FROM {table}")[0]["n"]
            for table in ("stripe_events", "jobs", "invoices", "audit")}


def connect(bot: RunningBot) -> socket.socket:
    host, port = bot.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def read_status(sock: socket.socket) -> str:
    """The response's status line, or "" when the server closed the connection without one."""
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data.split(b"\r\n", 1)[0].decode("latin-1")


def send_quietly(sock: socket.socket, data: bytes) -> int:
    """Send what the server takes; stop when it hangs up (it refused the rest)."""
    sent = 0
    try:
        for start in range(0, len(data), 64 * 1024):
            sock.sendall(data[start:start + 64 * 1024])
            sent += min(64 * 1024, len(data) - start)
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        pass
    return sent


@pytest.mark.parametrize("path", ["/slack/events", "/stripe/webhook"])
def test_a_declared_oversized_body_is_refused_before_it_is_read(bot: RunningBot, path: str) -> None:
    before = stored(bot)
    sock = connect(bot)
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {256 * MIB}\r\n\r\n".encode())
    assert read_status(sock) == "HTTP/1.1 413 Request Entity Too Large"  # not one body byte was sent
    sock.close()
    assert stored(bot) == before


@pytest.mark.parametrize("path", ["/slack/events", "/stripe/webhook"])
def test_a_chunked_body_is_cut_off_at_the_limit(bot: RunningBot, path: str) -> None:
    """No Content-Length at all: the limit holds while reading, and the rest is never read."""
    before = stored(bot)
    sock = connect(bot)
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n".encode())
    chunk = b"x" * (256 * 1024)
    body = (f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n") * 64  # 16 MiB offered
    sent = send_quietly(sock, body)
    assert read_status(sock) == "HTTP/1.1 413 Request Entity Too Large"
    assert sent < len(body)  # the server hung up long before the client was done
    sock.close()
    assert stored(bot) == before


def test_a_client_trickling_its_request_is_cut_off(bot: RunningBot) -> None:
    sock = connect(bot)
    started = time.monotonic()
    sock.sendall(b"POST /stripe/webhook HTTP/1.1\r\nHost: bot\r\n")
    closed = False
    for _ in range(20):  # one header byte every 0.2 s: each byte used to reset uvicorn's only timer
        try:
            sock.sendall(b"X")
            time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
    if not closed:
        closed = read_status(sock) == ""
    assert closed and time.monotonic() - started < 4.0
    assert bot.http.get("/healthz").status_code == 200  # and the bot serves on


def test_a_connection_that_sends_nothing_is_closed(bot: RunningBot) -> None:
    sock = connect(bot)
    started = time.monotonic()
    assert read_status(sock) == ""
    assert time.monotonic() - started < 4.0


def test_headers_past_64_kib_get_431(bot: RunningBot) -> None:
    sock = connect(bot)
    send_quietly(sock, b"GET /healthz HTTP/1.1\r\nHost: bot\r\n" + b"X-Pad: " + b"a" * (70 * 1024) + b"\r\n\r\n")
    assert read_status(sock) == "HTTP/1.1 431 Request Header Fields Too Large"


def test_a_malformed_content_length_is_refused(bot: RunningBot) -> None:
    response = bot.http.post("/stripe/webhook", content=b"{}", headers={"Content-Length": "2", "X-Test": "1"})
    assert response.status_code == 400  # unsigned
    sock = connect(bot)
    sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Length: 12abc\r\n\r\n")
    assert read_status(sock).split(" ")[1] == "400"


def signed_event(**fields: Any) -> dict[str, Any]:
    return {"id": f"evt_limit_{uuid.uuid4().hex[:10]}", "object": "event", "type": "invoice.paid",
            "created": int(time.time()), "data": {"object": {
                "id": f"in_limit_{uuid.uuid4().hex[:8]}", "object": "invoice", "status": "paid", "currency": "usd",
                "total": 1000, "amount_paid": 1000, "amount_remaining": 0, "number": "LIM-0001", **fields}}}


def test_a_stripe_signature_dated_in_the_future_is_refused(bot: RunningBot) -> None:
    before = stored(bot)
    for ahead in (301, 86400 * 365):
        raw = json.dumps(signed_event())
        response = bot.http.post("/stripe/webhook", content=raw.encode(), headers={
            "Content-Type": "application/json",
            "Stripe-Signature": stripe_signature(WEBHOOK_SECRET, raw, int(time.time()) + ahead)})
        assert response.status_code == 400 and "future" in response.json()["error"]
    assert stored(bot) == before


def nested_event(levels: int) -> tuple[str, str]:
    """(event id, raw body) whose metadata nests `levels` deep (written by hand: json.dumps recurses)."""
    event = signed_event(metadata="@@DEEP@@")
    raw = json.dumps(event).replace('"@@DEEP@@"', '{"x":' * levels + '"bottom"' + "}" * levels)
    return str(event["id"]), raw


def test_a_signed_event_nested_too_deep_fails_once_clearly(bot: RunningBot) -> None:
    before = stored(bot)
    response = bot.webhook(nested_event(1100)[1])
    assert response.status_code == 400 and "nests deeper" in response.json()["error"]
    assert stored(bot) == before


def test_what_the_door_accepts_the_workers_can_read(bot: RunningBot) -> None:
    """Nested past Python's recursion limit but within what the door parses: stored, decided once."""
    event_id, raw = nested_event(1015)
    assert bot.webhook(raw).status_code == 200
    bot.wait_idle()
    decided = bot.app.store.reads(DEFAULT_TENANT).events.get(event_id)
    assert decided is not None and decided.processed_at is not None
    assert bot.job_counts().get("failed") is None


def test_a_response_url_that_is_not_slacks_is_refused_and_never_called(bot: RunningBot,
                                                                        fake_slack: FakeSlack) -> None:
    before = stored(bot)
    body = urlencode({"team_id": TEAM_ID, "channel_id": "CSALES", "user_id": "UREP", "command": "/invoice",
                      "text": "help", "trigger_id": fake_slack.new_trigger_id(),
                      "response_url": "https://attacker.example/hook"})
    ts = str(int(time.time()))
    response = bot.http.post("/slack/events", content=body.encode(), headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": slack_signature(SIGNING_SECRET, ts, body)})
    assert response.status_code == 400 and "response_url" in response.json()["error"]
    assert stored(bot) == before


MENTION = "<!channel> <@U123> <https://evil.example|click>"


def test_stripe_side_text_with_mentions_arrives_inert(bot: RunningBot, fake_slack: FakeSlack,
                                                      fake_stripe: FakeStripe) -> None:
    """Invoice numbers, customer names and failure reasons come from Stripe; product names from
    whoever set up the Stripe account. None of them may ping a channel or forge a link."""
    bot.webhook(signed_event(number=MENTION, customer_name=MENTION, customer_email="x@example.com"))
    failed = signed_event(number=f"FAIL {MENTION}", status="open")
    failed["type"] = "invoice.payment_failed"
    bot.webhook(failed)
    client = stripe.StripeClient(STRIPE_KEY, base_addresses={"api": fake_stripe.url})
    product = client.v1.products.create(params={"name": f"Gold {MENTION}"})
    client.v1.prices.create(params={"product": product.id, "unit_amount": 100, "currency": "usd"})
    bot.app.services.jobs.submit(RefreshCatalog(), f"refresh_catalog:test-{uuid.uuid4().hex[:6]}")
    bot.wait_idle()
    url = fake_slack.response_url("catalog-listing")
    bot.slash("catalog", trigger_id=fake_slack.new_trigger_id(), response_url=url)
    listing = wait_for(lambda: [r for r in fake_slack.responses if r.url == url], 5, "the catalog")[0]
    notices = [m for m in fake_slack.messages(PAYMENTS_CHANNEL)]
    posted = json.dumps([{"text": m.text, "blocks": m.blocks} for m in notices] + [listing])
    assert "FAIL" in posted and "Gold" in listing["text"] and "&lt;!channel&gt;" in posted
    for raw in ("<!channel>", "<@U123>", "<https://evil"):
        assert raw not in posted
