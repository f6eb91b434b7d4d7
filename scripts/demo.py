"""`make demo`: the gateway end to end on the embedded default.

A SQLite contact-centre database with realistic requests, every registered utility's simulator on
loopback, and each utility's sync DAG run through real Airflow (dag.test) twice: the first run
publishes the utilities' announcements and pushes the requests; between runs the utilities' crews
work (the simulators move jobs on) and operators act; the second run brings statuses back, sends
the operators' updates and revises or withdraws announcements. It ends with a table of what moved.

Everything lives in .demo/ (ignored); running the demo again starts from a fresh database.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import warnings
from contextlib import redirect_stderr, redirect_stdout
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".demo"
DB_PATH = STATE / "contact_centre.db"
os.environ["AIRFLOW_HOME"] = str(STATE / "airflow")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
os.environ["GATEWAY_DATABASE_URL"] = f"sqlite:///{DB_PATH}"
sys.path.insert(0, str(ROOT))
# Third party, nothing of ours: Airflow's in-process execution API imports svcs, whose FastAPI
# integration imports fastapi.testclient, which starlette now warns about (httpx -> httpx2).
warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient` is deprecated",
                        module=r"fastapi\.testclient")

from sqlalchemy import func, select  # noqa: E402

from gateway.cli import print_table  # noqa: E402
from gateway.connections import to_airflow_json  # noqa: E402
from gateway.db import make_engine, session_factory, upgrade, utcnow  # noqa: E402
from gateway.demo_data import bulk_generate, generate, register_request  # noqa: E402
from gateway.models import Announcement, DeadLetter, Dispatch, Executor, Request, RequestHistory  # noqa: E402
from gateway.reference_data import items_by_code  # noqa: E402
from gateway.registry import load_registry  # noqa: E402
from gateway.reports.build import write_report  # noqa: E402
from gateway.reports.overdue import run_monitor  # noqa: E402
from gateway.reports.periods import kyiv_day, week_of  # noqa: E402
from gateway.statuses import RequestStatus  # noqa: E402
from gateway.sync.bookkeeping import add_history, set_request_status  # noqa: E402

REQUESTS = 240
WEEK_REQUESTS = 300  # the past week's requests of the executors no connector serves


def say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def prepare_database() -> None:
    STATE.mkdir(exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DB_PATH}{suffix}").unlink(missing_ok=True)
    upgrade()
    sessions = session_factory(make_engine())
    now = utcnow()
    with sessions.begin() as session:
        generate(session, REQUESTS, now=now, seed=1520)
        # The week behind them for the executors without a connector: the contact centre's own status
        # changes (sent, in progress, done or another ending, confirmed) are their record in the report.
        others = set(session.scalars(select(Executor.id).where(Executor.integration.is_(None))))
        bulk_generate(session, WEEK_REQUESTS, now=now, seed=1521, spread=timedelta(days=7), executors=others,
                      life="aged", dispatches=False)
        items = items_by_code(session)
        # Residents calling about a burst main that vodokanal has already announced ...
        for house in ("14", "16а", "22"):
            register_request(session, item=items["3.1"], street="вулиця Соборності", house=house, flat="7",
                             description="Немає холодної води в будинку.", registered_at=now - timedelta(minutes=5),
                             contact_phone="+380671112233")
        # ... and three neighbours reporting the same cold radiators in one building.
        for minutes in (50, 30, 10):
            register_request(session, item=items["3.13"], street="просп. Металургів", house="9а",
                             flat=str(minutes), description="Відсутнє опалення у квартирі.",
                             registered_at=now - timedelta(minutes=minutes), contact_phone="+380501234567")
    say(f"contact-centre database {DB_PATH.relative_to(ROOT)}: {REQUESTS + 6} requests registered, and "
        f"{WEEK_REQUESTS} of the past week for the executors without a connector")


def start_simulators(registry):
    simulators = {}
    for name, manifest in registry.items():
        if not manifest.simulator:
            print(f"{name}: no simulator declared, skipped")
            continue
        sim = manifest.simulator_class()(seed=1520).start()
        config = sim.connection_config()
        os.environ[f"AIRFLOW_CONN_{manifest.conn_id.upper()}"] = to_airflow_json(config)
        simulators[name] = sim
        print(f"{name}: simulator on {sim.url}")
    if "vodokanal" in simulators:
        now = utcnow()
        simulators["vodokanal"].add_planned_work(
            kind="emergency", starts_at=now - timedelta(hours=1), ends_at=None,
            addresses=[{"street": "вул. Соборності", "houses": "all"}],
            reason="аварія на водогоні Д-300 мм", tanker_location="вул. Соборності, 20",
        )
    for sim in simulators.values():
        for _ in range(2 if sim.planned_works else 0):  # a utility may publish none
            sim.add_planned_work()
    return simulators


def airflow_ready() -> None:
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, cwd=ROOT)


def run_dags(registry, label: str) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    if bag.import_errors:
        raise SystemExit(f"DAG import errors: {bag.import_errors}")
    log_path = STATE / "airflow-runs.log"
    for name in registry:
        dag = bag.get_dag(f"{name}_sync")
        started = time.monotonic()
        with open(log_path, "a", encoding="utf-8") as log, redirect_stdout(log), redirect_stderr(log):
            run = dag.test()
        print(f"{label}: {dag.dag_id} -> {run.state} in {time.monotonic() - started:.1f} s "
              f"(Airflow's log: {log_path.relative_to(ROOT)})", flush=True)


def between_runs(simulators, sessions) -> None:
    """The utilities' crews work; operators and residents act in the contact centre."""
    for sim in simulators.values():
        sim.advance(3)
    with sessions.begin() as session:
        sent = session.scalars(select(Request).where(Request.status != RequestStatus.REGISTERED)
                               .order_by(Request.id).limit(3)).all()
        if len(sent) == 3:
            set_request_status(session, sent[0], RequestStatus.REWORK, actor="operator:demo",
                               note="мешканець: проблема повторилась")
            add_history(session, sent[1], actor="resident", field="details", old=None,
                        new="код домофона 45, вхід з двору")
            set_request_status(session, sent[2], RequestStatus.WITHDRAWN, actor="operator:demo",
                               note="мешканець відкликав заявку")


def revise_and_cancel(simulators, sessions) -> None:
    with sessions() as session:
        published = session.execute(select(Announcement.provider, Announcement.notice_id)
                                    .where(Announcement.kind == "planned").order_by(Announcement.id)).all()
    seen: dict[str, list[str]] = {}
    for provider, notice_id in published:
        seen.setdefault(provider, []).append(notice_id)
    for provider, notices in seen.items():
        sim = simulators.get(provider)
        if sim and len(notices) >= 2:
            sim.revise_planned_work(notices[0])
            sim.cancel_planned_work(notices[1])


def report(registry, simulators, sessions) -> None:
    rows = []
    with sessions() as session:
        for name in registry:
            dispatches = dict(session.execute(select(Dispatch.state, func.count()).where(Dispatch.provider == name)
                                              .group_by(Dispatch.state)).all())
            statuses_back = session.scalar(select(func.count()).select_from(RequestHistory).where(
                RequestHistory.actor == f"sync:{name}", RequestHistory.field == "status",
                RequestHistory.old_value != RequestStatus.REGISTERED))
            anns = dict(session.execute(select(Announcement.state, func.count()).where(Announcement.provider == name)
                                        .group_by(Announcement.state)).all())
            revised = session.scalar(select(func.count()).select_from(Announcement).where(
                Announcement.provider == name, Announcement.revision > 1))
            letters = session.scalar(select(func.count()).select_from(DeadLetter).where(DeadLetter.provider == name))
            sim = simulators.get(name)
            jobs = sim.jobs_by_reference() if sim else {}
            doubled = sum(1 for ids in jobs.values() if len(ids) > 1)
            rows.append((name, sum(dispatches.values()), dispatches.get("sent", 0), len(jobs), doubled,
                         dispatches.get("linked", 0), dispatches.get("dead", 0) + dispatches.get("pending", 0),
                         statuses_back, anns.get("active", 0), revised, anns.get("cancelled", 0), letters))
    say("what moved")
    print_table(rows, ["utility", "requests", "pushed", "jobs at utility", "doubled", "linked", "not sent",
                       "statuses back", "ann. active", "ann. revised", "ann. cancelled", "dead letters"])
    with sessions() as session:
        for name in registry:
            request = session.scalars(select(Request).join(Dispatch).where(
                Dispatch.provider == name, Dispatch.state == "sent",
                Request.status.not_in([RequestStatus.SENT, RequestStatus.REGISTERED])).limit(1)).first()
            if request:
                say(f"history of request {request.number} ({name})")
                for h in request.history:
                    print(f"  {h.at:%H:%M:%S}  {h.actor:<16} {h.field:<10} {h.old_value or '':<18} -> "
                          f"{h.new_value or '':<18} {h.note or ''}")
            announcement = session.scalars(select(Announcement).where(
                Announcement.provider == name, Announcement.state == "active").limit(1)).first()
            if announcement:
                say(f"announcement for residents ({name})")
                print(announcement.title_uk)
                print(announcement.body_uk)
        linked = session.scalars(select(RequestHistory).where(RequestHistory.field == "link")).all()
        if linked:
            say("requests linked instead of sent again")
            for h in linked:
                print(f"  {h.request.number}: {h.note}")


def weekly_report(sessions) -> None:
    """The department's weekly report for the demo's week: the monitor marks what is overdue, then the
    HTML with its chart, the CSV, a notice per executor and the letters go to .demo/reports."""
    now = utcnow()
    with sessions.begin() as session:
        monitor = run_monitor(session, now)
    with sessions() as session:
        files = write_report(session, week_of(kyiv_day(now)), now, STATE / "reports")
    say(f"weekly report {files.figures.period.label_uk()}: {monitor.overdue} of {monitor.open_requests} open "
        f"requests past their deadline")
    for label, path in (("HTML with the chart", files.html), ("CSV", files.executors_csv),
                        ("notices", files.html.parent / "notices"), ("letters", files.html.parent / "outbox")):
        print(f"  {label:<20} {path.relative_to(ROOT)}")


def main() -> int:
    registry = load_registry()
    say(f"connectors registered: {', '.join(registry) or 'none yet (the demo runs what exists)'}")
    prepare_database()
    sessions = session_factory(make_engine())
    simulators = start_simulators(registry)
    say("Airflow metadata database (.demo/airflow)")
    airflow_ready()
    try:
        say("first run of every sync DAG: announcements published, requests pushed")
        run_dags(registry, "run 1")
        between_runs(simulators, sessions)
        revise_and_cancel(simulators, sessions)
        say("second run: statuses back, operators' updates sent, announcements revised and withdrawn")
        run_dags(registry, "run 2")
        report(registry, simulators, sessions)
        weekly_report(sessions)
        say("the residents' page, the feeds and Open311 on this database (no personal data)")
        print(f"  .venv/bin/gateway --database sqlite:///{DB_PATH} serve --port 8000\n"
              "  then open http://127.0.0.1:8000/ (outages), /open311/v2/requests.json, /docs")
    finally:
        for sim in simulators.values():
            sim.stop()
    return 0


if __name__ == "__main__":
    shutil.rmtree(STATE / "logs", ignore_errors=True)
    sys.exit(main())
