"""Drive the running bot over HTTP exactly as Slack and Stripe do: signed requests, real sockets."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
import uvicorn

from bot.bootstrap import Bot, build
from bot.config import Settings, settings_env
from bot.domain.invoices import Invoice
from bot.domain.records import AuditEntry
from bot.domain.tenants import DEFAULT_TENANT
from bot.http_server import server_config
from bot.store.ports import Store

ROOT = Path(__file__).resolve().parent.parent
SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
WEBHOOK_SECRET = "whsec_test_secret_0123456789"
BOT_TOKEN = "xoxb-test-token"
STRIPE_KEY = "sk_test_fake_key"
PAYMENTS_CHANNEL = "CPAYMENTS"
TEAM_ID = "T123"
POSTGRES_URL_PREFIXES = ("postgresql://", "postgres://")


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def slack_signature(secret: str, timestamp: str, body: str) -> str:
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return f"v0={digest}"


def stripe_signature(secret: str, payload: str, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def bot_settings(database: Path, slack_api_url: str, stripe_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": slack_api_url,
        # The fake Slack serves response_urls too: the only origin they may point at.
        "slack_response_origins": origin(slack_api_url),
        "stripe_api_key": STRIPE_KEY,
        "stripe_webhook_secret": WEBHOOK_SECRET,
        "stripe_api_base": stripe_url,
        "database_url": f"sqlite:///{database}",
        "payments_channel": PAYMENTS_CHANNEL,
        "host": "127.0.0.1",
        "port": free_port(),
        "worker_threads": 2,
        # Short leases: a job of a killed bot is taken up again within a second or two.
        "job_lease_seconds": 2.0,
        # In-process bots (RunningBot) run their workers as threads; `invoicebot serve` (BotProcess)
        # gets its own default, a worker process, below.
        "worker_mode": "inline",
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


CLIENT_ID = "1234567890.9876543210"
CLIENT_SECRET = "test-client-secret-0123456789"
ENCRYPTION_KEY = "kF1vW0m2Bq4yqk0cY6P6bX0dQ2bYq3vF6o1e2vU9c8s="


def oauth_bot_settings(database: Path, slack_api_url: str, stripe_url: str, **overrides: Any) -> Settings:
    """A bot any workspace installs (SLACK_MODE=oauth): no Slack token, Stripe key or payments channel of its own."""
    port = overrides.pop("port", None) or free_port()
    values: dict[str, Any] = {
        "slack_mode": "oauth",
        "slack_client_id": CLIENT_ID,
        "slack_client_secret": CLIENT_SECRET,
        "public_url": f"http://127.0.0.1:{port}",
        "encryption_keys": ENCRYPTION_KEY,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": slack_api_url,
        "slack_response_origins": origin(slack_api_url),
        "stripe_api_base": stripe_url,
        "database_url": f"sqlite:///{database}",
        "host": "127.0.0.1",
        "port": port,
        "worker_threads": 2,
        "job_lease_seconds": 2.0,
        "worker_mode": "inline",
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class BotClient:
    """Sends what Slack and Stripe send, signed as they sign it, to a bot at `url`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=10)

    # --- Slack -> bot ------------------------------------------------------------------------
    def post_slack(self, body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None,
                   content_type: str = "application/x-www-form-urlencoded") -> httpx.Response:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": slack_signature(secret, ts, body),
        }
        return self.http.post("/slack/events", content=body.encode(), headers=headers)

    def slash(self, text: str, *, trigger_id: str, response_url: str, user: str = "UREP",
              channel: str = "CSALES", team: str = TEAM_ID) -> httpx.Response:
        body = urlencode({
            "token": "legacy", "team_id": team, "team_domain": "acme", "channel_id": channel,
            "channel_name": "sales", "user_id": user, "user_name": "rep", "command": "/invoice", "text": text,
            "api_app_id": "A123", "response_url": response_url, "trigger_id": trigger_id,
        })
        return self.post_slack(body)

    def interactive(self, payload: dict[str, Any]) -> httpx.Response:
        return self.post_slack(urlencode({"payload": json.dumps(payload)}))

    def submit(self, view: dict[str, Any], values: dict[str, Any], *, user: str = "UREP",
               team: str = TEAM_ID) -> httpx.Response:
        return self.interactive({
            "type": "view_submission",
            "team": {"id": team, "domain": "acme"},
            "user": {"id": user, "username": "rep", "team_id": team},
            "api_app_id": "A123",
            "trigger_id": f"{uuid.uuid4().int % 10**12}.1.x",
            "view": {**view, "state": {"values": state_values(view, values)}},
        })

    def block_action(self, action_id: str, value: str, *, user: str = "UREP", channel: str = "CSALES",
                     message_ts: str | None = None, view: dict[str, Any] | None = None,
                     response_url: str = "", trigger_id: str = "1.2.3", values: dict[str, Any] | None = None,
                     team: str = TEAM_ID) -> httpx.Response:
        payload: dict[str, Any] = {
            "type": "block_actions",
            "team": {"id": team, "domain": "acme"},
            "user": {"id": user, "username": "rep", "team_id": team},
            "api_app_id": "A123",
            "trigger_id": trigger_id,
            "response_url": response_url,
            "actions": [{"action_id": action_id, "block_id": "b", "value": value, "type": "button",
                         "action_ts": f"{time.time():.6f}"}],
        }
        if view is not None:
            payload["container"] = {"type": "view", "view_id": view["id"]}
            payload["view"] = {**view, "state": {"values": state_values(view, values or {})}}
        else:
            payload["container"] = {"type": "message", "message_ts": message_ts, "channel_id": channel}
            payload["channel"] = {"id": channel, "name": "sales"}
            payload["message"] = {"ts": message_ts, "text": ""}
        return self.interactive(payload)

    def suggest(self, action_id: str, block_id: str, query: str, view: dict[str, Any]) -> httpx.Response:
        return self.interactive({
            "type": "block_suggestion",
            "team": {"id": TEAM_ID, "domain": "acme"},
            "user": {"id": "UREP", "username": "rep", "team_id": TEAM_ID},
            "api_app_id": "A123",
            "action_id": action_id, "block_id": block_id, "value": query,
            "container": {"type": "view", "view_id": view["id"]},
            "view": view,
        })

    # --- Stripe -> bot -----------------------------------------------------------------------
    def webhook(self, event: dict[str, Any] | str, *, secret: str = WEBHOOK_SECRET,
                timestamp: int | None = None, path: str = "/stripe/webhook") -> httpx.Response:
        raw = event if isinstance(event, str) else json.dumps(event)
        return self.http.post(path, content=raw.encode(), headers={
            "Content-Type": "application/json", "Stripe-Signature": stripe_signature(secret, raw, timestamp)})


class RunningBot(BotClient):
    """The bot's ASGI app under uvicorn in a background thread, on a free loopback port."""

    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        super().__init__(f"http://127.0.0.1:{settings.port}")
        self.settings = settings
        self.app: Bot = build(settings, store=store)
        config = server_config(self.app, log_level="warning")
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> RunningBot:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the bot did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(15)
        self.http.close()

    def idle(self) -> bool:
        return self.app.workers.busy() == 0 and self.app.store.queue.stats().due == 0

    def wait_idle(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.idle():
            if time.monotonic() > deadline:
                raise AssertionError(f"jobs still pending after {timeout}s: {self.job_counts()}")
            time.sleep(0.02)

    # --- what the bot knows ------------------------------------------------------------------
    def invoice(self, invoice_id: str) -> Invoice:
        found = self.app.store.reads(DEFAULT_TENANT).invoices.get(invoice_id)
        assert found is not None, f"the bot does not know {invoice_id}"
        return found

    def audit_for(self, invoice_id: str) -> list[AuditEntry]:
        return self.app.store.reads(DEFAULT_TENANT).audit.for_invoice(invoice_id)

    def job_counts(self) -> dict[str, int]:
        stats = self.app.store.queue.stats()
        return {**stats.counts, "due": stats.due}

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return query_database(self.settings.database_url, sql, params)

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        """A test's own write (say, moving a due date into the past), on a connection of its own."""
        execute_database(self.settings.database_url, sql, params)


class BotProcess(BotClient):
    """`invoicebot serve` as its own process, so tests can SIGTERM or SIGKILL it."""

    def __init__(self, settings: Settings, log: Path | None = None) -> None:
        """`log` receives the process's output: by default beside its SQLite file (a PostgreSQL
        database has no file to sit beside, so name one)."""
        super().__init__(f"http://127.0.0.1:{settings.port}")
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        if log is None and not settings.database_url.startswith("sqlite:///"):
            raise ValueError("a bot on PostgreSQL needs a log path")
        self.log = log or Path(settings.database_url.removeprefix("sqlite:///")).with_suffix(".log")

    def start(self) -> BotProcess:
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **settings_env(self.settings),
               "WORKER_MODE": "process"}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--env-file", "/dev/null"],
                                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                if self.http.get("/healthz").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the bot process did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)

    def jobs(self) -> dict[str, int]:
        """Jobs per status, and `due` (unfinished work), read from the database beside the bot."""
        counts = {row["status"]: row["n"] for row in self.rows("SELECT status, count(*) AS n FROM jobs GROUP BY "
                                                                "status")}
        due = self.rows("SELECT count(*) AS n FROM jobs WHERE status = 'running' OR (status = 'pending' AND "
                        "(run_after <= ? OR lane <> 'periodic' OR attempts > 0))", (time.time(),))
        return {**counts, "due": due[0]["n"]}

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return query_database(self.settings.database_url, sql, params)

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        """A test's own write (say, moving a due date into the past), on a connection of its own."""
        execute_database(self.settings.database_url, sql, params)

    def wait_idle(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.jobs()["due"]:
                return
            time.sleep(0.05)
        raise AssertionError(f"jobs still pending after {timeout}s: {self.jobs()}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.http.close()


def query_database(database_url: str, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Raw SQL for tests (`?` placeholders, as the bot's shared SQL writes them), on a connection of
    its own: WAL (SQLite) or MVCC (PostgreSQL) lets it read beside the bot."""
    if database_url.startswith(POSTGRES_URL_PREFIXES):
        import psycopg
        from psycopg.rows import dict_row

        from bot.store.postgres import to_pyformat

        with psycopg.connect(database_url, autocommit=True, connect_timeout=5, row_factory=dict_row) as connection:
            return list(connection.execute(to_pyformat(sql), params).fetchall())
    import sqlite3

    with contextlib.closing(sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=10)) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute(sql, params)]


def execute_database(database_url: str, sql: str, params: tuple[Any, ...] = ()) -> None:
    """A test's own write, committed on a connection of its own (`?` placeholders)."""
    if database_url.startswith(POSTGRES_URL_PREFIXES):
        import psycopg

        from bot.store.postgres import to_pyformat

        with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as connection:
            connection.execute(to_pyformat(sql), params)
        return
    import sqlite3

    with contextlib.closing(sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=10)) as db:
        db.execute(sql, params)
        db.commit()


def state_values(view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Slack's `view.state.values` for the given block_id -> value, shaped per element type."""
    state: dict[str, Any] = {}
    for block in view.get("blocks", []):
        if block.get("type") != "input":
            continue
        block_id, element = block["block_id"], block["element"]
        kind, action_id = element["type"], element.get("action_id", block_id)
        if block_id in values:
            value = values[block_id]
        elif kind in ("static_select", "radio_buttons", "external_select"):
            initial = element.get("initial_option")
            value = initial["value"] if initial else None
        else:
            value = element.get("initial_value")
        if kind in ("multi_external_select", "multi_static_select", "checkboxes"):  # a list of values
            if block_id not in values:
                value = [option["value"] for option in element.get("initial_options") or []]
            state[block_id] = {action_id: {"type": kind, "selected_options": [
                {"value": item, "text": {"type": "plain_text", "text": str(item)}} for item in value or []]}}
        elif kind in ("static_select", "radio_buttons", "external_select"):
            state[block_id] = {action_id: {"type": kind, "selected_option": (
                {"value": value, "text": {"type": "plain_text", "text": str(value)}} if value else None)}}
        else:
            state[block_id] = {action_id: {"type": kind, "value": value}}
    return state


def wait_for(probe: Any, timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while not (result := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
    return result


def open_modal(bot: BotClient, fake_slack: Any, text: str = "", channel: str = "CSALES",
               user: str = "UREP") -> dict[str, Any]:
    """Type /invoice and return the modal the bot opened (with its view id)."""
    before = len(fake_slack.calls_to("views.open"))
    response = bot.slash(text, trigger_id=fake_slack.new_trigger_id(), response_url=fake_slack.response_url(),
                         channel=channel, user=user)
    assert response.status_code == 200, response.text
    wait_for(lambda: len(fake_slack.calls_to("views.open")) > before, 5, "views.open")
    call = fake_slack.calls_to("views.open")[-1]
    assert call.ok, call.error
    return {**call.args["view"], "id": call.result["view"]["id"]}


def create_invoice(bot: Any, fake_slack: Any, fake_stripe: Any, *, name: str = "Jenny Rosen",
                   email: str = "jenny@example.com", amount: str = "1234.00", currency: str = "usd",
                   delivery: str = "send", user: str = "UREP", channel: str = "CSALES") -> dict[str, Any]:
    """The whole Slack flow: /invoice, fill in, submit; returns the invoice as the fake Stripe has it."""
    known = {invoice["id"] for invoice in fake_stripe.objects("invoice")}
    view = open_modal(bot, fake_slack, channel=channel, user=user)
    response = bot.submit(view, {"customer_name": name, "customer_email": email, "currency": currency,
                                 "line_1_description": "Services", "line_1_unit_amount": amount,
                                 "delivery": delivery}, user=user)
    assert response.status_code == 200 and response.json().get("response_action") == "update", response.text
    bot.wait_idle()
    created = [invoice for invoice in fake_stripe.objects("invoice") if invoice["id"] not in known]
    assert len(created) == 1
    return created[0]


# For the handful of end-to-end tests worth running on both engines (see `db_backend` in
# tests/conftest.py): the bots `make_bot` (and `bot`) start are on SQLite, then on PostgreSQL.
on_both_databases = pytest.mark.parametrize("db_backend", ["sqlite", "postgres"], indirect=True)
