"""7. Month-end: ~50,000 Stripe events at once, and the people who must not notice.

A billing run: `invoice.finalized`, `.sent` and `.paid` for 300 invoices made in Slack (seeded in
the database, each with its message in one of 10 reps' channels) and 16,000 made elsewhere, 5% of
the events delivered twice, all shuffled, sent as fast as the bot takes them (bench.sender, 50
connections, its own process). Fake Slack lets each channel take 1 post/s (burst 3), then 429.

During the flood a rep submits 20 invoice forms (opened before it), one every 1.5 s: each
is timed from the submit to its message in the rep's channel. The first 5 are then paid in
(fake) Stripe, which sends its webhooks to the bot: each is timed from the payment to its
announcement in the payments channel. A prober GETs `/healthz` every 20 ms throughout (reported
apart while the flood is arriving and while only its backlog is left), and `/metrics` once a
second gives the drain: events decided per second over the whole run, and once the flood is in.

The baseline is the same bot with every job in one first-in, first-out line, one job per claim
(`WORKER_LANES=single_fifo`, as the queue was before lanes), with as many threads. Each run
stops watching after `GIVE_UP` seconds.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from prometheus_client.parser import text_string_to_metric_families
from slack_sdk import WebClient

from bench import events
from bench.common import PYTHON, Context, bot_process, bot_settings
from bench.report import Section, Target, fmt
from bench.stats import summarize
from bot.domain.invoices import InvoiceSnapshot
from bot.domain.tenants import DEFAULT_TENANT
from bot.store import open_store
from tests.contract.conftest import create_schema, drop_schema, postgres_unavailable, schema_url
from tests.harness import (
    BOT_TOKEN,
    PAYMENTS_CHANNEL,
    ROOT,
    SIGNING_SECRET,
    TEAM_ID,
    WEBHOOK_SECRET,
    slack_signature,
    state_values,
)

OWN, FOREIGN = 300, 16_000
REDELIVERED = 0.05
REP_CHANNELS = [f"CREP{number}" for number in range(10)]
SUBMITS, PAYMENTS = 20, 5
SUBMIT_EVERY = 1.5  # one rep's channel takes 1 post/s: a faster rep would be waiting on Slack, not on us
FIRST_SUBMIT_AFTER = 2.0
GIVE_UP = 240.0
HEALTH_EVERY = 0.02
SENDERS = 50
TARGET_DRAIN = 2_000.0  # events/s
TARGET_SUBMIT_P99 = 2.0  # s
TARGET_PAYMENT = 10.0  # s
TARGET_HEALTH_P99 = 5.0  # ms
ANNOUNCED = re.compile(r"(?:OWN|EXT)-(\d{7})|in_(?:own|ext)_(\d{7})")
REP_CUSTOMER = "Month End Customer {:02d}"


def unique_events() -> int:
    return 3 * (OWN + FOREIGN)


@dataclass
class Run:
    who: str
    sent: dict[str, Any] = field(default_factory=dict)
    submit_seconds: list[float | None] = field(default_factory=list)
    payment_seconds: list[float | None] = field(default_factory=list)
    health_ms: list[float] = field(default_factory=list)  # while only the backlog is left
    health_ms_flood: list[float] = field(default_factory=list)  # while the sender is still sending
    health_failures: int = 0
    decided: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, decided so far)
    announced_after: float | None = None
    announced: int = 0
    slack_calls: int = 0
    posts_429: int = 0

    flood_ended: float | None = None  # seconds since start when the sender was done

    @property
    def drain_after_flood(self) -> float:
        """Events decided per second once the flood has arrived and only its backlog is left."""
        if self.flood_ended is None:
            return 0.0
        after = [(at, count) for at, count in self.decided if at >= self.flood_ended]
        if len(after) < 2:
            return 0.0
        final = after[-1][1]
        last_at = next(at for at, count in after if count >= final)
        return (final - after[0][1]) / max(last_at - after[0][0], 1e-9)

    @property
    def drain_rate(self) -> float:
        """Events decided per second while a backlog waited: from the first decided to the last."""
        moving = [(at, count) for at, count in self.decided if count > 0]
        if len(moving) < 2:
            return 0.0
        final = moving[-1][1]
        first_at = moving[0][0] - 1.0  # the first sample counts what the second before it decided
        last_at = next(at for at, count in moving if count >= final)
        return final / max(last_at - first_at, 1e-9)

    def worst(self, values: list[float | None]) -> float:
        return max((value if value is not None else GIVE_UP) for value in values) if values else GIVE_UP


def _seed_own_invoices(database_url: str, slack: WebClient) -> None:
    """The reps' own invoices: drafts made in Slack, each with its message in a rep's channel."""
    store = open_store(database_url)
    try:
        with store.unit_of_work(DEFAULT_TENANT) as uow:
            for index in range(OWN):
                ids = events.ids("own", index)
                channel = REP_CHANNELS[index % len(REP_CHANNELS)]
                posted = slack.chat_postMessage(channel=channel, text=f"Invoice {ids.number} (draft)")
                snapshot = InvoiceSnapshot(
                    stripe_id=ids.invoice_id, status="draft", currency="usd", total=1000, amount_paid=0,
                    amount_remaining=1000, due_date=int(time.time()) + 30 * 86400, number=ids.number,
                    customer_name="Bench Customer", customer_email="ap@bench.example", hosted_url=None)
                uow.invoices.add_own(snapshot, channel_id=channel, rep_user_id="UREP", team_id=TEAM_ID,
                                     view_id=f"V_OWN{index}")
                uow.invoices.set_message(ids.invoice_id, channel, str(posted["ts"]))
            uow.commit()
    finally:
        store.close()


def _slash_body(context: Context) -> str:
    return urlencode({
        "token": "legacy", "team_id": TEAM_ID, "team_domain": "acme", "channel_id": "CSALES", "channel_name": "sales",
        "user_id": "UREP", "user_name": "rep", "command": "/invoice", "text": "", "api_app_id": "A123",
        "response_url": context.fakes.slack.response_url(), "trigger_id": context.fakes.slack.new_trigger_id()})


def _signed_headers(body: str) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": slack_signature(SIGNING_SECRET, timestamp, body)}


def _open_forms(http: httpx.Client, context: Context) -> list[dict[str, Any]]:
    before = len(context.fakes.slack.calls_to("views.open"))
    for _ in range(SUBMITS):
        body = _slash_body(context)
        assert http.post("/slack/events", content=body, headers=_signed_headers(body)).status_code == 200
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        opened = [call for call in context.fakes.slack.calls_to("views.open")[before:] if call.ok]
        if len(opened) >= SUBMITS:
            return [{**call.args["view"], "id": (call.response or {})["view"]["id"]} for call in opened[:SUBMITS]]
        time.sleep(0.1)
    raise RuntimeError("the forms did not open")


def _submit_body(view: dict[str, Any], number: int) -> str:
    values = state_values(view, {"customer_name": REP_CUSTOMER.format(number),
                                 "customer_email": f"rep{number}@month-end.example",
                                 "line_1_description": "Consulting", "line_1_unit_amount": "250.00",
                                 "delivery": "send"})
    return urlencode({"payload": json.dumps({
        "type": "view_submission", "team": {"id": TEAM_ID, "domain": "acme"},
        "user": {"id": "UREP", "username": "rep", "team_id": TEAM_ID}, "api_app_id": "A123",
        "trigger_id": f"{number}.1.month-end", "view": {**view, "state": {"values": values}}})})


def _every(interval: float, stop: threading.Event, action: Callable[[], None]) -> threading.Thread:
    def loop() -> None:
        while not stop.is_set():
            began = time.monotonic()
            action()
            stop.wait(max(0.0, interval - (time.monotonic() - began)))

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


class _Announced:
    """Invoices named in the payments channel so far. Reads only the messages posted since the last
    look: the fakes and the /healthz prober share this process (and its GIL), and re-reading
    thousands of digests every second showed up as the prober's p99."""

    def __init__(self, context: Context) -> None:
        self._slack = context.fakes.slack
        self._read = 0
        self._seen: set[str] = set()

    def __call__(self) -> set[str]:
        messages = self._slack.messages(PAYMENTS_CHANNEL)
        for message in messages[self._read:]:
            text = f"{message.text or ''} {json.dumps(message.blocks or [])}"
            self._seen.update(f"{'own' if 'own' in name.lower() else 'ext'}:{name[-7:]}"
                              for name in (match.group(0) for match in ANNOUNCED.finditer(text)))
        self._read = len(messages)
        return set(self._seen)


@dataclass(frozen=True)
class Setup:
    """One run: the queue's shape, the database, and how many replicas share it."""

    who: str
    lanes: str = "lanes"
    postgres: bool = False
    replicas: int = 1

    @property
    def name(self) -> str:
        return f"{self.lanes}_{'postgres' if self.postgres else 'sqlite'}_{self.replicas}"


@contextlib.contextmanager
def _database(setup: Setup, workdir: Path) -> Iterator[str]:
    """A fresh database for the run: an SQLite file, or a PostgreSQL schema dropped afterwards."""
    if not setup.postgres:
        yield f"sqlite:///{workdir / f'month_end_{setup.name}.db'}"
        return
    schema = create_schema()
    try:
        yield schema_url(schema)
    finally:
        drop_schema(schema)


def _measure(context: Context, setup: Setup) -> Run:
    fakes, workdir = context.fakes, context.workdir
    fakes.reset()
    fakes.slack.add_channels(REP_CHANNELS)
    run = Run(setup.who)
    with _database(setup, workdir) as database_url, contextlib.ExitStack() as stack:
        _seed_own_invoices(database_url, WebClient(token=BOT_TOKEN, base_url=fakes.slack.api_url))
        fakes.slack.enforce_pace(posts_per_second=1.0, burst=3)
        bots = [stack.enter_context(bot_process(bot_settings(workdir / f"unused_{setup.name}.db", fakes,
                                                             worker_lanes=setup.lanes, database_url=database_url),
                                                log=workdir / f"bot_{setup.name}_{replica}.log"))
                for replica in range(setup.replicas)]
        # The rep works on the first replica; Stripe's own webhooks reach the last (the same one
        # when alone), so with replicas the rep's invoice is made on one and paid news lands on another.
        http = stack.enter_context(httpx.Client(base_url=bots[0].url, timeout=30))
        probe = stack.enter_context(httpx.Client(base_url=bots[0].url, timeout=5))
        scrapers = [stack.enter_context(httpx.Client(base_url=bot.url, timeout=5)) for bot in bots]
        fakes.stripe.add_webhook_endpoint(bots[-1].url + "/stripe/webhook", WEBHOOK_SECRET)
        forms = _open_forms(http, context)
        calls_before = fakes.slack.call_count()
        stop = threading.Event()
        flooding = threading.Event()
        started = time.monotonic()

        def health() -> None:
            began = time.perf_counter()
            try:
                ok = probe.get("/healthz").status_code == 200
            except httpx.HTTPError:
                ok = False
            (run.health_ms_flood if flooding.is_set() else run.health_ms).append((time.perf_counter() - began) * 1000)
            run.health_failures += 0 if ok else 1

        def decided() -> None:
            total = 0.0
            for scraper in scrapers:  # each replica counts what it decided
                try:
                    text = scraper.get("/metrics").text
                except httpx.HTTPError:
                    return
                for family in text_string_to_metric_families(text):
                    if family.name == "invoicebot_stripe_events_decided":
                        total += sum(sample.value for sample in family.samples)
            run.decided.append((time.monotonic() - started, total))

        pollers = [_every(HEALTH_EVERY, stop, health), _every(1.0, stop, decided)]
        flooding.set()
        sent_file = workdir / f"sent_{setup.name}.json"
        sender = _start_sender([bot.url + "/stripe/webhook" for bot in bots], sent_file)
        def flood_over() -> None:
            if flooding.is_set() and sender.poll() is not None:
                run.flood_ended = time.monotonic() - started
                flooding.clear()

        pollers.append(_every(0.05, stop, flood_over))
        try:
            run.submit_seconds, run.payment_seconds = _rep_at_work(context, http, forms, started)
            _announced = _Announced(context)
            while time.monotonic() - started < GIVE_UP:
                announced = _announced()
                if len(announced) >= OWN + FOREIGN:
                    run.announced_after = time.monotonic() - started
                    break
                time.sleep(1.0)
            run.announced = len(_announced() & {f"{p}:{i:07d}" for p, n in (("own", OWN), ("ext", FOREIGN))
                                                       for i in range(n)})
            sender.wait(timeout=60)
        finally:
            stop.set()
            for poller in pollers:
                poller.join(timeout=5)
            if sender.poll() is None:
                sender.kill()
        run.sent = json.loads(sent_file.read_text())
        calls = fakes.slack.calls_since(calls_before)
        run.slack_calls = len(calls)
        run.posts_429 = sum(1 for call in calls if call.method == "chat.postMessage" and call.status == 429)
    return run


def _start_sender(urls: list[str], out: Any) -> Any:
    import os
    import subprocess

    targets = [argument for url in urls for argument in ("--url", url)]
    args = [PYTHON, "-m", "bench.sender", *targets, "--out", str(out), "--month-end", str(OWN), str(FOREIGN),
            "--redelivered", str(REDELIVERED), "--concurrency", str(SENDERS), "--duration", str(GIVE_UP)]
    return subprocess.Popen(args, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _rep_at_work(context: Context, http: httpx.Client, forms: list[dict[str, Any]], started: float
                 ) -> tuple[list[float | None], list[float | None]]:
    """The rep's 20 submits during the flood, then 5 payments; each timed to what Slack shows."""
    fakes = context.fakes
    time.sleep(max(0.0, started + FIRST_SUBMIT_AFTER - time.monotonic()))
    submitted_at: dict[int, float] = {}
    in_slack: list[float | None] = [None] * len(forms)
    deadline = started + GIVE_UP

    def watch() -> None:
        """Looks at the rep's channel while the submits go on, so each is timed from its own submit."""
        while None in in_slack and time.monotonic() < deadline:
            now = time.monotonic()
            text = json.dumps([[m.text, m.blocks] for m in fakes.slack.messages("CSALES")])
            for number, at in list(submitted_at.items()):
                if in_slack[number] is None and REP_CUSTOMER.format(number) in text:
                    in_slack[number] = now - at
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    for number, view in enumerate(forms):
        body = _submit_body(view, number)
        began = time.monotonic()
        submitted_at[number] = began
        http.post("/slack/events", content=body, headers=_signed_headers(body))
        time.sleep(max(0.0, began + SUBMIT_EVERY - time.monotonic()))
    watcher.join(timeout=max(0.0, deadline - time.monotonic()))
    invoices = {invoice["customer_email"]: invoice for invoice in fakes.stripe.objects("invoice")}
    paid_at: dict[str, float] = {}
    for number in range(PAYMENTS):
        invoice = invoices.get(f"rep{number}@month-end.example")
        if invoice is not None and invoice.get("status") == "open":
            paid_at[str(invoice["number"])] = time.monotonic()
            fakes.stripe.pay_invoice(invoice["id"])
    announced: dict[str, float] = {}
    scanned = 0  # only new messages are read: the fakes share this process, and so its GIL
    while len(announced) < len(paid_at) and time.monotonic() < deadline:
        now = time.monotonic()
        messages = fakes.slack.messages(PAYMENTS_CHANNEL)
        text = json.dumps([[m.text, m.blocks] for m in messages[scanned:]])
        scanned = len(messages)
        for invoice_number, at in paid_at.items():
            if invoice_number not in announced and invoice_number in text:
                announced[invoice_number] = now - at
        time.sleep(0.1)
    payments = [announced.get(invoice_number) for invoice_number in paid_at] + [None] * (PAYMENTS - len(paid_at))
    return in_slack, payments


SETUPS = [
    Setup("bot (lanes), SQLite"),
    Setup("baseline (one FIFO line), SQLite", lanes="single_fifo"),
    Setup("bot (lanes), PostgreSQL, 1 replica", postgres=True),
    Setup("bot (lanes), PostgreSQL, 2 replicas", postgres=True, replicas=2),
]


def run(context: Context) -> Section:
    unavailable = postgres_unavailable()
    runs = [_measure(context, setup) for setup in SETUPS if not (setup.postgres and unavailable)]
    skipped = f"PostgreSQL runs skipped: {unavailable}" if unavailable else None
    return _section(runs[0], runs[1], runs[2:], skipped=skipped)


def _seconds(value: float | None) -> str:
    return fmt(value) if value is not None else f"> {fmt(GIVE_UP)}"


def _section(bot: Run, baseline: Run, others: list[Run], skipped: str | None) -> Section:
    rows = []
    for run_ in (bot, baseline, *others):
        submits = summarize([value if value is not None else GIVE_UP for value in run_.submit_seconds])
        health, health_flood = summarize(run_.health_ms), summarize(run_.health_ms_flood)
        sent = run_.sent
        rows.append([
            run_.who, f"{sent.get('ok', 0):,}", f"{sent.get('ok', 0) / max(sent.get('elapsed', 1), 1e-9):,.0f}",
            f"{run_.drain_rate:,.0f}", f"{run_.drain_after_flood:,.0f}", _seconds(run_.announced_after),
            f"{run_.announced:,}",
            str(run_.slack_calls), str(run_.posts_429), fmt(submits.p50), fmt(submits.p99),
            _seconds(run_.worst(run_.payment_seconds)), fmt(health_flood.p99), fmt(health.p99),
            str(run_.health_failures),
        ])
    submits = summarize([value if value is not None else GIVE_UP for value in bot.submit_seconds])
    targets = [
        Target("drain: events decided per second, whole run", bot.drain_rate, ">=", TARGET_DRAIN, "events/s"),
        Target("drain: events decided per second, once the flood is in", bot.drain_after_flood, ">=", TARGET_DRAIN,
               "events/s"),
        Target("modal submit -> invoice in Slack, p99 of 20", submits.p99, "<", TARGET_SUBMIT_P99, "s"),
        Target("rep's payment -> announcement, worst of 5", bot.worst(bot.payment_seconds), "<", TARGET_PAYMENT, "s"),
        Target("/healthz p99 while the backlog drains", summarize(bot.health_ms).p99, "<", TARGET_HEALTH_P99, "ms"),
        Target("paid invoices never announced", OWN + FOREIGN - bot.announced, "==", 0),
    ]
    notes = [
        f"{unique_events():,} distinct events ({OWN} invoices made in Slack, {FOREIGN:,} elsewhere, 3 events each) "
        f"plus {REDELIVERED:.0%} sent again, shuffled, from {SENDERS} connections in a separate process.",
        f"Sender latency (bot): p50 {fmt(bot.sent.get('latency_ms', {}).get('p50', 0))} ms, "
        f"p99 {fmt(bot.sent.get('latency_ms', {}).get('p99', 0))} ms; statuses {bot.sent.get('statuses')}.",
        f"Baseline: submits p50 {_seconds(summarize([v or GIVE_UP for v in baseline.submit_seconds]).p50)} s; "
        f"{baseline.announced:,} of {OWN + FOREIGN:,} paid invoices announced "
        + (f"after {fmt(baseline.announced_after)} s." if baseline.announced_after else f"within {fmt(GIVE_UP)} s."),
        "Targets are for the SQLite run (the embedded default). The PostgreSQL runs share the same 2 cores with "
        "the database server; with 2 replicas each runs its web and worker processes, so 4 bot processes share them.",
        *([skipped] if skipped else []),
    ]
    return Section(
        key="month_end",
        title="7. Month-end (~50,000 events, Slack at 1 post/s per channel)",
        headers=["run", "events accepted", "ingest /s", "drain /s (whole run)", "drain /s (after the flood)",
                 "all announced after s", "announced",
                 "Slack calls", "429s", "submit p50 s", "submit p99 s", "payment -> notice s (worst)",
                 "/healthz p99 ms (flood arriving)",
                 "/healthz p99 ms (backlog draining)", "/healthz failed"],
        rows=rows,
        targets=targets,
        notes=notes,
    )
