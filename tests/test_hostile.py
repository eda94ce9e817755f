"""Hostile input at every door, table-driven.

Every surface the bot reads (modal fields, `/invoice` text, button values, select-menu searches,
Stripe webhooks, Slack's request headers and bodies) gets mention and link injection, 10,000
characters, control characters, unusual Unicode, bad numbers, forged or replayed signatures and
broken bodies. Each case must get a clear answer (a field error on the right block, an ephemeral
message, or a 4xx saying why), store nothing half-way (no Stripe write, no `stripe_events` row, no
job), and leave the bot serving. On every test's teardown, `guard` also checks that no secret and
no stack trace reached Slack or an HTTP answer, and that none of the raw injections below reached
any text Slack would render (user text must arrive escaped).

One bot serves the whole module; the tests compare counts before and after instead of resetting.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.fakes.slack_fake import FakeSlack
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import (
    BOT_TOKEN,
    PAYMENTS_CHANNEL,
    SIGNING_SECRET,
    STRIPE_KEY,
    TEAM_ID,
    WEBHOOK_SECRET,
    RunningBot,
    bot_settings,
    stripe_signature,
)

# --- the attacks -----------------------------------------------------------------------------------
RAW_INJECTIONS = ("<!channel>", "<!here>", "<!everyone>", "<@U123>", "<#C123>", "<https://evil|click>")
INJECTION = " ".join(RAW_INJECTIONS) + " &lt;!here&gt;"  # the entity must arrive as &amp;lt;, not as <
LONG = "A" * 10_000
LONG_DIGITS = "9" * 10_000
SECRETS = (SIGNING_SECRET, WEBHOOK_SECRET, BOT_TOKEN, STRIPE_KEY)
TRACE_MARKERS = ("Traceback", 'File "')


# --- the harness around one bot -----------------------------------------------------------------------
@dataclass
class Hostile:
    bot: RunningBot
    slack: FakeSlack
    stripe: FakeStripe
    database: Path
    bodies: list[tuple[str, int, str]] = field(default_factory=list)  # (path, status, text) this test

    # state --------------------------------------------------------------------------------------------
    def query(self, sql: str) -> int:
        with sqlite3.connect(self.database) as db:  # a reader of its own; WAL lets it read alongside the bot
            return int(db.execute(sql).fetchone()[0])

    def counts(self) -> dict[str, int]:
        return {
            "stripe writes": sum(1 for r in self.stripe.requests if r.method != "GET"),
            # Work queued (a reply to the request itself is not: it answers, it changes nothing).
            "jobs": self.query("SELECT count(*) FROM jobs WHERE lane NOT IN ('periodic', 'replies')"),
            # What a Slack request itself queued (its job then queues follow-ups, such as the message).
            "requests": self.query("SELECT count(*) FROM jobs WHERE kind IN "
                                   "('create_invoice', 'invoice_action', 'catalog_add')"),
            "stripe_events": self.query("SELECT count(*) FROM stripe_events"),
            "invoices": self.query("SELECT count(*) FROM invoices"),
            "customers": self.query("SELECT count(*) FROM customers"),
            "prices": self.query("SELECT count(*) FROM prices"),
            "audit": self.query("SELECT count(*) FROM audit"),
            "routes": self.query("SELECT count(*) FROM routes"),
        }

    def settle(self) -> None:
        self.bot.wait_idle()

    # Slack -> bot ---------------------------------------------------------------------------------
    def post_slack(self, body: str | bytes, *, secret: str = SIGNING_SECRET, timestamp: str | None = None,
                   signature: str | None = None, content_type: str = "application/x-www-form-urlencoded",
                   signed: bool = True) -> httpx.Response:
        raw = body.encode() if isinstance(body, str) else body
        ts = str(int(time.time())) if timestamp is None else timestamp
        headers = {"Content-Type": content_type}
        if signed:
            digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + raw, hashlib.sha256).hexdigest()
            headers["X-Slack-Request-Timestamp"] = ts
            headers["X-Slack-Signature"] = signature if signature is not None else f"v0={digest}"
        response = self.bot.http.post("/slack/events", content=raw, headers=headers)
        if response.status_code >= 500:
            # Let the server thread finish logging the exception first: on CPython 3.11.7 a traceback
            # formatted there while pytest parses source for its report can raise a spurious
            # "AST constructor recursion depth mismatch" (python/cpython gh-106905, pytest #10763).
            time.sleep(0.2)
        return response

    def interactive(self, payload: Any) -> httpx.Response:
        return self.post_slack(urlencode({"payload": json.dumps(payload)}))

    def slash(self, text: str, *, user: str = "UREP", **fields: str) -> httpx.Response:
        body = {"token": "legacy", "team_id": TEAM_ID, "team_domain": "acme", "channel_id": "CSALES",
                "channel_name": "sales", "user_id": user, "user_name": "rep", "command": "/invoice",
                "text": text, "api_app_id": "A123", "response_url": self.slack.response_url(),
                "trigger_id": self.slack.new_trigger_id(), **fields}
        return self.post_slack(urlencode({k: v for k, v in body.items() if v is not None}))

    def open_modal(self, text: str = "") -> dict[str, Any]:
        before = len(self.slack.calls_to("views.open"))
        assert self.slash(text).status_code == 200
        wait_for(lambda: len(self.slack.calls_to("views.open")) > before, "views.open")
        call = self.slack.calls_to("views.open")[-1]
        assert call.ok, call.error
        return {**call.args["view"], "id": call.result["view"]["id"]}

    def submit(self, view: dict[str, Any], values: dict[str, Any], *, user: str = "UREP") -> httpx.Response:
        return self.interactive({
            "type": "view_submission", "team": {"id": TEAM_ID}, "user": {"id": user, "team_id": TEAM_ID},
            "api_app_id": "A123", "trigger_id": f"{uuid.uuid4().int % 10**12}.1.x",
            "view": {**view, "state": {"values": modal_state(values)}},
        })

    def press(self, action_id: str, value: str, *, user: str = "UREP", action_ts: str | None = None,
              response_url: str | None = None) -> httpx.Response:
        return self.interactive(button_payload(action_id, value, user=user, action_ts=action_ts,
                                               response_url=response_url or self.slack.response_url()))

    def suggest(self, action_id: str, query: Any, view: dict[str, Any]) -> httpx.Response:
        return self.interactive({
            "type": "block_suggestion", "team": {"id": TEAM_ID}, "user": {"id": "UREP"}, "api_app_id": "A123",
            "action_id": action_id, "block_id": "customer" if action_id == "customer_search" else "line_1_price",
            "value": query, "container": {"type": "view", "view_id": view["id"]}, "view": view,
        })

    # Stripe -> bot --------------------------------------------------------------------------------
    def webhook(self, body: str | bytes, *, signature: str | None = None, secret: str = WEBHOOK_SECRET,
                timestamp: int | None = None, headers: dict[str, Any] | None = None) -> httpx.Response:
        raw = body.encode() if isinstance(body, str) else body
        if signature is None:
            signature = stripe_signature(secret, raw.decode("utf-8", "replace"), timestamp)
        sent = {"Content-Type": "application/json", "Stripe-Signature": signature, **(headers or {})}
        return self.bot.http.post("/stripe/webhook", content=raw,
                                  headers={k: v for k, v in sent.items() if v is not None})


def wait_for(probe: Callable[[], Any], what: str, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := probe()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)
    return result


SELECTS = {"customer": ("external_select", "customer_search"), "currency": ("static_select", "currency"),
           "delivery": ("radio_buttons", "delivery")}


def modal_state(values: dict[str, Any]) -> dict[str, Any]:
    """Slack's `view.state.values` for block_id -> value (any block id, any value: forged views too)."""
    state: dict[str, Any] = {}
    for block_id, value in values.items():
        kind, action_id = SELECTS.get(block_id, ("external_select", "price_search") if block_id.endswith("_price")
                                      else ("plain_text_input", block_id))
        if kind == "plain_text_input":
            state[block_id] = {action_id: {"type": kind, "value": value}}
        else:
            option = {"value": value, "text": {"type": "plain_text", "text": str(value)[:75]}}
            state[block_id] = {action_id: {"type": kind, "selected_option": option if value is not None else None}}
    return state


def button_payload(action_id: str, value: Any, *, user: str = "UREP", action_ts: str | None = None,
                   response_url: str = "") -> dict[str, Any]:
    return {
        "type": "block_actions", "team": {"id": TEAM_ID}, "user": {"id": user, "team_id": TEAM_ID},
        "api_app_id": "A123", "trigger_id": "1.2.3", "response_url": response_url,
        "container": {"type": "message", "message_ts": "1.000001", "channel_id": "CSALES"},
        "channel": {"id": "CSALES", "name": "sales"}, "message": {"ts": "1.000001", "text": ""},
        "actions": [{"action_id": action_id, "block_id": "invoice_actions", "value": value, "type": "button",
                     "action_ts": action_ts or f"{time.time():.6f}"}],
    }


def rendered_strings(value: Any, skip: frozenset[str] = frozenset({"initial_value", "value", "url"})) -> Iterator[str]:
    """Every string Slack would render: input echoes (`initial_value`), ids and URLs are not rendered as mrkdwn."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in skip:
                yield from rendered_strings(item, skip)
    elif isinstance(value, list):
        for item in value:
            yield from rendered_strings(item, skip)
    elif isinstance(value, str):
        yield value


def assert_inert(where: str, value: Any) -> None:
    for text in rendered_strings(value):
        for raw in RAW_INJECTIONS:
            assert raw not in text, f"raw {raw} reached {where}: {text[:300]!r}"


def assert_no_leak(where: str, text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"a secret reached {where}"
    for marker in TRACE_MARKERS:
        assert marker not in text, f"a stack trace reached {where}: {text[:500]!r}"


# --- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def h(slack_server: FakeSlack, stripe_server: FakeStripe, tmp_path_factory: pytest.TempPathFactory
      ) -> Iterator[Hostile]:
    slack_server.reset()
    stripe_server.reset()
    database = tmp_path_factory.mktemp("hostile") / "bot.db"
    bot = RunningBot(bot_settings(database, slack_server.api_url, stripe_server.url)).start()
    hostile = Hostile(bot, slack_server, stripe_server, database)

    def record(response: httpx.Response) -> None:
        response.read()
        hostile.bodies.append((response.request.url.path, response.status_code, response.text))

    bot.http.close()
    # A fresh connection per request: a 500 from an exception makes uvicorn drop the connection.
    bot.http = httpx.Client(base_url=bot.url, timeout=10, headers={"Connection": "close"},
                            event_hooks={"response": [record]})
    hostile.settle()
    yield hostile
    bot.stop()


@pytest.fixture(autouse=True)
def guard(h: Hostile) -> Iterator[None]:
    """After each case: nothing leaked or rendered raw, and the bot still answers."""
    h.settle()
    calls, responses, ephemerals = len(h.slack.calls), len(h.slack.responses), len(h.slack.ephemerals)
    h.bodies.clear()
    yield
    h.settle()
    for call in h.slack.calls[calls:]:
        assert_no_leak(f"Slack {call.method}", json.dumps(call.args))
        assert_inert(f"Slack {call.method}", call.args)
    for post in h.slack.responses[responses:]:
        assert_no_leak("a response_url", json.dumps(dict(post)))
        assert_inert("a response_url", dict(post))
    for ephemeral in h.slack.ephemerals[ephemerals:]:
        assert_no_leak("an ephemeral", json.dumps(ephemeral.args))
        assert_inert("an ephemeral", ephemeral.args)
    for path, status, text in h.bodies:
        assert_no_leak(f"the answer to {path} ({status})", text)
        try:
            answer = json.loads(text) if text else {}
        except ValueError:
            answer = text
        if isinstance(answer, dict) and answer.get("response_action") == "errors":
            # Field errors are plain text under the input; they may quote what was typed, briefly.
            assert all(isinstance(m, str) and 0 < len(m) <= 300 for m in answer["errors"].values()), answer
        else:
            assert_inert(f"the answer to {path}", answer)
    health = h.bot.http.get("/healthz")
    assert health.status_code == 200 and health.json()["ok"] is True, health.text
    help_answer = h.slash("help")
    assert help_answer.status_code == 200 and "catalog add" in help_answer.json()["text"], help_answer.text


@pytest.fixture(scope="module")
def modal(h: Hostile) -> dict[str, Any]:
    """One opened modal for the submissions that must be refused (nothing is keyed on it then)."""
    return h.open_modal()


def assert_unchanged(h: Hostile, before: dict[str, int]) -> None:
    h.settle()
    assert h.counts() == before


# --- modal fields ---------------------------------------------------------------------------------
VALID = {"customer_name": "Jenny Rosen", "customer_email": "jenny@example.com", "currency": "usd",
         "line_1_description": "Consulting", "line_1_quantity": "1", "line_1_unit_amount": "10.00",
         "days_until_due": "30", "memo": "", "delivery": "send"}

FIELD_CASES: list[tuple[str, dict[str, Any], str]] = [
    # customer (external select): only what the search offered, i.e. a customer the bot knows
    ("customer unknown id", {"customer": "cus_doesnotexist"}, "customer"),
    ("customer mention", {"customer": "<!channel>"}, "customer"),
    ("customer 10k", {"customer": LONG}, "customer"),
    ("customer nul", {"customer": "cus_\x00"}, "customer"),
    ("customer not a string", {"customer": {"id": "cus_1"}}, "customer"),
    ("no customer at all", {"customer_name": None, "customer_email": None}, "customer"),
    # customer_name
    ("name 10k", {"customer_name": LONG}, "customer_name"),
    ("name nul", {"customer_name": "Jen\x00ny"}, "customer_name"),
    ("name escape sequence", {"customer_name": "Jenny \x1b[31mRosen"}, "customer_name"),
    ("name rtl override", {"customer_name": "Jenny \u202egnp.exe"}, "customer_name"),
    ("name line separator", {"customer_name": "Jenny\u2028Rosen"}, "customer_name"),
    ("name not a string", {"customer_name": ["Jenny"]}, "customer_name"),
    # customer_email
    ("email channel mention", {"customer_email": "<!channel>@example.com"}, "customer_email"),
    ("email user mention", {"customer_email": "<@U123>"}, "customer_email"),
    ("email link", {"customer_email": "<https://evil|click>"}, "customer_email"),
    ("email entity", {"customer_email": "&lt;!here&gt;@example.com"}, "customer_email"),
    ("email 10k", {"customer_email": "a" * 10_000 + "@example.com"}, "customer_email"),
    ("email nul", {"customer_email": "jen\x00ny@example.com"}, "customer_email"),
    ("email rtl override", {"customer_email": "jenny\u202e@example.com"}, "customer_email"),
    ("email zero width", {"customer_email": "jen\u200bny@example.com"}, "customer_email"),
    ("email full-width at", {"customer_email": "jenny\uff20example.com"}, "customer_email"),
    # currency (static select)
    ("currency unknown", {"currency": "xyz"}, "currency"),
    ("currency mention", {"currency": "<!channel>"}, "currency"),
    ("currency 10k", {"currency": LONG}, "currency"),
    ("currency nul", {"currency": "usd\x00"}, "currency"),
    ("currency full-width", {"currency": "\uff35\uff33\uff24"}, "currency"),
    ("currency missing", {"currency": None}, "currency"),
    # line_1_description
    ("description 10k", {"line_1_description": LONG}, "line_1_description"),
    ("description nul", {"line_1_description": "Work\x00"}, "line_1_description"),
    ("description rtl override", {"line_1_description": "Work \u202edlrow"}, "line_1_description"),
    ("description escape sequence", {"line_1_description": "\x1b]0;owned\x07"}, "line_1_description"),
    # line_1_quantity
    ("quantity zero", {"line_1_quantity": "0"}, "line_1_quantity"),
    ("quantity negative", {"line_1_quantity": "-1"}, "line_1_quantity"),
    ("quantity 1e2", {"line_1_quantity": "1e2"}, "line_1_quantity"),
    ("quantity abc", {"line_1_quantity": "abc"}, "line_1_quantity"),
    ("quantity decimal", {"line_1_quantity": "1.5"}, "line_1_quantity"),
    ("quantity circled digit", {"line_1_quantity": "\u2462"}, "line_1_quantity"),
    ("quantity superscript", {"line_1_quantity": "\u00b2"}, "line_1_quantity"),
    ("quantity 10k digits", {"line_1_quantity": LONG_DIGITS}, "line_1_quantity"),
    ("quantity too many", {"line_1_quantity": "1000001"}, "line_1_quantity"),
    ("quantity mention", {"line_1_quantity": "<!channel>"}, "line_1_quantity"),
    # line_1_unit_amount
    ("amount negative", {"line_1_unit_amount": "-5"}, "line_1_unit_amount"),
    ("amount unicode minus", {"line_1_unit_amount": "\u22125.00"}, "line_1_unit_amount"),
    ("amount zero", {"line_1_unit_amount": "0"}, "line_1_unit_amount"),
    ("amount zero decimals", {"line_1_unit_amount": "0.00"}, "line_1_unit_amount"),
    ("amount huge", {"line_1_unit_amount": "123456789"}, "line_1_unit_amount"),
    ("amount 10k digits", {"line_1_unit_amount": LONG_DIGITS}, "line_1_unit_amount"),
    ("amount 10k letters", {"line_1_unit_amount": LONG}, "line_1_unit_amount"),
    ("amount too many decimals", {"line_1_unit_amount": "10.001"}, "line_1_unit_amount"),
    ("amount 1e9", {"line_1_unit_amount": "1e9"}, "line_1_unit_amount"),
    ("amount NaN", {"line_1_unit_amount": "NaN"}, "line_1_unit_amount"),
    ("amount Infinity", {"line_1_unit_amount": "Infinity"}, "line_1_unit_amount"),
    ("amount -Infinity", {"line_1_unit_amount": "-Infinity"}, "line_1_unit_amount"),
    ("amount european", {"line_1_unit_amount": "1.000,00"}, "line_1_unit_amount"),
    ("amount ambiguous comma", {"line_1_unit_amount": "1,00"}, "line_1_unit_amount"),
    ("amount other currency", {"line_1_unit_amount": "\u20ac10"}, "line_1_unit_amount"),
    ("amount arabic-indic digits", {"line_1_unit_amount": "\u0661\u0660"}, "line_1_unit_amount"),
    ("amount mention", {"line_1_unit_amount": "<!channel>"}, "line_1_unit_amount"),
    ("amount nul", {"line_1_unit_amount": "10\x00"}, "line_1_unit_amount"),
    ("amount not a string", {"line_1_unit_amount": 10}, "line_1_unit_amount"),
    # line_1_price (external select)
    ("price unknown", {"line_1_price": "price_bogus"}, "line_1_price"),
    ("price mention", {"line_1_price": "<!channel>"}, "line_1_price"),
    ("price 10k", {"line_1_price": LONG}, "line_1_price"),
    # days_until_due
    ("days zero", {"days_until_due": "0"}, "days_until_due"),
    ("days 366", {"days_until_due": "366"}, "days_until_due"),
    ("days negative", {"days_until_due": "-1"}, "days_until_due"),
    ("days abc", {"days_until_due": "abc"}, "days_until_due"),
    ("days 1e2", {"days_until_due": "1e2"}, "days_until_due"),
    ("days 10k digits", {"days_until_due": LONG_DIGITS}, "days_until_due"),
    ("days circled digit", {"days_until_due": "\u2462"}, "days_until_due"),
    ("days empty", {"days_until_due": ""}, "days_until_due"),
    ("days number not text", {"days_until_due": 30}, "days_until_due"),
    # memo
    ("memo 501", {"memo": "x" * 501}, "memo"),
    ("memo 10k", {"memo": LONG}, "memo"),
    ("memo nul", {"memo": "Thanks\x00"}, "memo"),
    ("memo rtl override", {"memo": "Thanks \u202e!"}, "memo"),
    # delivery (radio buttons)
    ("delivery bogus", {"delivery": "bogus"}, "delivery"),
    ("delivery mention", {"delivery": "<!channel>"}, "delivery"),
    ("delivery 10k", {"delivery": LONG}, "delivery"),
]


@pytest.mark.parametrize(("overrides", "block_id"), [pytest.param(o, b, id=i) for i, o, b in FIELD_CASES])
def test_modal_field_is_refused_on_its_block(h: Hostile, modal: dict[str, Any], overrides: dict[str, Any],
                                             block_id: str) -> None:
    before = h.counts()
    response = h.submit(modal, {**VALID, **overrides})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer.get("response_action") == "errors", answer
    assert block_id in answer["errors"], answer["errors"]
    known = {block.get("block_id") for block in modal["blocks"]}
    assert set(answer["errors"]) <= known, answer["errors"]
    assert_unchanged(h, before)


def test_251_lines_are_refused_on_the_last_line(h: Hostile, modal: dict[str, Any]) -> None:
    lines = {f"line_{n}_{field}": value for n in range(1, 252)
             for field, value in (("description", f"Item {n}"), ("quantity", "1"), ("unit_amount", "1.00"))}
    before = h.counts()
    answer = h.submit(modal, {**VALID, **lines}).json()
    assert answer["response_action"] == "errors" and "at most 250" in answer["errors"]["line_251_description"]
    assert_unchanged(h, before)


@pytest.mark.parametrize("block_id", ["line_99999999_description", "line_1000000000000_unit_amount"])
def test_an_absurd_line_number_is_refused_at_once(h: Hostile, modal: dict[str, Any], block_id: str) -> None:
    before = h.counts()
    started = time.monotonic()
    answer = h.submit(modal, {**VALID, block_id: "1"}).json()
    assert time.monotonic() - started < 2
    assert answer["response_action"] == "errors" and "at most 250" in answer["errors"][block_id]
    assert_unchanged(h, before)


def test_unusual_but_honest_unicode_is_accepted_exactly(h: Hostile) -> None:
    """Emoji, combining marks, zero-width joiners, other scripts and full-width digits are real input."""
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # joined by zero-width joiners
    name = f"Zoe\u0308 \U0001f4b8 Z\u0337a\u0335l\u0338g\u0336o {family} \u062c\u0646\u064a"
    view = h.open_modal()
    before = h.counts()
    answer = h.submit(view, {**VALID, "customer_name": name, "customer_email": "zoe@example.com",
                             "line_1_description": "Caf\u00e9\u200b \u2615 \u6f22\u5b57", "line_1_quantity": "\uff12",
                             "line_1_unit_amount": "\uff11\uff10\uff0e\uff15\uff10",
                             "line_2_description": "Setup", "line_2_unit_amount": "1,000.00",
                             "days_until_due": "\uff11\uff14", "memo": "Line one\nLine two \U0001f44d"}).json()
    assert answer.get("response_action") == "update", answer
    h.settle()
    assert h.counts()["requests"] == before["requests"] + 1
    invoice = h.stripe.objects("invoice")[-1]
    assert invoice["total"] == 2 * 1050 + 100000 and invoice["description"] == "Line one\nLine two \U0001f44d"
    create = [r for r in h.stripe.requests if r.method == "POST" and r.path == "/v1/invoices"][-1]
    assert create.params["days_until_due"] == 14
    assert h.stripe.objects("customer")[-1]["name"] == name
    message = [m for m in h.slack.messages("CSALES") if not m.thread_ts][-1]
    assert name in json.dumps(message.blocks, ensure_ascii=False)


# --- forged modal state (signed, but not what Slack sends) -------------------------------------------
def view_submission(view: Any, *, user: Any = None) -> dict[str, Any]:
    return {"type": "view_submission", "team": {"id": TEAM_ID}, "user": user or {"id": "UREP"},
            "api_app_id": "A123", "trigger_id": "1.2.3", "view": view}


def modal_like(**changes: Any) -> dict[str, Any]:
    view = {"id": "VFORGED", "type": "modal", "callback_id": "invoice_modal", "private_metadata": "{}",
            "state": {"values": modal_state(VALID)}}
    view.update(changes)
    return {key: value for key, value in view.items() if value is not None}


SHAPE_CASES: list[tuple[str, Any]] = [
    ("view missing", view_submission(None)),
    ("view is a list", view_submission([1, 2])),
    ("view without id", view_submission(modal_like(id=None))),
    ("view without type", view_submission(modal_like(type=None))),
    ("view without state", view_submission(modal_like(state=None))),
    ("state values is a list", view_submission(modal_like(state={"values": []}))),
    ("state block is a string", view_submission(modal_like(state={"values": {"customer": "x"}}))),
    ("state element is a number", view_submission(modal_like(state={"values": {"memo": {"memo": 5}}}))),
    ("metadata not JSON", view_submission(modal_like(private_metadata="{not json"))),
    ("metadata a list", view_submission(modal_like(private_metadata="[1]"))),
    ("metadata lines not a number", view_submission(modal_like(private_metadata='{"lines": "abc"}'))),
    ("user missing", {**view_submission(modal_like()), "user": None}),
    ("user without id", view_submission(modal_like(), user={"name": "x"})),
    ("actions empty", {**button_payload("invoice_void", "in_1"), "actions": []}),
    ("actions not a list", {**button_payload("invoice_void", "in_1"), "actions": {"action_id": "invoice_void"}}),
    ("action without action_id", {**button_payload("invoice_void", "in_1"), "actions": [{"value": "in_1"}]}),
    ("action value not a string", button_payload("invoice_void", {"id": "in_1"})),
    ("button without user", {**button_payload("invoice_void", "in_1"), "user": None}),
    ("button without trigger_id", {**button_payload("invoice_void", "in_1"), "trigger_id": None}),
    ("add line without view", button_payload("add_line", "2")),
    ("add line with forged metadata", {**button_payload("add_line", "2"),
                                       "view": modal_like(private_metadata='{"lines": [1]}')}),
    ("suggestion without action_id", {"type": "block_suggestion", "user": {"id": "UREP"}, "value": "x"}),
    ("suggestion value not a string", {"type": "block_suggestion", "user": {"id": "UREP"},
                                       "action_id": "customer_search", "value": {"q": 1}}),
    ("event without event", {"type": "event_callback", "team_id": TEAM_ID}),
    ("home opened without user", {"type": "event_callback", "team_id": TEAM_ID,
                                  "event": {"type": "app_home_opened", "tab": "home"}}),
    ("type not a string", {"type": ["view_submission"], "user": {"id": "UREP"}}),
]


@pytest.mark.parametrize("payload", [pytest.param(p, id=i) for i, p in SHAPE_CASES])
def test_payload_of_the_wrong_shape_gets_400_with_a_reason(h: Hostile, payload: Any) -> None:
    before = h.counts()
    calls = len(h.slack.calls)
    is_event = payload.get("type") == "event_callback"
    response = (h.post_slack(json.dumps(payload), content_type="application/json") if is_event
                else h.interactive(payload))
    assert response.status_code == 400, response.text
    assert "malformed Slack payload" in response.json()["error"]
    assert_unchanged(h, before)
    assert [c.method for c in h.slack.calls[calls:]] == []


@pytest.mark.parametrize("fields", [
    pytest.param({"trigger_id": None}, id="no trigger_id"),
    pytest.param({"channel_id": None}, id="no channel_id"),
    pytest.param({"user_id": None}, id="no user_id"),
    pytest.param({"response_url": None}, id="no response_url"),
    pytest.param({"user_id": ""}, id="empty user_id"),
])
@pytest.mark.parametrize("text", ["", 'catalog add "Gold" 10 usd', "help"])
def test_slash_command_missing_fields_gets_400(h: Hostile, fields: dict[str, Any], text: str) -> None:
    before = h.counts()
    response = h.slash(text, **fields)
    assert response.status_code == 400 and "the command lacks" in response.json()["error"], response.text
    assert_unchanged(h, before)


# --- /invoice text --------------------------------------------------------------------------------
COMMAND_REFUSALS: list[tuple[str, str, str]] = [
    ("catalog add nothing", "catalog add", "I need a name, an amount and a currency"),
    ("catalog add extra word", 'catalog add "Gold" 10 usd extra', "I need a name, an amount and a currency"),
    ("catalog add unclosed quote", 'catalog add "Gold 10 usd', "a quote is not closed"),
    ("catalog add negative", 'catalog add "Gold" -5 usd', "minus"),
    ("catalog add zero", 'catalog add "Gold" 0 usd', "more than zero"),
    ("catalog add huge", 'catalog add "Gold" 123456789 usd', "too large"),
    ("catalog add 10k digits", f'catalog add "Gold" {LONG_DIGITS} usd', "too large"),
    ("catalog add too many decimals", 'catalog add "Gold" 10.001 usd', "at most 2 decimals"),
    ("catalog add 1e9", 'catalog add "Gold" 1e9 usd', "all the digits"),
    ("catalog add NaN", 'catalog add "Gold" NaN usd', "in digits"),
    ("catalog add Infinity", 'catalog add "Gold" Infinity usd', "in digits"),
    ("catalog add european", 'catalog add "Gold" 1.000,00 usd', "dot"),
    ("catalog add amount mention", 'catalog add "Gold" "<!channel>" usd', "isn't an amount"),
    ("catalog add unknown currency", 'catalog add "Gold" 10 xyz', "not a currency Stripe supports"),
    ("catalog add currency mention", 'catalog add "Gold" 10 "<!here>"', "not a currency Stripe supports"),
    ("catalog add currency 10k", f'catalog add "Gold" 10 {LONG}', "not a currency Stripe supports"),
    ("catalog add name 10k", f'catalog add "{LONG}" 10 usd', "1 to 250 characters"),
    ("catalog add name empty", 'catalog add "" 10 usd', "1 to 250 characters"),
    ("catalog add name nul", 'catalog add "Gold\x00" 10 usd', "invisible character"),
    ("catalog add name escape", 'catalog add "Gold\x1b[2J" 10 usd', "invisible character"),
    ("catalog add name rtl override", 'catalog add "Gold \u202eplh" 10 usd', "invisible character"),
    ("route rep mention", "route rep <!channel> <#C123>", "Usage"),
    ("route unknown kind", "route <!here> x <#C123>", "Usage"),
]


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param(t, e, id=i)
    for i, t, e in COMMAND_REFUSALS
])
def test_command_refusal_is_an_ephemeral_answer(h: Hostile, text: str, expected: str) -> None:
    before = h.counts()
    response = h.slash(text)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["response_type"] == "ephemeral" and expected in answer["text"], answer
    assert_unchanged(h, before)
    assert len(answer["text"]) < 1000, f"{len(answer['text'])} characters"


@pytest.mark.parametrize("text", [
    pytest.param(t, id=i) for i, t in [
        ("channel mention", "<!channel>"), ("here mention", "<!here> please"), ("user mention", "<@U123>"),
        ("channel link", "<#C123|general>"), ("link", "<https://evil|click>"), ("entity", "&lt;!here&gt;"),
        ("10k", LONG), ("nul", "\x00"), ("escape", "\x1b[31m"), ("rtl override", "\u202ecatalog"),
        ("zero width", "\u200bcatalog"), ("emoji", "\U0001f4b8"),
        ("full-width", "\uff43\uff41\uff54\uff41\uff4c\uff4f\uff47"),
    ]
])
def test_unknown_command_text_gets_escaped_help(h: Hostile, text: str) -> None:
    before = h.counts()
    answer = h.slash(text).json()
    assert answer["response_type"] == "ephemeral" and "catalog add" in answer["text"]
    assert len(answer["text"]) < 2000  # the unknown word is quoted at most 50 characters long
    assert_unchanged(h, before)


@pytest.mark.parametrize("email", ["<!channel>", "<@U123>", LONG, "jen\x00ny@example.com", "jenny\u202e@example.com",
                                   "<mailto:<!channel>|x>"])
def test_new_with_a_hostile_email_opens_an_empty_form(h: Hostile, email: str) -> None:
    before = h.counts()
    view = h.open_modal(f'new "{email}"')
    email_block = next(b for b in view["blocks"] if b.get("block_id") == "customer_email")
    assert "initial_value" not in email_block["element"]
    assert_unchanged(h, before)


def test_route_by_someone_who_is_not_an_admin_changes_nothing(h: Hostile) -> None:
    before = h.counts()
    responses = len(h.slack.responses)
    assert h.slash("route customer <!channel>@example.com <#C123>").status_code == 200
    wait_for(lambda: len(h.slack.responses) > responses, "the refusal")
    assert "Only invoicing admins" in h.slack.responses[-1]["text"]
    assert_unchanged(h, before)


def test_a_replayed_catalog_add_creates_one_product(h: Hostile) -> None:
    h.slack.add_user("UADMIN", is_admin=True)
    body = urlencode({"team_id": TEAM_ID, "channel_id": "CSALES", "user_id": "UADMIN", "command": "/invoice",
                      "text": 'catalog add "Replayed" 7.00 usd', "response_url": h.slack.response_url(),
                      "trigger_id": h.slack.new_trigger_id()})
    ts = str(int(time.time()))
    products = len(h.stripe.objects("product"))
    first = h.post_slack(body, timestamp=ts)
    again = h.post_slack(body, timestamp=ts)  # byte for byte the same request, same signature
    assert first.status_code == again.status_code == 200
    h.settle()
    assert len(h.stripe.objects("product")) == products + 1


# --- user text displayed in Slack -----------------------------------------------------------------
@pytest.fixture(scope="module")
def shown(h: Hostile) -> dict[str, Any]:
    """A catalog price and an invoice whose user-typed text is every injection at once."""
    responses = len(h.slack.responses)
    h.slack.add_user("UADMIN", is_admin=True)  # the catalog is the admins'
    assert h.slash(f'catalog add "{INJECTION} Gold" 10.00 usd', user="UADMIN").status_code == 200
    h.settle()
    created = h.slack.responses[responses:]
    assert "&lt;!channel&gt;" in created[0]["text"] and created[0]["text"].startswith("Creating")
    price = h.stripe.objects("price")[-1]
    view = h.open_modal()
    answer = h.submit(view, {**VALID, "customer_name": f"{INJECTION} Jenny", "customer_email": "inject@example.com",
                             "line_1_description": f"{INJECTION} work", "line_2_price": price["id"],
                             "line_2_quantity": "2", "memo": INJECTION}).json()
    assert answer.get("response_action") == "update", answer
    h.settle()
    invoice = h.stripe.objects("invoice")[-1]
    message = [m for m in h.slack.messages("CSALES") if not m.thread_ts][-1]
    return {"price": price, "invoice": invoice, "message": message, "created": created, "view": view}


def test_catalog_names_arrive_escaped(h: Hostile, shown: dict[str, Any]) -> None:
    assert shown["created"] and "&lt;!channel&gt;" in shown["created"][-1]["text"]
    assert_inert("the catalog answer", [dict(r) for r in shown["created"]])
    answers = len(h.slack.responses)
    assert h.slash("catalog").status_code == 200
    listing = wait_for(lambda: h.slack.responses[answers:], "the catalog listing")[0]["text"]
    assert "&lt;!channel&gt; &lt;!here&gt;" in listing and "&amp;lt;!here&amp;gt;" in listing


def test_invoice_message_shows_the_customer_escaped(h: Hostile, shown: dict[str, Any]) -> None:
    message = shown["message"]
    dumped = json.dumps(message.blocks)
    assert "&lt;!channel&gt;" in dumped and "&amp;lt;!here&amp;gt;" in dumped
    assert_inert("the invoice message", {"text": message.text, "blocks": message.blocks})
    assert shown["invoice"]["total"] == 1000 + 2 * 1000


@pytest.mark.parametrize("text", [pytest.param(t, id=i) for i, t in [
    ("list matching the injected customer", "list channel"), ("list mention", "list <!channel>"),
    ("list 10k", f"list {LONG}"), ("list status and nul", "list open \x00"), ("list sql", "list \"' OR 1=1 --\""),
    ("list like wildcards", "list %_%"), ("show mention", "show <!channel>"), ("show 10k", f"show {LONG}"),
    ("show rtl override", "show in_\u202e1"), ("show extra words", "show INV-0001 <!here>"),
    ("audit mention", "audit <@U123>"),
]])
def test_browsing_with_hostile_text_answers_the_user_alone(h: Hostile, shown: dict[str, Any], text: str) -> None:
    before = h.counts()
    responses = len(h.slack.responses)
    response = h.slash(text)
    assert response.status_code == 200, response.text
    if response.content:  # refused at once
        assert response.json()["response_type"] == "ephemeral" and response.json()["text"]
    else:  # answered through the response_url
        answer = wait_for(lambda: h.slack.responses[responses:], "the ephemeral answer")[-1]
        assert answer["response_type"] == "ephemeral" and (answer.get("text") or answer.get("blocks"))
        if text == "list channel":
            assert "&lt;!channel&gt;" in json.dumps(answer["blocks"])
    assert_unchanged(h, before)


@pytest.mark.parametrize("action_id", ["customer_search", "price_search"])
@pytest.mark.parametrize("query", [
    pytest.param(q, id=i) for i, q in [
        ("empty", ""), ("injected text", "<!channel>"), ("channel", "channel"), ("10k", LONG), ("percent", "%"),
        ("underscore", "_"), ("backslash", "\\"), ("sql", "' OR 1=1 --"), ("nul", "\x00"),
        ("rtl override", "\u202e"), ("emoji", "\U0001f4b8"), ("entity", "&lt;"),
    ]
])
def test_searches_answer_escaped_options(h: Hostile, shown: dict[str, Any], action_id: str, query: str) -> None:
    before = h.counts()
    response = h.suggest(action_id, query, shown["view"])
    assert response.status_code == 200, response.text
    options = response.json()["options"]
    assert isinstance(options, list)
    for option in options:
        assert option["text"]["type"] == "plain_text" and 0 < len(option["text"]["text"]) <= 75
        assert isinstance(option["value"], str) and len(option["value"]) <= 150
    if query in ("", "channel"):
        texts = " ".join(option["text"]["text"] for option in options)
        assert "&lt;!channel&gt;" in texts, options
    assert_unchanged(h, before)


def test_add_line_keeps_the_picks_with_escaped_labels(h: Hostile, shown: dict[str, Any]) -> None:
    customer = h.query("SELECT count(*) FROM customers WHERE email = 'inject@example.com'")
    assert customer == 1
    with sqlite3.connect(h.database) as db:
        customer_id = db.execute("SELECT stripe_id FROM customers WHERE email = 'inject@example.com'").fetchone()[0]
    view = h.open_modal()
    updates = len(h.slack.calls_to("views.update"))
    response = h.interactive({**button_payload("add_line", "2"), "view": {
        **view, "state": {"values": modal_state({**VALID, "customer": customer_id, "line_1_price": shown["price"]["id"],
                                                 "customer_name": INJECTION})}}})
    assert response.status_code == 200
    wait_for(lambda: len(h.slack.calls_to("views.update")) > updates, "views.update")
    call = h.slack.calls_to("views.update")[-1]
    assert call.ok, call.error
    dumped = json.dumps(call.args["view"])
    assert "&lt;!channel&gt;" in dumped and "line_2_description" in dumped


@pytest.mark.parametrize("values", [
    pytest.param({"currency": "xyz"}, id="unknown currency"),
    pytest.param({"currency": LONG, "line_1_unit_amount": "10"}, id="10k currency"),
    pytest.param({"line_1_unit_amount": LONG, "line_1_description": LONG, "customer_name": LONG, "memo": LONG},
                 id="10k everywhere"),
    pytest.param({"customer": "<!channel>", "line_1_price": "price_bogus"}, id="unknown picks"),
    pytest.param({"line_1_quantity": LONG_DIGITS, "days_until_due": LONG_DIGITS}, id="10k digits"),
    pytest.param({"line_1_unit_amount": 5, "line_1_price": {"x": 1}}, id="values of the wrong type"),
])
def test_add_line_with_hostile_values_still_updates_the_modal(h: Hostile, values: dict[str, Any]) -> None:
    modal = h.open_modal()  # a modal of its own: opening another one closes the previous (as in Slack)
    before = h.counts()
    updates = len(h.slack.calls_to("views.update"))
    response = h.interactive({**button_payload("add_line", "2"),
                              "view": {**modal, "state": {"values": modal_state({**VALID, **values})}}})
    assert response.status_code == 200, response.text
    wait_for(lambda: len(h.slack.calls_to("views.update")) > updates, "views.update")
    call = h.slack.calls_to("views.update")[-1]
    assert call.ok, call.error
    assert "line_2_description" in json.dumps(call.args["view"])
    assert_unchanged(h, before)


# --- buttons --------------------------------------------------------------------------------------
BUTTONS = ["invoice_send", "invoice_void", "invoice_uncollectible", "invoice_remind"]


@pytest.mark.parametrize("action_id", BUTTONS)
@pytest.mark.parametrize("value", [pytest.param(v, id=i) for i, v in [
    ("bogus id", "in_bogus"), ("empty", ""), ("mention", "<!channel>"), ("10k", LONG), ("nul", "in_\x00"),
    ("sql", "' OR '1'='1"), ("rtl", "in_\u202e1"),
]])
def test_button_with_an_unknown_invoice_says_so(h: Hostile, action_id: str, value: str) -> None:
    before = h.counts()
    responses = len(h.slack.responses)
    response = h.press(action_id, value)
    assert response.status_code == 200, response.text
    wait_for(lambda: len(h.slack.responses) > responses, "the ephemeral answer")
    answer = h.slack.responses[-1]
    assert answer["response_type"] == "ephemeral" and "don't know that invoice" in answer["text"]
    assert answer.get("replace_original") is False
    assert_unchanged(h, before)


@pytest.mark.parametrize("action_id", ["invoice_void", "invoice_uncollectible"])
def test_someone_elses_invoice_cannot_be_voided_or_written_off(h: Hostile, shown: dict[str, Any],
                                                               action_id: str) -> None:
    invoice_id = shown["invoice"]["id"]
    before = h.counts()
    responses = len(h.slack.responses)
    stripe_status = h.stripe.get(invoice_id)["status"]
    action_ts = f"{time.time():.6f}"
    for _ in range(2):  # and the same press replayed: refused, and answered once
        assert h.press(action_id, invoice_id, user="UOTHER", action_ts=action_ts).status_code == 200
    wait_for(lambda: len(h.slack.responses) >= responses + 1, "the refusal")
    h.settle()
    refusals = h.slack.responses[responses:]
    assert len(refusals) == 1 and "Only the rep who created this invoice" in refusals[0]["text"]
    assert h.stripe.get(invoice_id)["status"] == stripe_status
    assert_unchanged(h, before)


def test_a_replayed_button_press_acts_once(h: Hostile, shown: dict[str, Any]) -> None:
    invoice_id = shown["invoice"]["id"]
    sends = sum(1 for r in h.stripe.requests if r.path == f"/v1/invoices/{invoice_id}/send")
    requests = h.counts()["requests"]
    payload = urlencode({"payload": json.dumps(button_payload("invoice_remind", invoice_id,
                                                              response_url=h.slack.response_url()))})
    ts = str(int(time.time()))
    assert h.post_slack(payload, timestamp=ts).status_code == 200
    assert h.post_slack(payload, timestamp=ts).status_code == 200  # the same signed bytes again
    h.settle()
    assert h.counts()["requests"] == requests + 1
    assert sum(1 for r in h.stripe.requests if r.path == f"/v1/invoices/{invoice_id}/send") == sends + 1


# --- Slack's door: headers and bodies -------------------------------------------------------------
HELP_BODY = urlencode({"command": "/invoice", "text": "help", "user_id": "U1", "channel_id": "C1", "team_id": TEAM_ID,
                       "trigger_id": "1.2.3", "response_url": "https://hooks.slack.com/x"})


def _now(offset: int = 0) -> str:
    return str(int(time.time()) + offset)


SLACK_FORGERIES: list[Any] = [
    pytest.param({"secret": "wrong-secret"}, id="wrong secret"),
    pytest.param({"timestamp": -6 * 60}, id="stale timestamp (replay after 5 minutes)"),
    pytest.param({"timestamp": +6 * 60}, id="timestamp in the future"),
    pytest.param({"signed": False}, id="unsigned"),
    pytest.param({"signature": ""}, id="empty signature"),
    pytest.param({"signature": "v0=" + "0" * 64}, id="zero signature"),
    pytest.param({"signature": "v1=" + "0" * 64}, id="other scheme"),
    pytest.param({"signature": "v0=" + "a" * 10_000}, id="10k signature"),
    pytest.param({"timestamp": "abc"}, id="timestamp not a number"),
    pytest.param({"timestamp": LONG_DIGITS}, id="timestamp 10k digits"),
]


@pytest.mark.parametrize("forgery", SLACK_FORGERIES)
def test_forged_slack_requests_get_401(h: Hostile, forgery: dict[str, Any]) -> None:
    calls = len(h.slack.calls)
    before = h.counts()
    forgery = dict(forgery)
    timestamp = forgery.pop("timestamp", None)
    if isinstance(timestamp, int):
        timestamp = _now(timestamp)
    response = h.post_slack(HELP_BODY, timestamp=timestamp, **forgery)
    assert response.status_code == 401, response.text
    assert response.json() == {"error": "invalid request"}
    assert [c.method for c in h.slack.calls[calls:]] == []
    assert_unchanged(h, before)


def test_forged_body_under_a_valid_signature_of_another_body_gets_401(h: Hostile) -> None:
    ts = _now()
    signature = "v0=" + hmac.new(SIGNING_SECRET.encode(), f"v0:{ts}:{HELP_BODY}".encode(), hashlib.sha256).hexdigest()
    tampered = HELP_BODY.replace("help", "catalog+add+Evil+1+usd")
    before = h.counts()
    assert h.post_slack(tampered, timestamp=ts, signature=signature).status_code == 401
    assert_unchanged(h, before)


def test_oversized_slack_body_gets_413(h: Hostile) -> None:
    before = h.counts()
    response = h.post_slack(HELP_BODY + "&pad=" + "x" * (1024 * 1024 + 1))
    assert response.status_code == 413 and "larger than" in response.json()["error"]
    assert_unchanged(h, before)


BROKEN_BODIES: list[Any] = [
    pytest.param(b"payload=%7Bnot-json", "application/x-www-form-urlencoded", id="payload not JSON"),
    pytest.param(b"payload=hello", "application/x-www-form-urlencoded", id="payload a bare word"),
    pytest.param(b"payload=%5B1%2C2%5D", "application/x-www-form-urlencoded", id="payload a JSON list"),
    pytest.param(b"payload=%22x%22", "application/x-www-form-urlencoded", id="payload a JSON string"),
    pytest.param(b"payload=null", "application/x-www-form-urlencoded", id="payload null"),
    pytest.param(b"payload=" + b"%5B" * 100_000, "application/x-www-form-urlencoded", id="payload nested 100k deep"),
    pytest.param(b"text=\xff\xfe&command=%2Finvoice", "application/x-www-form-urlencoded", id="not UTF-8"),
    pytest.param(b"{oops", "application/json", id="JSON body not JSON"),
]


@pytest.mark.parametrize(("body", "content_type"), BROKEN_BODIES)
def test_broken_slack_body_gets_400(h: Hostile, body: bytes, content_type: str) -> None:
    before = h.counts()
    response = h.post_slack(body, content_type=content_type)
    assert response.status_code == 400, response.text
    assert "error" in response.json()
    assert_unchanged(h, before)


@pytest.mark.parametrize(("body", "content_type"), BROKEN_BODIES[:2])
def test_unsigned_broken_slack_body_gets_401(h: Hostile, body: bytes, content_type: str) -> None:
    response = h.post_slack(body, content_type=content_type, signed=False)
    assert response.status_code == 401, response.text


@pytest.mark.parametrize(("body", "content_type"), BROKEN_BODIES)
def test_broken_slack_body_never_breaks_the_bot(h: Hostile, body: bytes, content_type: str) -> None:
    """Whatever the body, an error without a trace, and the bot serves on."""
    before = h.counts()
    response = h.post_slack(body, content_type=content_type)
    assert 400 <= response.status_code < 500, response.text  # refused as the client's fault, never a 500
    assert "Traceback" not in response.text
    assert_unchanged(h, before)


def test_unknown_payload_type_gets_404_with_a_reason(h: Hostile) -> None:
    response = h.interactive({"type": "bogus_type", "user": {"id": "UREP"}})
    assert response.status_code == 404 and response.json() == {"error": "unhandled request"}


# --- Stripe's door: webhooks ----------------------------------------------------------------------
def stripe_event(event_id: str | None = None, **invoice: Any) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_hostile_{uuid.uuid4().hex[:12]}", "object": "event", "type": "invoice.paid",
        "created": int(time.time()), "livemode": False,
        "data": {"object": {"id": f"in_hostile_{uuid.uuid4().hex[:8]}", "object": "invoice", "status": "paid",
                            "currency": "usd", "total": 1000, "amount_paid": 1000, "amount_remaining": 0,
                            "customer": "cus_hostile", "number": "HOST-0001", **invoice}},
    }


def with_object(**changes: Any) -> str:
    event = stripe_event()
    event["data"]["object"].update(changes)
    return json.dumps(event)


def with_event(**changes: Any) -> str:
    return json.dumps({**stripe_event(), **changes})


VALID_EVENT = json.dumps(stripe_event("evt_hostile_template"))

WEBHOOK_SIGNATURE_CASES: list[Any] = [
    pytest.param({"secret": "whsec_wrong"}, "no signature matches", id="wrong secret"),
    pytest.param({"timestamp": int(time.time()) - 301}, "timestamp", id="stale (replayed after 5 minutes)"),
    pytest.param({"signature": None, "headers": {"Stripe-Signature": None}}, "missing", id="missing header"),
    pytest.param({"signature": ""}, "missing", id="empty header"),
    pytest.param({"signature": "nonsense"}, "malformed", id="garbage header"),
    pytest.param({"signature": "t=abc,v1=" + "0" * 64}, "", id="timestamp not a number"),
    pytest.param({"signature": f"t={int(time.time())}"}, "", id="no v1"),
    pytest.param({"signature": f"t={int(time.time())},v0=" + "0" * 64}, "", id="only v0"),
    pytest.param({"signature": f"t={int(time.time())},v1=" + "0" * 10_000}, "", id="10k signature"),
    pytest.param({"signature": "t=1,v1=<!channel>"}, "", id="mention in header"),
]


@pytest.mark.parametrize(("signing", "reason"), WEBHOOK_SIGNATURE_CASES)
def test_forged_webhooks_get_400_and_store_nothing(h: Hostile, signing: dict[str, Any], reason: str) -> None:
    before = h.counts()
    response = h.webhook(VALID_EVENT, **signing)
    assert response.status_code == 400, response.text
    assert reason in response.json()["error"]
    assert_unchanged(h, before)


def test_tampered_webhook_body_gets_400(h: Hostile) -> None:
    header = stripe_signature(WEBHOOK_SECRET, VALID_EVENT)
    before = h.counts()
    response = h.webhook(VALID_EVENT.replace("1000", "9999"), signature=header)
    assert response.status_code == 400 and "no signature matches" in response.json()["error"]
    assert_unchanged(h, before)


def test_several_v1_signatures_one_valid_is_accepted(h: Hostile) -> None:
    body = json.dumps(stripe_event())
    valid = stripe_signature(WEBHOOK_SECRET, body)
    timestamp, good = valid.split(",")
    response = h.webhook(body, signature=f"{timestamp},v1={'0' * 64},{good}")
    assert response.status_code == 200 and response.json()["duplicate"] is False


WEBHOOK_BODY_CASES: list[Any] = [
    pytest.param(b"", "", id="empty"),
    pytest.param(b"\xff\xfe{}", "UTF-8", id="not UTF-8"),
    pytest.param(b"{not json", "JSON", id="not JSON"),
    pytest.param(b"[1, 2, 3]", "id and type", id="a list"),
    pytest.param(b'"evt_1"', "id and type", id="a string"),
    pytest.param(b"null", "id and type", id="null"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, "JSON", id="nested 100k deep"),
    pytest.param(b'{"type": "invoice.paid"}', "id and type", id="no id"),
    pytest.param(b'{"id": "evt_x"}', "id and type", id="no type"),
    pytest.param(with_event(id=5).encode(), "id and type", id="id a number"),
    pytest.param(with_event(id="evt_" + LONG).encode(), "at most 255", id="id 10k"),
    pytest.param(with_event(type={"a": 1}).encode(), "id and type", id="type an object"),
    pytest.param(with_event(created="abc").encode(), "created", id="created not a number"),
    pytest.param(with_event(created=10**30).encode(), "created", id="created beyond 64 bits"),
    pytest.param(with_event(data=[1]).encode(), "data must be an object", id="data a list"),
    pytest.param(with_event(data={"object": "in_1"}).encode(), "data.object", id="object a string"),
    pytest.param(with_object(id={"a": 1}).encode(), "data.object.id", id="object id an object"),
    pytest.param(with_object(id=LONG).encode(), "data.object.id", id="object id 10k"),
    pytest.param(with_object(total="abc").encode(), "total", id="total a string"),
    pytest.param(with_object(total=1.5).encode(), "total", id="total a float"),
    pytest.param(with_object(amount_paid=-(10**20)).encode(), "amount_paid", id="amount beyond 64 bits"),
    pytest.param(with_object(currency=5).encode(), "currency", id="currency a number"),
    pytest.param(with_object(status=["paid"]).encode(), "status", id="status a list"),
    pytest.param(with_object(customer_name={"x": 1}).encode(), "customer_name", id="name an object"),
    pytest.param(with_object(customer={"id": {"x": 1}}).encode(), "customer", id="customer id an object"),
    pytest.param(with_object(lines=[1]).encode(), "lines", id="lines a list"),
    pytest.param(with_object(hosted_invoice_url="<https://evil|click>").encode(), "https URL", id="url a link"),
    pytest.param(with_object(hosted_invoice_url="javascript:alert(1)").encode(), "https URL", id="url not https"),
    pytest.param(with_object(hosted_invoice_url="https://x/" + LONG).encode(), "https URL", id="url 10k"),
    pytest.param(with_object(lines={"data": [{"amount": "x"}]}).encode(), "integers", id="line amount a string"),
    pytest.param(with_event(created=float("nan")).encode(), "JSON", id="NaN"),
    pytest.param(with_object(total=float("inf")).encode(), "JSON", id="Infinity"),
]


@pytest.mark.parametrize(("body", "reason"), WEBHOOK_BODY_CASES)
def test_malformed_webhook_bodies_get_400_and_store_nothing(h: Hostile, body: bytes, reason: str) -> None:
    before = h.counts()
    signature = stripe_signature(WEBHOOK_SECRET, body.decode("utf-8", "replace")) if body else "t=1,v1=0"
    response = h.webhook(body, signature=signature)
    assert response.status_code == 400, response.text
    assert reason in response.json()["error"], response.json()
    assert_unchanged(h, before)


def test_oversized_webhooks_get_413(h: Hostile) -> None:
    before = h.counts()
    huge = json.dumps({**stripe_event(), "padding": "x" * 600_000})
    assert h.webhook(huge).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the size is only known once read
        for start in range(0, len(huge), 65536):
            yield huge[start:start + 65536].encode()

    chunked = h.bot.http.post("/stripe/webhook", content=chunks(), headers={
        "Content-Type": "application/json", "Stripe-Signature": stripe_signature(WEBHOOK_SECRET, huge)})
    assert chunked.status_code == 413 and "larger than" in chunked.json()["error"]
    assert_unchanged(h, before)


def test_a_replayed_event_id_is_stored_once(h: Hostile) -> None:
    event = stripe_event()
    before = h.counts()
    first = h.webhook(json.dumps(event))
    again = h.webhook(json.dumps(event))  # Stripe's retry: same id, same body, fresh signature
    altered = {**event, "data": {"object": {**event["data"]["object"], "total": 999_999, "amount_paid": 999_999}}}
    forged = h.webhook(json.dumps(altered))  # same id, different body, validly signed
    assert first.json() == {"received": True, "duplicate": False}
    assert again.json()["duplicate"] is True and forged.json()["duplicate"] is True
    h.settle()
    after = h.counts()
    assert after["stripe_events"] == before["stripe_events"] + 1
    with sqlite3.connect(h.database) as db:
        (payload,) = db.execute("SELECT payload FROM stripe_events WHERE id = ?", [event["id"]]).fetchone()
    assert json.loads(payload)["data"]["object"]["total"] == 1000


def test_the_same_signed_webhook_replayed_is_stored_once(h: Hostile) -> None:
    body = json.dumps(stripe_event())
    header = stripe_signature(WEBHOOK_SECRET, body)
    before = h.counts()
    answers = [h.webhook(body, signature=header).json() for _ in range(3)]
    assert [a["duplicate"] for a in answers] == [False, True, True]
    h.settle()
    assert h.counts()["stripe_events"] == before["stripe_events"] + 1


@pytest.mark.parametrize("fields", [
    pytest.param({"customer_name": INJECTION, "customer_email": "<!channel>@example.com", "number": "<!here>"},
                 id="injections"),
    pytest.param({"customer_name": LONG, "number": "N" * 300, "customer_email": LONG}, id="10k"),
    pytest.param({"customer_name": "nul\x00 esc\x1b[31m rtl\u202e zw\u200b \U0001f4b8 Z\u0337"}, id="control"),
    pytest.param({"currency": "xyz", "total": 10**15, "amount_paid": 10**15}, id="unknown currency, huge amount"),
    pytest.param({"status": "<!channel>"}, id="status"),
    pytest.param({"lines": {"data": [{"description": INJECTION, "quantity": 1, "amount": 1000}] * 300}},
                 id="300 hostile lines"),
])
def test_hostile_text_in_a_foreign_invoice_is_announced_escaped(h: Hostile, fields: dict[str, Any]) -> None:
    posted = len(h.slack.messages(PAYMENTS_CHANNEL))
    event = stripe_event(**fields)
    if fields.get("status"):
        event["type"] = "invoice.payment_failed"
    response = h.webhook(json.dumps(event))
    assert response.status_code == 200, response.text
    h.settle()
    wait_for(lambda: len(h.slack.messages(PAYMENTS_CHANNEL)) > posted, "the payments notice", timeout=5)
    with sqlite3.connect(h.database) as db:
        (processed,) = db.execute("SELECT processed_at FROM stripe_events WHERE id = ?", [event["id"]]).fetchone()
    assert processed
    assert h.query("SELECT count(*) FROM jobs WHERE status = 'failed'") == 0
    for message in h.slack.messages(PAYMENTS_CHANNEL)[posted:]:
        assert_inert("the payments notice", {"text": message.text, "blocks": message.blocks})
