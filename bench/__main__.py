"""``make bench`` (``python -m bench``): every measurement beside its reference, one run, one table.

    python -m bench [--scale small|full] [--only push,pull,...] [--output PATH]

Each measurement runs in turn under a progress bar; one that fails is reported as not measured
(with its error under ``raw``) and the others still run. The table and the JSON say which targets
are met.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from bench.airflow_runs import airflow_environment

airflow_environment()  # before anything imports airflow

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402

from bench.config import Sizes, sizes  # noqa: E402
from bench.databases import Databases, databases  # noqa: E402
from bench.report import print_table, write_results  # noqa: E402

RESULTS = Path(__file__).parent / "results.json"
SOS_BLOCKED = (
    "not built this round: needs the event-driven path (an AssetWatcher on a MessageQueueTrigger, "
    "scheme redis+pubsub, from apache-airflow-providers-common-messaging and -redis, neither installed) "
    "with a real scheduler, triggerer, DAG processor and API server, and an event written in the "
    "contact centre's transaction; see docs/benchmark.md"
)

app = typer.Typer(add_completion=False, help=__doc__)


class Run:
    """The state of one benchmark run: figures, the one-line comparisons, and the raw data."""

    def __init__(self, dbs: Databases, chosen: Sizes) -> None:
        self.dbs, self.sizes = dbs, chosen
        self.figures: dict[str, Any] = {}
        self.details: dict[str, str] = {}
        self.raw: dict[str, Any] = {}

    # each measurement ------------------------------------------------------------------------------
    def push(self) -> None:
        from bench.push import measure_push

        results = {name: measure_push(self.dbs, name, self.sizes.push_requests)
                   for name in ("vodokanal", "teplotsentral")}
        self.raw["push"] = results
        ratios = [r["ratio"] for r in results.values() if r["ratio"] is not None]
        self.figures["push_ratio"] = min(ratios) if len(ratios) == len(results) else None
        self.details["push_ratio"] = "; ".join(
            f"{n} {r['gateway']['created']} in {r['gateway']['seconds']:.1f} s vs {r['reference']['seconds']:.2f} s "
            f"({r['ratio']:.3f})" for n, r in results.items())

    def pull(self) -> None:
        from bench.pull import measure_pull

        result = self.raw["pull"] = measure_pull(self.dbs, self.sizes.pull_changes)
        self.figures["pull_ratio"] = result["ratio"]
        self.details["pull_ratio"] = (f"{result['changes']} changes in {result['gateway']['seconds']:.1f} s vs "
                                      f"{result['reference']['seconds']:.2f} s")

    def pull_growth(self) -> None:
        from bench.pull import measure_pull_growth

        s = self.sizes
        result = self.raw["pull_growth"] = measure_pull_growth(self.dbs, s.growth_small_db, s.pull_growth_big_db,
                                                               s.pull_growth_changes)
        self.figures["pull_growth_ratio"] = result["ratio"]
        self.details["pull_growth_ratio"] = (
            f"{result['small']['ms_per_change']:.1f} ms/change at {s.growth_small_db:,} requests -> "
            f"{result['big']['ms_per_change']:.1f} at {s.pull_growth_big_db:,}")

    def push_growth(self) -> None:
        from bench.growth import measure_push_growth

        s = self.sizes
        result = self.raw["push_growth"] = measure_push_growth(self.dbs, s.growth_small_db, s.push_growth_open,
                                                               s.push_growth_requests)
        self.figures["push_growth_ratio"] = result["ratio"]
        self.details["push_growth_ratio"] = (
            f"{result['small']['ms_per_request']:.0f} ms/request with {s.growth_small_db:,} open -> "
            f"{result['big']['ms_per_request']:.0f} with {s.push_growth_open:,}")

    def naive(self) -> None:
        from bench.airflow_runs import measure_naive

        result = self.raw["naive_airflow"] = measure_naive(self.dbs, self.sizes.naive_requests)
        self.figures["naive_airflow_speedup"] = result["speedup"]
        self.details["naive_airflow_speedup"] = (
            f"{result['naive_ms_per_request']:.0f} ms/request naive vs {result['gateway_ms_per_request']:.0f} gateway")

    def parse(self) -> None:
        from bench.parse import measure_parse

        result = self.raw["parse"] = measure_parse(self.sizes.parse_connectors, self.sizes.parse_repeats)
        self.figures["parse_growth_ratio"] = result["ratio"]
        self.details["parse_growth_ratio"] = (f"{result['city']['seconds']:.2f} s for {result['city']['dags']} DAGs vs "
                                              f"{result['real']['seconds']:.2f} s for {result['real']['dags']}")

    def rss(self) -> None:
        from bench.memory import measure_rss

        result = self.raw["rss"] = measure_rss(self.dbs, self.sizes.rss_small, self.sizes.rss_big)
        self.figures["rss_growth_ratio"] = result["ratio"]
        self.details["rss_growth_ratio"] = (f"{result['big']['peak_rss_mb']:.0f} MB at {self.sizes.rss_big:,} vs "
                                            f"{result['small']['peak_rss_mb']:.0f} MB at {self.sizes.rss_small:,}")

    def backlog(self) -> None:
        from bench.backlog import measure_backlog

        allowed = {name: r["reference_per_s"] for name, r in self.raw.get("push", {}).items()}
        result = self.raw["backlog"] = measure_backlog(self.dbs, self.sizes.backlog_requests,
                                                       self.sizes.backlog_budget_s, allowed)
        self.figures["backlog_100k_s"] = result["backlog_100k_s"]
        self.figures["backlog_utilisation"] = result["utilisation"]
        how = "projected from the rates" if result["projected"] else "measured"
        self.details["backlog_100k_s"] = (f"{how}; {self.sizes.backlog_requests:,} requests, "
                                          f"{result['budget_s']:g} s budget")
        self.details["backlog_utilisation"] = "bare client's rate (vodokanal, teplotsentral), 5/s (ecospectrans)"

    def sos(self) -> None:
        self.raw["sos"] = {"measured": False, "reason": SOS_BLOCKED}
        self.figures["sos_latency_p95_s"] = None
        self.details["sos_latency_p95_s"] = "not built (see raw.sos)"


MEASUREMENTS: dict[str, Callable[[Run], None]] = {
    "push": Run.push, "pull": Run.pull, "pull_growth": Run.pull_growth, "push_growth": Run.push_growth,
    "naive": Run.naive, "parse": Run.parse, "rss": Run.rss, "backlog": Run.backlog, "sos": Run.sos,
}


@app.command()
def main(
    scale: Annotated[str, typer.Option(help="small (about 2 minutes) or full")] = os.environ.get("BENCH_SCALE", "full"),
    only: Annotated[str, typer.Option(help=f"comma-separated subset of: {', '.join(MEASUREMENTS)}")] = "",
    output: Annotated[Path | None, typer.Option(help="where to write the JSON (default: bench/results.json for "
                                                     "full, bench/results-<scale>.json otherwise)")] = None,
) -> None:
    chosen = sizes(scale)
    names = [n.strip() for n in only.split(",") if n.strip()] or list(MEASUREMENTS)
    if unknown := [n for n in names if n not in MEASUREMENTS]:
        raise typer.BadParameter(f"unknown measurement(s) {unknown}; known: {', '.join(MEASUREMENTS)}")
    output = output or (RESULTS if scale == "full" else RESULTS.with_name(f"results-{scale}.json"))
    console = Console() if Console().is_terminal else Console(width=180)  # a log file gets the full table
    started = datetime.now(UTC)
    with databases() as dbs:
        run = Run(dbs, chosen)
        columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            bar = progress.add_task("starting", total=len(names))
            for name in names:
                progress.update(bar, description=f"measuring {name}")
                t0 = time.perf_counter()
                try:
                    MEASUREMENTS[name](run)
                except Exception as exc:  # one broken measurement must not hide the others
                    run.raw.setdefault("errors", {})[name] = "".join(traceback.format_exception_only(exc)).strip()
                    console.print(f"[red]{name} failed:[/] {exc}")
                    console.print(traceback.format_exc(), markup=False, highlight=False)
                run.raw.setdefault("seconds", {})[name] = round(time.perf_counter() - t0, 1)
                console.print(f"{name}: done in {time.perf_counter() - t0:.0f} s")
                write_results(output, run.figures, run.raw, scale, chosen, started)  # a crash keeps what was done
                progress.advance(bar)
    print_table(run.figures, run.details, console)
    console.print(f"results written to {output}")


if __name__ == "__main__":
    app()
