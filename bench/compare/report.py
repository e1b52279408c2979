"""Turn the workloads' JSON lines into medians, Arobase/Dovecot ratios, a text table and a PNG chart.

Kept apart from the servers and the client so that the arithmetic and the formatting can be tested
without running anything.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REQUIRED = ("label", "scenario", "ok", "figures")


def parse_line(line: str) -> dict[str, Any] | None:
    """One result line, or None for anything else the client printed (blank lines, warnings)."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(record, dict) or any(key not in record for key in REQUIRED):
        return None
    if not isinstance(record["figures"], dict):
        return None
    return record


def parse_lines(lines: Iterable[str]) -> list[dict[str, Any]]:
    return [record for line in lines if (record := parse_line(line)) is not None]


@dataclass(frozen=True, slots=True)
class Target:
    """A bound on the raw ratio Arobase/Dovecot that issue 10 asks for."""

    bound: float
    at_least: bool  # rates must reach the bound; times and memory must stay under it

    def met(self, ratio: float) -> bool:
        return ratio >= self.bound if self.at_least else ratio <= self.bound

    def __str__(self) -> str:
        return f"{'>=' if self.at_least else '<='} {self.bound:g}"


# (scenario, figure) -> target, at the sizes (100,000-message folder, 2,000 messages, 500 IDLE)
TARGETS: dict[tuple[str, str], Target] = {
    ("smtp_ingest", "msg/s visible"): Target(2.0, True),
    ("append_100000", "msg/s"): Target(1.0, True),
    ("fetch_envelope_100000", "ms warm"): Target(1.0, False),
    ("fetch_bodystructure_100000", "ms"): Target(2.0, False),
    ("fetch_bodystructure_100000", "ms warm"): Target(2.0, False),
    ("search_text_100000", "ms"): Target(0.1, False),
    ("search_text_100000", "ms warm"): Target(0.1, False),
    ("search_from_100000", "ms"): Target(1.0, False),
    ("search_from_100000", "ms warm"): Target(1.0, False),
    ("search_subject_100000", "ms"): Target(1.0, False),
    ("search_subject_100000", "ms warm"): Target(1.0, False),
    ("store_seen_100000", "ms"): Target(3.0, False),
    ("pop3_2000", "MB/s"): Target(1.0, True),
    ("sessions", "sessions/s"): Target(1.0, True),
    ("idle_500", "KB/conn"): Target(0.1, False),
    ("idle_500", "delay p99 ms"): Target(0.2, False),
}


def higher_is_better(figure: str) -> bool:
    """Rates (msg/s, sessions/s) are better high; times, delays and memory are better low."""
    return "/s" in figure


@dataclass(slots=True)
class Row:
    """One figure of one scenario: every round's values per server, and failures per server."""

    scenario: str
    figure: str
    values: dict[str, list[float]] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)

    def median(self, label: str) -> float | None:
        values = self.values.get(label)
        return statistics.median(values) if values else None

    def ratio(self, label: str, reference: str) -> float | None:
        """median(label) / median(reference); None when either is missing or the reference is 0."""
        mine, theirs = self.median(label), self.median(reference)
        if mine is None or theirs is None or theirs == 0:
            return None
        return mine / theirs

    def advantage(self, label: str, reference: str) -> float | None:
        """How many times better `label` is than `reference` (> 1 means better), whatever the direction."""
        ratio = self.ratio(label, reference)
        if ratio is None or ratio == 0:
            return None
        return ratio if higher_is_better(self.figure) else 1 / ratio


def collect(records: Iterable[dict[str, Any]]) -> list[Row]:
    """Rows in first-seen order; a failed scenario counts as a failure in each row it would have filled."""
    rows: dict[tuple[str, str], Row] = {}
    failed: list[tuple[str, str]] = []
    for record in records:
        scenario, label = str(record["scenario"]), str(record["label"])
        if not record["ok"]:
            failed.append((scenario, label))
            continue
        for figure, value in record["figures"].items():
            row = rows.setdefault((scenario, figure), Row(scenario, figure))
            row.values.setdefault(label, []).append(float(value))
    for scenario, label in failed:
        matching = [row for (name, _), row in rows.items() if name == scenario]
        if not matching:
            matching = [rows.setdefault((scenario, "-"), Row(scenario, "-"))]
        for row in matching:
            row.failures[label] = row.failures.get(label, 0) + 1
    return list(rows.values())


def number(value: float | None) -> str:
    """Three significant figures or so, with thousands separators for big values."""
    if value is None:
        return "-"
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def cell(row: Row, label: str) -> str:
    text = number(row.median(label))
    if row.failures.get(label):
        text += f" ({row.failures[label]} FAIL)"
    return text


def table(rows: list[Row], mine: str = "arobase", reference: str = "dovecot") -> str:
    """A Markdown table: medians, the raw ratio mine/reference, and which way is better."""
    header = [
        "scenario",
        "figure",
        f"{mine} (median)",
        f"{reference} (median)",
        f"ratio {mine}/{reference}",
        "better",
        "target (ratio)",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        ratio = row.ratio(mine, reference)
        advantage = row.advantage(mine, reference)
        verdict = "-"
        if advantage is not None:
            verdict = f"{mine} x{advantage:.2f}" if advantage >= 1 else f"{reference} x{1 / advantage:.2f}"
        direction = "higher" if higher_is_better(row.figure) else "lower"
        target = TARGETS.get((row.scenario, row.figure))
        goal = ""
        if target is not None:
            goal = f"{target}: " + ("-" if ratio is None else "met" if target.met(ratio) else "NOT met")
        lines.append(
            f"| {row.scenario} | {row.figure} ({direction} is better) | {cell(row, mine)} | {cell(row, reference)} |"
            f" {'-' if ratio is None else f'{ratio:.2f}'} | {verdict} | {goal} |"
        )
    return "\n".join(lines)


def chart(rows: list[Row], path: Path, mine: str = "arobase", reference: str = "dovecot") -> int:
    """A PNG of how many times better `mine` is per figure (log scale, 1 = even); returns the bars drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = [(f"{row.scenario} {row.figure}", row.advantage(mine, reference)) for row in rows]
    drawn = [(name, value) for name, value in bars if value is not None and value > 0]
    figure, axes = plt.subplots(figsize=(10, max(3.0, 0.32 * len(drawn) + 1.5)))
    if drawn:
        names = [name for name, _ in drawn][::-1]
        values = [value for _, value in drawn][::-1]
        colours = ["#2e8b57" if value >= 1 else "#c0392b" for value in values]
        axes.barh(names, values, color=colours)
        axes.set_xscale("log")
        axes.axvline(1.0, color="black", linewidth=1)
    axes.set_xlabel(f"times better: {mine} vs {reference} (> 1: {mine} better; log scale)")
    axes.set_title(f"{mine} vs {reference}, medians")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return len(drawn)
