"""1. Ack latency (Slack's 3 s rule) with Stripe slowed to 2 s per call.

`/invoice` (which then calls views.open) and the modal's submit (view_submission), signed as
Slack signs them, `REQUESTS` of each, `CONCURRENCY` at once, timed from the request sent to the
answer received. The bot runs as `invoicebot serve`; the baseline (bench/naive_bolt.py), one
Stripe call before each ack, is served the same way and measured in the same run on
`BASELINE_REQUESTS` of each (at ~2 s a request, 200 would take minutes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection as Connection_
from typing import Any
from urllib.parse import urlencode, urlsplit

from bench.common import Context, bot_process, bot_settings, server_process, wait_until
from bench.fakes import Fakes
from bench.http1 import Connection, build_request
from bench.report import Section, Target, fmt
from bench.stats import Summary, summarize
from tests.harness import SIGNING_SECRET, TEAM_ID, free_port, slack_signature, state_values

SLOW_STRIPE = 2.0
REQUESTS = 200
BASELINE_REQUESTS = 50
CONCURRENCY = 10
WARMUP = 10
SLACK_ACK_LIMIT = 3.0
REQUEST_TIMEOUT = 10.0
TARGET_P99_MS = 50.0

FORM = {"customer_name": "Bench Customer", "line_1_description": "Consulting", "line_1_unit_amount": "100.00"}


@dataclass(frozen=True)
class Timing:
    seconds: float
    status: int
    acked: bool  # a 2xx Slack accepts as the ack (for a submit: the modal's update)


@dataclass(frozen=True)
class Run:
    who: str
    what: str
    timings: list[Timing]
    views_opened: int | None = None
    views_refused: dict[str, int] | None = None  # views.open errors by Slack error code

    @property
    def summary(self) -> Summary:
        return summarize([timing.seconds * 1000 for timing in self.timings])

    @property
    def failed(self) -> int:
        """Answers Slack would not take: not a 2xx ack, or later than 3 s."""
        return sum(1 for t in self.timings if not t.acked or t.seconds > SLACK_ACK_LIMIT)


async def _fire_async(url: str, count: int, make: Callable[[int], bytes], acked: Callable[[int, bytes], bool]
                      ) -> list[Timing]:
    parts = urlsplit(url)
    connections = [Connection(parts.hostname or "127.0.0.1", parts.port or 80) for _ in range(CONCURRENCY)]
    timings: list[Timing | None] = [None] * count
    next_index = 0
    loop = asyncio.get_running_loop()

    async def client(connection: Connection) -> None:
        nonlocal next_index
        while next_index < count:
            index, next_index = next_index, next_index + 1
            raw = await loop.run_in_executor(None, make, index)  # built (trigger minted, signed) off the clock
            started = time.perf_counter()
            try:
                status, body = await connection.request(raw, timeout=REQUEST_TIMEOUT)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                timings[index] = Timing(time.perf_counter() - started, 0, False)
                continue
            timings[index] = Timing(time.perf_counter() - started, status, acked(status, body))
        connection.close()

    await asyncio.gather(*(client(connection) for connection in connections))
    return [timing for timing in timings if timing is not None]


def _fire(url: str, count: int, make: Callable[[int], bytes], acked: Callable[[int, bytes], bool]) -> list[Timing]:
    """`count` requests, `CONCURRENCY` at once, each client on its own keep-alive connection.

    The clients run in a process of their own, as Slack does: in this one, fake Stripe's threads
    (parsing and checking each of the bot's calls) hold the GIL and would stop the clients' clocks
    for milliseconds that are not the bot's. Each request is still built here just before it is
    sent (a trigger id lives 3 s), asked for over a pipe."""
    spawn = multiprocessing.get_context("spawn")
    ours, theirs = spawn.Pipe()
    client = spawn.Process(target=_client_process, args=(theirs, url, count, acked), daemon=True)
    client.start()
    try:
        while True:
            if not ours.poll(REQUEST_TIMEOUT * count):
                raise TimeoutError("the benchmark's client process stopped answering")
            message = ours.recv()
            if isinstance(message, int):
                ours.send(make(message))
            else:
                return list(message)
    finally:
        client.join(timeout=10)


def _client_process(pipe: Connection_, url: str, count: int, acked: Callable[[int, bytes], bool]) -> None:
    lock = threading.Lock()

    def ask(index: int) -> bytes:
        with lock:
            pipe.send(index)
            raw: bytes = pipe.recv()
            return raw

    pipe.send(asyncio.run(_fire_async(url, count, ask, acked)))


def _signed(url: str, body: str) -> bytes:
    """A POST to /slack/events signed as Slack signs it (tests/harness.py's `slack_signature`)."""
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": timestamp,
               "X-Slack-Signature": slack_signature(SIGNING_SECRET, timestamp, body)}
    return build_request("POST", "/slack/events", urlsplit(url).netloc, headers, body.encode())


def _slash(url: str, fakes: Fakes, text: str = "") -> Callable[[int], bytes]:
    def make(index: int) -> bytes:
        # A fresh trigger per request, as Slack mints one per slash command (valid 3 s, once).
        return _signed(url, urlencode({
            "token": "legacy", "team_id": TEAM_ID, "team_domain": "acme", "channel_id": "CSALES",
            "channel_name": "sales", "user_id": "UREP", "user_name": "rep", "command": "/invoice", "text": text,
            "api_app_id": "A123", "response_url": fakes.slack.response_url(),
            "trigger_id": fakes.slack.new_trigger_id(),
        }))
    return make


def _submit(url: str, views: list[dict[str, Any]], count: int) -> Callable[[int], bytes]:
    bodies = []
    for index in range(count):  # the payloads (the whole view, as Slack sends it) are built up front
        view = views[index % len(views)]
        values = state_values(view, {**FORM, "customer_email": f"bench{index}@example.com"})
        bodies.append(urlencode({"payload": json.dumps({
            "type": "view_submission",
            "team": {"id": TEAM_ID, "domain": "acme"},
            "user": {"id": "UREP", "username": "rep", "team_id": TEAM_ID},
            "api_app_id": "A123",
            "trigger_id": f"{index}.1.bench",
            "view": {**view, "state": {"values": values}},
        })}))
    return lambda index: _signed(url, bodies[index])


def _ok(status: int, body: bytes) -> bool:
    return status == 200


def _submit_acked(status: int, body: bytes) -> bool:
    return status == 200 and json.loads(body or b"{}").get("response_action") == "update"


def _opened_views(fakes: Fakes, since: int) -> list[dict[str, Any]]:
    views = []
    for call in fakes.slack.calls_to("views.open")[since:]:
        if call.ok and call.response:
            views.append({**call.args["view"], "id": call.response["view"]["id"]})
    return views


def _measure(who: str, url: str, fakes: Fakes, count: int) -> tuple[Run, Run]:
    before = len(fakes.slack.calls_to("views.open"))
    slash = _fire(url, count, _slash(url, fakes), _ok)
    # views.open comes after the ack: wait for the calls (bounded) to count those that worked.
    expected = before + sum(1 for timing in slash if timing.acked)
    with contextlib.suppress(TimeoutError):
        wait_until(lambda: len(fakes.slack.calls_to("views.open")) >= expected, timeout=15, what="views.open calls")
    views = _opened_views(fakes, before)
    refused = Counter(str(call.error) for call in fakes.slack.calls_to("views.open")[before:] if not call.ok)
    opened = Run(who, "/invoice", slash, views_opened=len(views), views_refused=dict(refused))
    if not views:  # the baseline may open none in time; submit the bot's views then
        views = _opened_views(fakes, 0)
    submitted = Run(who, "modal submit", _fire(url, count, _submit(url, views, count), _submit_acked))
    return opened, submitted


def _warm_up(url: str, fakes: Fakes, count: int) -> None:
    before = len(fakes.slack.calls_to("views.open"))
    _fire(url, count, _slash(url, fakes), _ok)
    wait_until(lambda: len(fakes.slack.calls_to("views.open")) >= before + count, timeout=15, what="warm-up views")
    _fire(url, count, _submit(url, _opened_views(fakes, before), count), _ok)


def run(context: Context) -> Section:
    fakes, workdir = context.fakes, context.workdir
    fakes.reset()
    fakes.stripe.inject(latency=SLOW_STRIPE)
    try:
        with bot_process(bot_settings(workdir / "ack.db", fakes)) as bot:
            _warm_up(bot.url, fakes, WARMUP)
            bot_runs = _measure("bot", bot.url, fakes, REQUESTS)
        port = free_port()
        args = ["--port", str(port), "--slack-api-url", fakes.slack.api_url, "--stripe-url", fakes.stripe.url]
        with server_process("bench.naive_bolt", args, port, workdir / "naive_bolt.log") as naive:
            baseline_runs = _measure("naive baseline", naive.url, fakes, BASELINE_REQUESTS)
    finally:
        fakes.stripe.clear_faults()
    return _section(bot_runs, baseline_runs)


def _section(bot_runs: tuple[Run, Run], baseline_runs: tuple[Run, Run]) -> Section:
    rows = []
    for run_ in (*bot_runs, *baseline_runs):
        summary = run_.summary
        opened = f"{run_.views_opened}/{summary.n}" if run_.views_opened is not None else ""
        rows.append([run_.who, run_.what, str(summary.n), fmt(summary.p50), fmt(summary.p99), fmt(summary.max),
                     f"{run_.failed}", opened])
    targets, notes = [], []
    for bot_run, baseline_run in zip(bot_runs, baseline_runs, strict=True):
        p99 = bot_run.summary.p99
        targets.append(Target(f"bot {bot_run.what} p99", p99, "<", TARGET_P99_MS, "ms"))
        notes.append(f"{bot_run.what}: the bot's p99 is {fmt(p99)} ms against the baseline's "
                     f"{fmt(baseline_run.summary.p99)} ms ({baseline_run.summary.p99 / max(p99, 1e-9):,.0f}× faster); "
                     f"Slack would have refused {baseline_run.failed} of {baseline_run.summary.n} baseline answers and "
                     f"{bot_run.failed} of {bot_run.summary.n} of the bot's.")
    for run_ in (*bot_runs, *baseline_runs):
        if run_.views_refused:
            notes.append(f"{run_.who}: views.open refused after the ack: {run_.views_refused} "
                         "(a trigger id lives 3 s).")
    notes.append(f"Stripe answers every call after {SLOW_STRIPE:.0f} s; {CONCURRENCY} requests at once after "
                 f"{WARMUP} warm-up requests of each kind; the baseline makes one Stripe call before each ack "
                 "(see bench/naive_bolt.py); Bolt polls for the ack every 10 ms, which bounds the p50 from below.")
    return Section(
        key="ack",
        title="1. Ack latency (Stripe at 2 s per call)",
        headers=["server", "request", "n", "p50 ms", "p99 ms", "max ms", "refused by Slack (>3 s or error)",
                 "views.open ok"],
        rows=rows,
        targets=targets,
        notes=notes,
    )
