"""Results: each benchmark returns a `Section` (figures, targets, notes); this prints them and
writes docs/benchmarks.md."""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">=": operator.ge, ">": operator.gt, "==": operator.eq,
}


@dataclass(frozen=True)
class Target:
    """`measured op limit`, e.g. p99 < 50 ms."""

    label: str
    measured: float
    op: str
    limit: float
    unit: str = ""

    @property
    def met(self) -> bool:
        return _OPS[self.op](self.measured, self.limit)

    @property
    def goal(self) -> str:
        return f"{self.op} {fmt(self.limit)}{_unit(self.unit)}"

    @property
    def margin(self) -> str:
        gap = abs(self.measured - self.limit)
        if self.op == "==":
            return "exact" if self.met else f"off by {fmt(gap)}{_unit(self.unit)}"
        share = f" ({gap / self.limit:.0%} of the target)" if self.limit else ""
        word = "met by" if self.met else "missed by"
        return f"{word} {fmt(gap)}{_unit(self.unit)}{share}"


@dataclass
class Section:
    key: str
    title: str
    headers: list[str]
    rows: list[list[str]]
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def fmt(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _unit(unit: str) -> str:
    return "" if not unit else (unit if unit in ("×", "%") else f" {unit}")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    line = "  ".join(f"{header:<{width}}" for header, width in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * width for width in widths)]
    out += ["  ".join(f"{str(cell):<{width}}" for cell, width in zip(row, widths, strict=True)) for row in rows]
    return out


def _markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return out


def _target_rows(sections: Sequence[Section]) -> list[list[str]]:
    return [[section.title, target.label, target.goal, f"{fmt(target.measured)}{_unit(target.unit)}",
             "met" if target.met else "MISSED", target.margin]
            for section in sections for target in section.targets]


TARGET_HEADERS = ["benchmark", "figure", "target", "measured", "result", "margin"]


def print_section(section: Section) -> None:
    print(f"\n== {section.title} ({section.seconds:.0f} s)")
    print("\n".join(_table(section.headers, section.rows)))
    for target in section.targets:
        print(f"  target {target.label} {target.goal}: {fmt(target.measured)}{_unit(target.unit)} -> "
              f"{'met' if target.met else 'MISSED'}, {target.margin}")
    for note in section.notes:
        print(f"  note: {note}")


def print_summary(sections: Sequence[Section]) -> None:
    print("\n== Summary")
    print("\n".join(_table(TARGET_HEADERS, _target_rows(sections))))


def write_markdown(path: Path, sections: Sequence[Section], *, machine: dict[str, str], date: str, command: str,
                   total_seconds: float) -> None:
    out = [
        "# Benchmarks",
        "",
        f"Produced by `{command}` on {date} in {total_seconds:.0f} s; rewritten by every run. Each benchmark",
        "measures its baseline in the same run, on the same machine, against the local fakes of Slack and",
        "Stripe (tests/fakes), over loopback HTTP.",
        "",
        "## Machine",
        "",
        *_markdown_table(["nproc", "CPU", "memory", "Python", "OS"],
                         [[machine["nproc"], machine["cpu"], machine["memory"], machine["python"], machine["os"]]]),
        "",
        "## Targets",
        "",
        *_markdown_table(TARGET_HEADERS, _target_rows(sections)),
    ]
    for section in sections:
        out += ["", f"## {section.title}", "", *_markdown_table(section.headers, section.rows)]
        if section.notes:
            out += ["", *[f"- {note}" for note in section.notes]]
    path.write_text("\n".join(out) + "\n")
