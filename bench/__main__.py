"""`python -m bench [NAME ...]`: run the benchmarks (all by default), print each one's figures and a
summary of the targets, and write docs/benchmarks.md (only when all of them ran)."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import ack, bodies, burst, digest_memory, ingest, memory, month_end, stripe_calls
from bench.common import Context, machine
from bench.fakes import running_fakes
from bench.report import Section, print_section, print_summary, write_markdown
from tests.harness import ROOT

DOC = ROOT / "docs" / "benchmarks.md"
COMMAND = "make bench"

Benchmark = Callable[[Context], Section]
BENCHMARKS: dict[str, Benchmark] = {
    "ack": ack.run,
    "ingest": ingest.run,
    "burst": burst.run,
    "stripe_calls": stripe_calls.run,
    "memory": memory.run,
    "bodies": bodies.run,
    "month_end": month_end.run,
    "digest_memory": digest_memory.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", choices=[[], *BENCHMARKS], metavar="NAME",
                        help=f"any of {', '.join(BENCHMARKS)} (default: all)")
    args = parser.parse_args(argv)
    names = args.names or list(BENCHMARKS)
    info = machine()
    print(f"invoicebot benchmarks: {', '.join(names)} on {info['nproc']} CPUs ({info['cpu']}), {info['memory']}, "
          f"Python {info['python']}")
    started = time.monotonic()
    sections: list[Section] = []
    shared: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="invoicebot-bench-") as tmp, running_fakes() as fakes:
        for name in names:
            workdir = Path(tmp) / name
            workdir.mkdir()
            began = time.monotonic()
            section = BENCHMARKS[name](Context(fakes, workdir, shared))
            section.seconds = time.monotonic() - began
            print_section(section)
            sections.append(section)
    total = time.monotonic() - started
    print_summary(sections)
    print(f"\nall done in {total:.0f} s")
    if names == list(BENCHMARKS):
        write_markdown(DOC, sections, machine=info, date=time.strftime("%Y-%m-%d %H:%M %Z"), command=COMMAND,
                       total_seconds=total)
        print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
