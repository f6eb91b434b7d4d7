"""Every report figure on a generated week, against answers computed from the week's plan alone; the
CSV and the HTML (parsed back) hold every executor and the right figures, the SVG one bar per
executor; notices list exactly the overdue requests; the ranking names those under the threshold."""

from __future__ import annotations

import csv
from datetime import date

import lxml.html
import pytest

from gateway.reference_data import load_executor_rows
from gateway.reports.build import write_report
from gateway.reports.directory import load_directory
from gateway.reports.figures import compute
from gateway.reports.periods import previous_week, week_of
from tests.reports_week import (
    NOW,
    WEEK_END,
    WEEK_START,
    expected_figures,
    expected_repeats_by_item,
    plan_week,
    write_notices,
    write_week,
)

WEEK = week_of(date(2026, 11, 25))
ALL_EXECUTORS = [r["id"] for r in load_executor_rows()]
FIELDS = ("received", "done_on_time", "done_late", "open", "open_overdue", "rework", "repeat_outage",
          "repeat_open_job", "planned_notices", "late_notices")
ZERO = dict.fromkeys(FIELDS, 0) | {"median": None, "p90": None, "share": None, "overdue_numbers": set()}


@pytest.fixture
def week(sessions):
    plans = plan_week()
    with sessions.begin() as session:
        write_week(session, plans)
        write_notices(session)
    expected = expected_figures(plans)
    return plans, {e: expected.get(e, ZERO) for e in ALL_EXECUTORS}


def test_the_period_is_monday_to_sunday_in_kyiv_time():
    assert (WEEK.start, WEEK.end) == (WEEK_START, WEEK_END)
    assert previous_week(NOW) == WEEK
    assert WEEK.slug == "weekly-2026-11-23_2026-11-29"


def test_every_figure_of_every_executor(sessions, week):
    plans, expected = week
    assert sum(e["open_overdue"] for e in expected.values()) > 3  # the week is not trivial
    assert sum(e["done_late"] for e in expected.values()) > 3
    assert sum(e["repeat_outage"] + e["repeat_open_job"] for e in expected.values()) > 2
    with sessions() as session:
        figures = compute(session, WEEK, NOW)
    assert [f.executor_id for f in figures.executors] == ALL_EXECUTORS
    for f in figures.executors:
        want = expected[f.executor_id]
        assert {k: getattr(f, k) for k in FIELDS} == {k: want[k] for k in FIELDS}, f.executor_id
        assert f.median_hours == pytest.approx(want["median"]), f.executor_id
        assert f.p90_hours == pytest.approx(want["p90"]), f.executor_id
        assert f.on_time_share == pytest.approx(want["share"]), f.executor_id
        assert {o.number for o in f.overdue} == want["overdue_numbers"], f.executor_id
    got = {(r.executor_id, r.item_code): {"outage": r.outage, "open_job": r.open_job} for r in figures.repeats_by_item}
    assert got == expected_repeats_by_item(plans)


def test_a_report_run_later_says_the_same(sessions, week):
    with sessions() as session:
        first = compute(session, WEEK, NOW)
        later = compute(session, WEEK, NOW.replace(year=2027))
    assert [(f.executor_id, f.done_on_time, f.open_overdue) for f in first.executors] == \
           [(f.executor_id, f.done_on_time, f.open_overdue) for f in later.executors]


def _cell(value):
    return "" if value is None else f"{value:.1f}"


def test_csv_html_chart_notices_and_ranking(sessions, week, tmp_path):
    _, expected = week
    directory = load_directory()
    with sessions() as session:
        files = write_report(session, WEEK, NOW, tmp_path)
    assert files.folder == tmp_path / "weekly-2026-11-23_2026-11-29"

    with files.executors_csv.open(encoding="utf-8-sig", newline="") as handle:
        rows = {r["Код виконавця"]: r for r in csv.DictReader(handle)}
    assert list(rows) == ALL_EXECUTORS
    for executor, want in expected.items():
        row = rows[executor]
        assert int(row["Надійшло"]) == want["received"]
        assert int(row["Виконано вчасно"]) == want["done_on_time"]
        assert int(row["Виконано із запізненням"]) == want["done_late"]
        assert int(row["Відкриті протерміновані"]) == want["open_overdue"]
        assert int(row["Повернуто на доопрацювання"]) == want["rework"]
        assert int(row["Повторні: відоме відключення"]) == want["repeat_outage"]
        assert int(row["з них пізно (< 10 робочих днів)"]) == want["late_notices"]
        assert row["Медіана часу до виконання, год"] == _cell(want["median"])

    doc = lxml.html.fromstring(files.html.read_text(encoding="utf-8"))
    assert doc.get("lang") == "uk"
    table = {tr.get("data-executor"): [td.text_content().strip() for td in tr.findall("td")]
             for tr in doc.xpath('//table[@id="executors"]/tbody/tr')}
    names = {r["id"]: r["name_uk"] for r in load_executor_rows()}
    assert set(table) == set(ALL_EXECUTORS)
    for executor, want in expected.items():
        cells = table[executor]
        assert cells[0] == names[executor]
        assert cells[1:6] == [str(want[k]) for k in ("received", "done_on_time", "done_late", "open", "open_overdue")]
        assert cells[6:8] == [_cell(want["median"]), _cell(want["p90"])]
        assert cells[-1] == ("" if want["share"] is None else f"{want['share'] * 100:.1f}")

    svgs = doc.xpath('//figure[@id="chart"]/*[local-name()="svg"]')
    assert len(svgs) == 1
    bars = svgs[0].xpath('.//*[starts-with(@id, "bar-")]')
    assert sorted(b.get("id") for b in bars) == sorted(f"bar-{e}" for e in ALL_EXECUTORS)
    assert all(len(b.xpath('.//*[local-name()="path"]')) == 1 for b in bars)

    for executor, want in expected.items():
        notice = lxml.html.fromstring(files.notices[executor].read_text(encoding="utf-8"))
        listed = {tr.findall("td")[0].text_content() for tr in notice.xpath('//table[@id="overdue"]/tbody/tr')}
        assert listed == want["overdue_numbers"], executor
        assert names[executor] in notice.text_content()
        assert "Олена" not in notice.text_content() and "+38067" not in notice.text_content()

    for deputy in directory.deputies:
        group = doc.xpath(f'//table[@data-deputy="{deputy.id}"]')[0]
        ranked = [tr.get("data-executor") for tr in group.xpath("./tbody/tr")]
        assert sorted(ranked) == sorted(deputy.executors)
        shares = [expected[e]["share"] for e in ranked if expected[e]["share"] is not None]
        assert shares == sorted(shares, reverse=True)
        below = {tr.get("data-executor") for tr in group.xpath('./tbody/tr[@class="below"]')}
        assert below == {e for e in deputy.executors
                         if expected[e]["share"] is not None and expected[e]["share"] < directory.threshold}
    assert len(files.outbox) == 1 + len(ALL_EXECUTORS) + len(directory.deputies)
