"""The report's bar chart: one horizontal bar per executor, the share of requests done on time, drawn
by matplotlib (its object API and SVG backend, no pyplot state) and inlined in the HTML, so the report
opens with no server.

Each bar carries the SVG id ``bar-<executor id>``; text stays text (svg.fonttype none), so the chart
is searchable and small.
"""

from __future__ import annotations

import io
import textwrap

from matplotlib import rc_context
from matplotlib.figure import Figure

from gateway.reports.figures import ExecutorFigures

ON_TIME, BELOW = "#2e7d32", "#c62828"


def _label(name: str) -> str:
    return "\n".join(textwrap.wrap(name, 48)[:2])


def bar_chart_svg(executors: list[ExecutorFigures], threshold: float) -> str:
    """An ``<svg>`` element (no XML prolog) with one bar per executor."""
    shares = [(e.on_time_share or 0.0) * 100 for e in executors]
    with rc_context({"svg.fonttype": "none", "font.family": "DejaVu Sans", "font.size": 8,
                     "svg.hashsalt": "kc1520"}):
        fig = Figure(figsize=(9, 0.42 * len(executors) + 1.2))
        ax = fig.subplots()
        positions = list(range(len(executors)))
        bars = ax.barh(positions, shares, color=[BELOW if s < threshold * 100 else ON_TIME for s in shares])
        for bar, executor, share in zip(bars, executors, shares, strict=True):
            bar.set_gid(f"bar-{executor.executor_id}")
            due = executor.done_on_time + executor.done_late + executor.open_overdue
            text = f"{share:.0f} % ({executor.done_on_time}/{due})" if due else "немає заявок зі строком"
            ax.text(min(share, 100) + 1, bar.get_y() + bar.get_height() / 2, text, va="center", fontsize=7)
        ax.axvline(threshold * 100, color="#555555", linestyle="--", linewidth=1)
        ax.set_yticks(positions, [_label(e.name_uk) for e in executors], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, 118)
        ax.set_xlabel(f"Частка заявок, виконаних вчасно, %  (поріг {threshold * 100:.0f} %)")
        ax.set_title("Виконання заявок у строк за виконавцями")
        ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        out = io.StringIO()
        fig.savefig(out, format="svg", metadata={"Date": None})
    svg = out.getvalue()
    return svg[svg.index("<svg"):]
