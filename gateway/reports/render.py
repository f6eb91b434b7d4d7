"""The report's files, in Ukrainian: the executors' CSV, the repeat requests' CSV, the HTML report with
its chart and the ranking by deputy mayor, and one notice per executor listing its overdue requests."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from gateway.reports.chart import bar_chart_svg
from gateway.reports.directory import Directory
from gateway.reports.figures import ExecutorFigures, PeriodFigures
from gateway.reports.periods import KYIV, MONTHLY, WEEKLY
from gateway.statuses import STATUS_NAMES_UK

TEMPLATES = Path(__file__).parent / "templates"
HEADERS = [
    "Виконавець", "Надійшло", "Виконано вчасно", "Виконано із запізненням", "Відкриті",
    "Відкриті протерміновані", "Медіана часу до виконання, год", "90-й процентиль часу до виконання, год",
    "Повернуто на доопрацювання", "Повторні: відоме відключення", "Повторні: відкрита заявка",
    "Планові роботи оголошено", "з них пізно (< 10 робочих днів)", "Частка вчасно, %",
]
REPEAT_HEADERS = ["Виконавець", "Код виконавця", "Пункт класифікатора", "Назва пункту",
                  "Відоме відключення", "Відкрита заявка"]
KIND_UK = {WEEKLY: "Тижневий звіт", MONTHLY: "Місячний звіт"}

_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["j2", "html"]),
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def kyiv(moment: datetime) -> str:
    return f"{moment.astimezone(KYIV):%d.%m.%Y %H:%M}"


def hours(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def share(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}"


def figures_row(f: ExecutorFigures) -> list[str | int]:
    """One executor's figures in the order of HEADERS (without the name)."""
    return [f.received, f.done_on_time, f.done_late, f.open, f.open_overdue, hours(f.median_hours),
            hours(f.p90_hours), f.rework, f.repeat_outage, f.repeat_open_job, f.planned_notices, f.late_notices,
            share(f.on_time_share)]


def title_of(figures: PeriodFigures) -> str:
    kind = KIND_UK.get(figures.period.kind, "Звіт")
    return f"{kind} про виконання заявок Контакт-центру 1520 за {figures.period.label_uk()}"


def executors_csv(figures: PeriodFigures) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Код виконавця", *HEADERS])
    for f in figures.executors:
        writer.writerow([f.executor_id, f.name_uk, *figures_row(f)])
    return out.getvalue()


def repeats_csv(figures: PeriodFigures) -> str:
    names = {f.executor_id: f.name_uk for f in figures.executors}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(REPEAT_HEADERS)
    for r in figures.repeats_by_item:
        writer.writerow([names[r.executor_id], r.executor_id, r.item_code, r.item_name, r.outage, r.open_job])
    return out.getvalue()


@dataclass(frozen=True)
class RankedGroup:
    id: str
    title: str
    rows: list[dict[str, object]]
    ineffective: list[str]


def ranking(figures: PeriodFigures, directory: Directory) -> list[RankedGroup]:
    """Per deputy mayor, the executors from the highest share done on time to the lowest; those under
    the threshold are named (decision 6.3). An executor with nothing due is listed, not ranked."""
    groups = []
    for deputy in directory.deputies:
        members = [figures.executor(e) for e in deputy.executors]
        ranked = sorted((m for m in members if m.on_time_share is not None),
                        key=lambda m: (-m.on_time_share, -m.done_on_time, m.executor_id))
        rows, ineffective = [], []
        for place, m in enumerate(ranked, start=1):
            below = m.on_time_share < directory.threshold
            rows.append({"id": m.executor_id, "place": place, "name": m.name_uk, "share": share(m.on_time_share),
                         "overdue": m.open_overdue, "below": below,
                         "verdict": "неефективний (нижче порогу)" if below else "у межах норми"})
            if below:
                ineffective.append(m.name_uk)
        rows += [{"id": m.executor_id, "place": "—", "name": m.name_uk, "share": "", "overdue": 0, "below": False,
                  "verdict": "заявок зі строком у періоді не було"}
                 for m in members if m.on_time_share is None]
        groups.append(RankedGroup(deputy.id, deputy.title_uk, rows, ineffective))
    return groups


def report_html(figures: PeriodFigures, directory: Directory) -> str:
    rows = [{"id": f.executor_id, "name": f.name_uk, "cells": figures_row(f),
             "below": f.on_time_share is not None and f.on_time_share < directory.threshold}
            for f in figures.executors]
    names = {f.executor_id: f.name_uk for f in figures.executors}
    repeats = [{"executor": names[r.executor_id], "code": r.item_code, "name": r.item_name, "outage": r.outage,
                "open_job": r.open_job} for r in figures.repeats_by_item]
    kind = "місячний" if figures.period.kind == MONTHLY else "тижневий"
    return _env.get_template("report.html.j2").render(
        title=title_of(figures), period=figures.period.label_uk(), as_of=kyiv(figures.as_of),
        headers=HEADERS, rows=rows, chart=bar_chart_svg(figures.executors, directory.threshold),
        threshold=f"{directory.threshold * 100:.0f}", repeats=repeats, ranking=ranking(figures, directory),
        ranking_title=f"Рейтинг виконавців за заступниками міського голови ({kind}, рішення п. 6.3)",
    )


def notice_html(figures: PeriodFigures, executor: ExecutorFigures) -> str:
    overdue = [{"number": o.number, "code": o.item_code, "name": o.item_name, "address": o.address,
                "registered": kyiv(o.registered_at), "deadline": kyiv(o.deadline) + (" (продовжено)" if o.extended
                                                                                     else ""),
                "hours": f"{o.hours_overdue:.1f}", "status": STATUS_NAMES_UK.get(o.status, o.status)}
               for o in executor.overdue]
    return _env.get_template("notice.html.j2").render(
        title=f"Повідомлення про недотримання термінів виконання заявок за {figures.period.label_uk()}",
        executor=executor.name_uk, period=figures.period.label_uk(), as_of=kyiv(figures.as_of), f=executor,
        overdue=overdue,
    )
