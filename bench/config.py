"""Sizes of one benchmark run: a scale preset, each size overridable by an environment variable.

``BENCH_SCALE=small`` finishes in about two minutes (a check that the harness works); ``full`` is
the issue's sizes where the current engine can finish them in well under an hour (where it cannot,
the size used is recorded next to the figure). ``BENCH_<FIELD>`` (upper case) overrides one size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class Sizes:
    push_requests: int  # pushed to each of vodokanal and teplotsentral (issue: 2,000)
    pull_changes: int  # status changes pulled from vodokanal (issue: 20,000)
    growth_small_db: int  # requests (with history) in the small database of both growth figures
    pull_growth_big_db: int  # ... in the big one of pull_growth_ratio (issue: 1,000,000)
    pull_growth_changes: int  # changes pulled in each (issue: 1,000)
    push_growth_open: int  # open requests across the classifier in push_growth_ratio's big database
    push_growth_requests: int  # new requests pushed in each
    naive_requests: int  # requests of naive_airflow_speedup (issue: 200)
    parse_connectors: int  # connectors in the big DAG folder (the city's executors: 130)
    parse_repeats: int  # parses per side (the median counts), after one warm-up
    rss_small: int  # backlog of the small memory cycle (issue: 1,000)
    rss_big: int  # ... of the big one (issue: 100,000)
    backlog_requests: int  # backlog over the three utilities (issue: 100,000)
    backlog_budget_s: float  # at most this long to clear it; the rest is projected from the rates
    sos_requests: int  # SOS requests for sos_latency_p95_s (issue: >= 20)


SCALES = {
    "small": Sizes(push_requests=150, pull_changes=2_000, growth_small_db=2_000, pull_growth_big_db=20_000,
                   pull_growth_changes=400, push_growth_open=10_000, push_growth_requests=30, naive_requests=10,
                   parse_connectors=130, parse_repeats=1, rss_small=20, rss_big=200, backlog_requests=300,
                   backlog_budget_s=10,
                   sos_requests=20),
    "full": Sizes(push_requests=2_000, pull_changes=20_000, growth_small_db=10_000, pull_growth_big_db=1_000_000,
                  pull_growth_changes=1_000, push_growth_open=100_000, push_growth_requests=200, naive_requests=200,
                  parse_connectors=130, parse_repeats=3, rss_small=1_000, rss_big=100_000, backlog_requests=100_000,
                  backlog_budget_s=300, sos_requests=20),
}


def sizes(scale: str, environ: dict[str, str] | None = None) -> Sizes:
    """The preset ``scale`` with any ``BENCH_<FIELD>`` override applied."""
    environ = dict(os.environ if environ is None else environ)
    if scale not in SCALES:
        raise ValueError(f"unknown BENCH_SCALE {scale!r}; known: {', '.join(SCALES)}")
    chosen = SCALES[scale]
    overrides = {}
    for f in fields(Sizes):
        raw = environ.get(f"BENCH_{f.name.upper()}")
        if raw:
            try:
                overrides[f.name] = (float if f.type == "float" else int)(raw)
            except ValueError:
                raise ValueError(f"BENCH_{f.name.upper()}={raw!r}: expected a number") from None
    return replace(chosen, **overrides)
