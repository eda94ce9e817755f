"""`make demo` keeps working: the whole flow against the fakes, as a newcomer first sees it."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.harness import ROOT


def test_the_demo_runs_the_whole_flow_to_the_payment() -> None:
    done = subprocess.run([sys.executable, "-m", "bot.cli", "demo"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Status: :white_check_mark: Paid" in done.stdout and "In #payments:" in done.stdout
