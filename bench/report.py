"""The benchmark's outputs: one table for people (rich) and bench/results.json for machines.

results.json has exactly the issue's keys at the top level (null where a figure could not be
measured, with the reason under ``raw``), plus ``raw`` (every timing and count behind them) and
``run`` (when, at which scale, on what machine).
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.config import Sizes


@dataclass(frozen=True)
class Target:
    key: str
    what: str
    bound: float
    at_least: bool  # True: the figure must be >= bound; False: <= bound

    def met(self, value: Any) -> bool | None:
        if value is None or self.bound == float("inf"):  # no value, or a figure without a target
            return None
        values = list(value.values()) if isinstance(value, dict) else [value]
        if any(v is None for v in values):
            return None
        return all(v >= self.bound if self.at_least else v <= self.bound for v in values)

    @property
    def text(self) -> str:
        return f"{'≥' if self.at_least else '≤'} {self.bound:g}"


TARGETS = (
    Target("push_ratio", "push: gateway / bare client, same calls", 0.8, True),
    Target("pull_ratio", "pull: gateway / paged fetch + bulk upsert", 0.5, True),
    Target("pull_growth_ratio", "pull cost per change, big db / small db", 1.2, False),
    Target("push_growth_ratio", "push cost per request, many open / few", 1.2, False),
    Target("naive_airflow_speedup", "naive mapped DAG / gateway DAG (dag.test)", 20, True),
    Target("parse_growth_ratio", "DAG folder parse, 130 connectors / 3", 1.5, False),
    Target("rss_growth_ratio", "peak RSS of a cycle, big backlog / small", 1.3, False),
    Target("backlog_100k_s", "seconds to clear 100,000 requests", float("inf"), False),
    Target("backlog_utilisation", "achieved rate / allowed, per utility", 0.8, True),
    Target("sos_latency_p95_s", "SOS registered -> job at utility, p95 (s)", 30, False),
)
KEYS = tuple(t.key for t in TARGETS)


def _show(value: Any) -> str:
    if value is None:
        return "not measured"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_show(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def table(figures: dict[str, Any], details: dict[str, str]) -> Table:
    grid = Table(title="make bench: the gateway beside its references, same run")
    for column in ("figure", "what", "gateway vs reference", "value", "target", "met"):
        grid.add_column(column, overflow="fold")
    for target in TARGETS:
        value = figures.get(target.key)
        met = target.met(value)
        mark = {True: "[green]yes[/]", False: "[red]no[/]", None: "[yellow]—[/]"}[met]
        grid.add_row(target.key, target.what, details.get(target.key, ""), _show(value),
                     "—" if target.bound == float("inf") else target.text, mark)
    return grid


def write_results(path: Path, figures: dict[str, Any], raw: dict[str, Any], scale: str, sizes: Sizes,
                  started: datetime) -> dict[str, Any]:
    document = {key: figures.get(key) for key in KEYS}
    document["raw"] = raw
    document["run"] = {
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "scale": scale, "sizes": asdict(sizes), "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                                            "load_average": os.getloadavg()},
        "targets_met": {t.key: t.met(figures.get(t.key)) for t in TARGETS if t.bound != float("inf")},
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return document


def print_table(figures: dict[str, Any], details: dict[str, str], console: Console | None = None) -> None:
    (console or Console()).print(table(figures, details))
