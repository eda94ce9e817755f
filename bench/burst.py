"""3. Burst drain: 10,000 `invoice.paid` events in 60 s for invoices the bot doesn't know.

Each is announced in PAYMENTS_CHANNEL; fake Slack allows 1 post/s per channel with a burst of 3
and answers 429 + Retry-After past that. Measured from the first event sent: how long until
every invoice (its number, or its id) appears in some message of that channel, how many Slack
calls that took, and which invoices were never announced or announced more than once.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections import Counter
from pathlib import Path

from bench.common import PYTHON, Context, bot_process, bot_settings
from bench.events import ids
from bench.report import Section, Target, fmt
from tests.harness import PAYMENTS_CHANNEL, ROOT

EVENTS = 10_000
SEND_SECONDS = 60.0
SENDERS = 20
DEADLINE = 120.0  # the target
GIVE_UP = 150.0  # stop watching (bounded), even if not drained
POLL = 1.0
MAX_SLACK_CALLS = 200
PREFIX = "burst"
INVOICE = re.compile(rf"(?:{PREFIX.upper()}-|in_{PREFIX}_)(\d{{7}})")


def _start_sender(url: str, out: Path) -> subprocess.Popen[bytes]:
    args = [PYTHON, "-m", "bench.sender", "--url", url, "--out", str(out), "--count", str(EVENTS),
            "--rate", f"{EVENTS / SEND_SECONDS:.6f}", "--concurrency", str(SENDERS), "--duration",
            str(SEND_SECONDS + 15), "--event-type", "invoice.paid", "--prefix", PREFIX, "--duplicate-every", "0"]
    return subprocess.Popen(args, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _announced(context: Context) -> Counter[int]:
    """Invoice index -> in how many messages of the payments channel it appears."""
    seen: Counter[int] = Counter()
    for message in context.fakes.slack.messages(PAYMENTS_CHANNEL):
        text = f"{message.text or ''} {message.blocks or ''}"
        seen.update({int(number) for number in INVOICE.findall(text)})
    return seen


def run(context: Context) -> Section:
    fakes = context.fakes
    fakes.reset()
    fakes.slack.enforce_pace(posts_per_second=1.0, burst=3)
    with bot_process(bot_settings(context.workdir / "burst.db", fakes)) as bot:
        calls_before = fakes.slack.call_count()
        started = time.monotonic()
        sender = _start_sender(bot.url + "/stripe/webhook", context.workdir / "burst.json")
        drained_at: float | None = None
        seen: Counter[int] = Counter()
        try:
            while time.monotonic() - started < GIVE_UP:
                time.sleep(POLL)
                seen = _announced(context)
                if len(seen) >= EVENTS:
                    drained_at = time.monotonic() - started
                    break
            sender.wait(timeout=max(5.0, SEND_SECONDS + 30 - (time.monotonic() - started)))
        finally:
            if sender.poll() is None:
                sender.kill()
        calls = fakes.slack.calls_since(calls_before)
        jobs = bot.jobs()
    sent = json.loads((context.workdir / "burst.json").read_text())
    lost = set(range(EVENTS)) - set(seen)
    duplicated = [index for index, count in seen.items() if count > 1]
    posts = [call for call in calls if call.method == "chat.postMessage"]
    limited = sum(1 for call in posts if call.status == 429)
    sample = ", ".join(ids(PREFIX, index).number for index in sorted(lost)[:3])
    took = drained_at if drained_at is not None else GIVE_UP
    rows = [[f"{EVENTS:,}", f"{sent['ok']:,}", fmt(sent["elapsed"]), fmt(took) + ("" if drained_at else "+"),
             str(len(calls)), f"{len(posts) - limited}", str(limited), str(len(lost)), str(len(duplicated))]]
    targets = [
        Target("time until every payment is in Slack", took, "<=", DEADLINE, "s"),
        Target("payments lost", len(lost), "==", 0),
        Target("payments announced twice", len(duplicated), "==", 0),
        Target("Slack calls", len(calls), "<=", MAX_SLACK_CALLS),
    ]
    notes = [
        f"{EVENTS:,} signed `invoice.paid` events at {EVENTS / SEND_SECONDS:.0f}/s from {SENDERS} senders in a "
        f"separate process; fake Slack paces chat.postMessage at 1/s per channel, burst 3, then 429.",
        f"Slack calls by method: {dict(Counter(call.method for call in calls))}; jobs at the end: {jobs}.",
    ]
    if lost:
        notes.append(f"Not announced within {took:.0f} s: {len(lost):,} invoices, e.g. {sample}.")
    return Section(
        key="burst",
        title="3. Burst drain (10,000 payments in 60 s, Slack at 1 post/s)",
        headers=["events", "accepted", "send s", "all in Slack after s", "Slack calls", "posts", "429s", "lost",
                 "duplicated"],
        rows=rows,
        targets=targets,
        notes=notes,
    )
