"""Cross-check against localstripe, a third-party stateful Stripe fake, where it can run our calls."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.adapters.stripe import StripeGateway
from tests.harness import STRIPE_KEY, WEBHOOK_SECRET, RunningBot, free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def localstripe() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tests.fakes.localstripe_loopback", "--port", str(port)],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"localstripe did not start: {process.stderr.read().decode()[-2000:]}") from None
            time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def test_localstripe_listens_on_loopback_only(localstripe: str) -> None:
    port = int(localstripe.rsplit(":", 1)[1])
    listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True)
    if listening.returncode == 0 and listening.stdout.strip():
        assert all("127.0.0.1" in line for line in listening.stdout.strip().splitlines())


def test_gateway_creates_and_finds_customers_and_products(localstripe: str) -> None:
    gateway = StripeGateway(STRIPE_KEY, localstripe, max_network_retries=0)
    created = gateway.create_customer(name="Jenny Rosen", email="jenny@example.com",
                                      description="Created from Slack by user U1", metadata={"slack_user": "U1"},
                                      idempotency_key="view-1:customer")
    assert created["id"].startswith("cus_") and created["email"] == "jenny@example.com"
    found = gateway.find_customer_by_email("jenny@example.com")
    assert found is not None and found["id"] == created["id"]
    assert gateway.find_customer_by_email("nobody@example.com") is None
    product = gateway.create_product(name="Gold Special", idempotency_key="catalog-1:product")
    assert product["id"].startswith("prod_") and product["name"] == "Gold Special"


def test_localstripes_signed_webhooks_are_accepted(localstripe: str, make_bot: object) -> None:
    bot: RunningBot = make_bot()  # type: ignore[operator]
    registered = httpx.post(f"{localstripe}/_config/webhooks/invoicebot", headers={
        "Authorization": f"Bearer {STRIPE_KEY}"}, data={"url": bot.url + "/stripe/webhook", "secret": WEBHOOK_SECRET})
    assert registered.status_code == 200
    customer = StripeGateway(STRIPE_KEY, localstripe, max_network_retries=0).create_customer(
        name="Webhook Test", email="hook@example.com", description="x", metadata={}, idempotency_key="hook-1")
    deadline = time.monotonic() + 15
    while True:
        rows = bot.rows("SELECT type, object_id FROM stripe_events WHERE type = 'customer.created'")
        if any(row["object_id"] == customer["id"] for row in rows):
            break
        assert time.monotonic() < deadline, "localstripe's customer.created never reached the bot"
        time.sleep(0.1)
