"""The receivables digest's aging charts: PNG bar charts drawn with matplotlib, in a process of their own.

matplotlib (with numpy and Pillow) adds some 55 MB to the process that imports it, and Python never
gives that back. So it is imported only here, only in `python -m bot.adapters.charts`, a child that
draws the charts it is sent and exits: the bot's own processes never load it, and their idle
footprint stays what it was whatever digests were drawn. The child reads a JSON list of charts on
stdin and answers a JSON list of base64 PNGs on stdout; nothing else crosses, and nothing touches a
disk but matplotlib's font cache (MPLCONFIGDIR, in the temporary directory).

Amounts arrive as floats of major units: they are bar heights, for drawing only. Every figure a
person reads on the chart (the labels over the bars, the title) arrives as text the bot formatted
from integer minor units.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RENDER_TIMEOUT_SECONDS = 60.0
BAR_COLOURS = ("#2e7d32", "#f9a825", "#ef6c00", "#c62828", "#6d1b1b")  # current ... 90+, green to dark red


class ChartFailure(Exception):
    """The charts could not be drawn (the drawing process failed, or took too long)."""


@dataclass(frozen=True)
class ChartSpec:
    title: str
    subtitle: str
    labels: list[str]  # one per bar, e.g. "1–30 days"
    heights: list[float]  # major units, for drawing only
    value_labels: list[str]  # what is written over each bar (amounts formatted from minor units)
    counts: list[int]  # invoices per bar, written under its label


def render_charts(specs: list[ChartSpec], *, timeout: float = RENDER_TIMEOUT_SECONDS) -> list[bytes]:
    """PNG bytes of each chart, drawn in a child process (see the module's doc)."""
    if not specs:
        return []
    package_root = str(Path(__file__).resolve().parent.parent.parent)
    env = {**os.environ, "MPLBACKEND": "Agg",
           "MPLCONFIGDIR": os.path.join(tempfile.gettempdir(), f"invoicebot-matplotlib-{os.getuid()}"),
           "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    try:
        done = subprocess.run([sys.executable, "-m", "bot.adapters.charts"], input=json.dumps(
            [asdict(spec) for spec in specs]).encode(), capture_output=True, timeout=timeout, env=env, check=False)
    except (OSError, subprocess.SubprocessError) as error:
        raise ChartFailure(f"the chart process did not run: {error}") from None
    if done.returncode != 0:
        raise ChartFailure(f"the chart process failed ({done.returncode}): "
                           f"{done.stderr.decode(errors='replace')[-500:]}")
    try:
        return [base64.b64decode(item) for item in json.loads(done.stdout)]
    except (ValueError, TypeError) as error:
        raise ChartFailure(f"the chart process answered something else: {error}") from None


def draw(spec: ChartSpec) -> bytes:
    """One aging chart as PNG bytes (matplotlib's Agg backend: no display, no window)."""
    from matplotlib.figure import Figure  # here only: see the module's doc

    figure = Figure(figsize=(8, 4.5), dpi=110, layout="constrained")
    axes = figure.subplots()
    positions = list(range(len(spec.heights)))
    bars = axes.bar(positions, spec.heights, color=BAR_COLOURS[: len(spec.heights)], width=0.65)
    axes.set_xticks(positions, [f"{label}\n{count} invoice{'s' if count != 1 else ''}"
                                for label, count in zip(spec.labels, spec.counts, strict=True)])
    axes.bar_label(bars, labels=spec.value_labels, padding=3, fontsize=9)
    top = max(spec.heights, default=0.0)
    axes.set_ylim(0, top * 1.18 if top > 0 else 1)
    axes.set_yticks([])  # the amounts are written over the bars, exactly
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)
    axes.set_title(f"{spec.title}\n{spec.subtitle}", loc="left", fontsize=11)
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def _main() -> int:
    specs: list[dict[str, Any]] = json.loads(sys.stdin.buffer.read())
    pngs = [base64.b64encode(draw(ChartSpec(**spec))).decode() for spec in specs]
    sys.stdout.write(json.dumps(pngs))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
