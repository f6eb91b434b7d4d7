"""One call from the database to the department's letters: compute a period's figures, write the report
folder (HTML, CSV, notices, outbox) and send the letters when SMTP is configured."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from gateway.reports import render
from gateway.reports.delivery import Letter, SmtpSettings, send, write_outbox
from gateway.reports.directory import Directory, default_directory
from gateway.reports.figures import ExecutorFigures, PeriodFigures, compute
from gateway.reports.periods import Period

REPORTS_DIR_ENV = "GATEWAY_REPORTS_DIR"


def reports_dir(explicit: Path | str | None = None) -> Path:
    """Where reports are written: the given folder, else $GATEWAY_REPORTS_DIR, else ./reports."""
    return Path(explicit or os.environ.get(REPORTS_DIR_ENV) or "reports")


@dataclass
class ReportFiles:
    folder: Path
    html: Path
    executors_csv: Path
    repeats_csv: Path
    notices: dict[str, Path]
    letters: list[Letter]
    outbox: list[Path]
    figures: PeriodFigures
    sent: int = 0
    skipped: list[str] = field(default_factory=list)  # letters with nobody to send to


def _write(path: Path, text: str, bom: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8-sig" if bom else "utf-8")
    return path


def _notice_body(figures: PeriodFigures, f: ExecutorFigures) -> str:
    lines = [f"{f.name_uk}", "",
             f"Управління по роботі зі зверненнями громадян інформує про недотримання термінів виконання "
             f"заявок Контакт-центру 1520 за {figures.period.label_uk()}.",
             f"Надійшло: {f.received}; виконано вчасно: {f.done_on_time}; із запізненням: {f.done_late}; "
             f"відкритих протермінованих: {f.open_overdue}.", ""]
    if f.overdue:
        lines.append("Протерміновані заявки, не виконані на кінець періоду:")
        lines += [f"  {o.number}  {o.item_code} {o.item_name}  {o.address}  термін {render.kyiv(o.deadline)}"
                  for o in f.overdue]
    else:
        lines.append("Протермінованих невиконаних заявок на кінець періоду немає.")
    return "\n".join([*lines, "", "Повний перелік — у вкладенні."])


def _deputy_body(group: render.RankedGroup, figures: PeriodFigures, directory: Directory) -> str:
    lines = [group.title, "", f"Рейтинг виконавців за часткою заявок, виконаних вчасно, за "
             f"{figures.period.label_uk()} (поріг {directory.threshold * 100:.0f} %):"]
    lines += [f"  {r['place']}. {r['name']}: {r['share'] or '—'} % ({r['verdict']})" for r in group.rows]
    lines += ["", "Неефективні виконавці: " + (", ".join(group.ineffective) if group.ineffective else "немає") + "."]
    return "\n".join(lines)


def write_report(session: Session, period: Period, now: datetime, out_dir: Path | str | None = None,
                 smtp: SmtpSettings | None = None, directory: Directory | None = None) -> ReportFiles:
    """Write the period's report folder; e-mail its letters through ``smtp`` when given."""
    directory = directory or default_directory()
    figures = compute(session, period, now)
    folder = reports_dir(out_dir) / period.slug
    html = _write(folder / "report.html", render.report_html(figures, directory))
    executors_csv = _write(folder / "executors.csv", render.executors_csv(figures), bom=True)
    repeats_csv = _write(folder / "repeat-requests.csv", render.repeats_csv(figures), bom=True)
    notices = {f.executor_id: _write(folder / "notices" / f"{f.executor_id}.html", render.notice_html(figures, f))
               for f in figures.executors}
    title = render.title_of(figures)
    letters = [Letter("report-department", directory.department, title,
                      f"{title}.\nЗвіт, показники виконавців і повторні заявки — у вкладеннях.",
                      (html, executors_csv, repeats_csv))]
    for f in figures.executors:
        letters.append(Letter(f"notice-{f.executor_id}", directory.executor_recipients.get(f.executor_id, ()),
                              f"Недотримання термінів виконання заявок за {period.label_uk()}",
                              _notice_body(figures, f), (notices[f.executor_id],)))
    for group in render.ranking(figures, directory):
        letters.append(Letter(f"deputy-{group.id}", directory.deputy_recipients.get(group.id, ()),
                              f"Неефективні виконавці за {period.label_uk()}",
                              _deputy_body(group, figures, directory), (html, executors_csv)))
    outbox = write_outbox(letters, directory.sender, folder / "outbox")
    result = ReportFiles(folder, html, executors_csv, repeats_csv, notices, letters, outbox, figures,
                         skipped=[letter.key for letter in letters if not letter.to])
    if smtp is not None:
        result.sent = send(letters, directory.sender, smtp)
    return result
