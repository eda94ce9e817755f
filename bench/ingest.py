"""2. Webhook ingest: signed Stripe events accepted per second by `POST /stripe/webhook`, and p99.

`SENDERS` concurrent senders for `DURATION` s from a separate process (bench/sender.py), with
pre-signed `invoice.updated` events of ~6 KB (a full invoice object, as Stripe sends), every 50th
request a re-delivery of an earlier event. Three servers on the same stack, each in its own
process: the ceiling (200 to an empty body), the usual receiver (`construct_event`, then store),
and the bot (`invoicebot serve`, workers and all). Then the bot is SIGKILLed and its database
read back: every event answered 2xx must be there, and nothing else.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from bench.common import Context, bot_process, bot_settings, peak_rss_mb, rss_mb, run_sender, server_process
from bench.report import Section, Target, fmt
from bench.stats import Summary
from tests.harness import free_port

SENDERS = 50
DURATION = 20.0
MAX_EVENTS = 150_000  # pre-signed per run: more than 20 s at 7,500 events/s
EVENT_TYPE = "invoice.updated"
TARGET_RATE = 5_000.0
TARGET_RATIO = 5.0
TARGET_P99_MS = 25.0
SENDER_TIMEOUT = DURATION + 120  # building the bodies, the run, the requests in flight


@dataclass(frozen=True)
class Load:
    server: str
    result: dict[str, Any]

    @property
    def rate(self) -> float:
        return float(self.result["ok"]) / max(float(self.result["elapsed"]), 1e-9)

    @property
    def latency(self) -> Summary:
        return Summary.from_dict(self.result["latency_ms"])

    @property
    def errors(self) -> int:
        return int(self.result["answered"]) - int(self.result["ok"]) + int(self.result["transport_errors"])


def _send(url: str, context: Context, name: str, **options: Any) -> Load:
    result = run_sender(url, context.workdir / f"{name}.json", timeout=SENDER_TIMEOUT, concurrency=SENDERS,
                        duration=DURATION, count=MAX_EVENTS, event_type=EVENT_TYPE, prefix=name, **options)
    return Load(name, result)


def _stored_ids(database: str) -> set[str]:
    with sqlite3.connect(database) as connection:
        return {row[0] for row in connection.execute("SELECT id FROM stripe_events")}


def run(context: Context) -> Section:
    context.fakes.reset()
    port = free_port()
    with server_process("bench.refservers", ["ceiling", "--port", str(port)], port,
                        context.workdir / "ceiling.log") as ceiling_server:
        ceiling = _send(ceiling_server.url + "/ceiling", context, "ceiling", empty=True)

    port = free_port()
    args = ["usual", "--port", str(port), "--database", str(context.workdir / "usual.db")]
    with server_process("bench.refservers", args, port, context.workdir / "usual.log") as usual_server:
        usual = _send(usual_server.url + "/stripe/webhook", context, "usual")

    settings = bot_settings(context.workdir / "ingest.db", context.fakes)
    with bot_process(settings) as bot:
        assert bot.process is not None
        bot_load = _send(bot.url + "/stripe/webhook", context, "bot")
        pid = bot.process.pid
        rss_end, rss_peak = rss_mb(pid), peak_rss_mb(pid)
        jobs = bot.jobs()
        bot.kill()  # SIGKILL: no shutdown hook gets to flush anything
    context.shared["rss_after_ingest_mb"] = rss_end
    context.shared["rss_peak_ingest_mb"] = rss_peak

    accepted = set(bot_load.result["accepted_ids"])
    stored = _stored_ids(settings.database_url.removeprefix("sqlite:///"))
    lost, unanswered = accepted - stored, stored - accepted
    return _section(ceiling, usual, bot_load, accepted, stored, lost, unanswered, jobs, rss_end)


def _section(ceiling: Load, usual: Load, bot: Load, accepted: set[str], stored: set[str], lost: set[str],
             unanswered: set[str], jobs: dict[str, int], rss_end: float) -> Section:
    rows = []
    for load, what in ((ceiling, "ceiling: 200 to an empty body"),
                       (usual, "usual: construct_event, then store"),
                       (bot, "bot: invoicebot serve")):
        latency = load.latency
        rows.append([what, fmt(load.rate), f"{load.rate / ceiling.rate:.0%}", fmt(latency.p50), fmt(latency.p99),
                     fmt(latency.max), f"{load.result['sent']:,}", str(load.errors)])
    ratio = bot.rate / max(usual.rate, 1e-9)
    targets = [
        Target("bot events/s", bot.rate, ">=", TARGET_RATE, "events/s"),
        Target("bot / usual way", ratio, ">=", TARGET_RATIO, "×"),
        Target("bot p99", bot.latency.p99, "<", TARGET_P99_MS, "ms"),
        Target("events lost after SIGKILL", len(lost), "==", 0),
        Target("events stored without a 2xx", len(unanswered), "==", 0),
    ]
    notes = [
        f"{SENDERS} senders for {DURATION:.0f} s from a separate process; ~6 KB `{EVENT_TYPE}` events, every 50th "
        f"a re-delivery ({bot.result['duplicates_answered']:,} answered as duplicates by the bot).",
        f"The bot is {ratio:.1f}× the usual way and reaches {bot.rate / ceiling.rate:.0%} of the stack's ceiling. "
        f"With {SENDERS} requests always in flight, mean latency = {SENDERS} / rate (Little's law): a p99 under "
        f"{TARGET_P99_MS:.0f} ms takes well over {SENDERS / (TARGET_P99_MS / 1000):,.0f} events/s.",
        f"Durability: after SIGKILL the database holds {len(stored):,} events; {len(accepted):,} distinct events "
        f"were answered 2xx; lost {len(lost)}, stored without an answer {len(unanswered)}.",
        f"The bot's workers ran during the load: jobs at the end {jobs}; resident memory {rss_end:.0f} MB.",
    ]
    return Section(
        key="ingest",
        title="2. Webhook ingest",
        headers=["server (same stack)", "events/s", "of ceiling", "p50 ms", "p99 ms", "max ms", "requests",
                 "errors"],
        rows=rows,
        targets=targets,
        notes=notes,
    )
