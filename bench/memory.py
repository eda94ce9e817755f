"""5. Memory: the bot's resident set idle after start, and at the end of the ingest benchmark."""

from __future__ import annotations

import time

from bench.common import Context, bot_process, bot_settings, rss_mb
from bench.report import Section, Target, fmt

SETTLE = 3.0  # let the workers start polling and the catalog refresh run
TARGET_IDLE_MB = 120.0


def run(context: Context) -> Section:
    context.fakes.reset()
    with bot_process(bot_settings(context.workdir / "memory.db", context.fakes)) as bot:
        assert bot.process is not None
        time.sleep(SETTLE)
        bot.http.get("/healthz")
        idle = rss_mb(bot.process.pid)
    rows = [["idle, after start", fmt(idle)]]
    after_ingest = context.shared.get("rss_after_ingest_mb")
    if after_ingest is not None:
        rows.append(["end of the ingest benchmark", fmt(after_ingest)])
        rows.append(["peak during the ingest benchmark", fmt(context.shared["rss_peak_ingest_mb"])])
    return Section(
        key="memory",
        title="5. Memory (resident set of `invoicebot serve`)",
        headers=["when", "MB"],
        rows=rows,
        targets=[Target("idle RSS", idle, "<", TARGET_IDLE_MB, "MB")],
        notes=[f"RSS from psutil {SETTLE:.0f} s after /healthz first answered; MB = 10^6 bytes; peak is VmHWM."],
    )
