"""`make chaos`: zero lost, zero duplicated — full sync cycles of every utility under injected faults.

The three simulators run in this process (threads) for the whole run; every sync cycle of a utility
is a child process (``python scripts/chaos.py --child <name>``, the same steps as ``gateway sync``)
that gets the simulator's URL and credentials through AIRFLOW_CONN_<CONN_ID> and the database through
GATEWAY_DATABASE_URL, exactly as Airflow's tasks get them. The utilities' cycles run side by side,
as their DAGs do. While they run, faults are injected at random from every class:

- in the simulators (their FaultPlan): slow answers past the read timeout (the utility commits after
  the client gave up), connection reset, connection dropped after the commit, truncated body,
  malformed JSON/XML, 5xx and HTML error pages, 429 with Retry-After (vodokanal ``x-throttle``,
  ecospectrans ``x-rate-limit``), vodokanal's maintenance 503, SOAP faults (teplotsentral
  ``x-db-locked``, ``x-internal``, ``x-validation``, ``x-evil-xml``), 401 (ecospectrans
  ``x-unauthorized``) and a corrupted feed item (``x-bad-item``);
- around them: the utility goes down (listening socket closed: connection refused; kept-alive
  connections reset), ecospectrans' tokens expire, the sync process is SIGKILLed (at a random moment,
  or exactly when a create reaches the utility: before it commits or after it committed, before the
  answer gets back), and the sync's PostgreSQL backends are terminated (pg_terminate_backend from a
  separate connection), preferably in the middle of a transaction.

Each utility's cycles run back to back in a thread of their own; between two cycles its crews work
(``advance``), operators register new requests and act on sent ones (rework, details, withdrawal:
notes to the utility), and notices are published, revised and cancelled. Once the faults reach
``--faults``, injection stops, clean rounds of all utilities run until no dispatch is pending, in
flight, unknown or awaiting, and the contact-centre database is reconciled against every
simulator's own store (``reconcile``).

Time is compressed, not faked away: each child runs the engine with ``clock`` = now + a skew that
grows by more than the dispatch lease every cycle (so the leases of killed processes expire and
back-offs come due as they would over hours), with short connect/read timeouts and a quick retry
policy. Since minutes pass between two cycles on that clock, a request a slow-answer fault still
holds at the utility is let through before the utility's next cycle starts. The database is a
PostgreSQL database of the run's own, created and dropped here.

Counting: F is what the simulators' FaultPlans injected (a utility-specific fault a simulator took
but ignored on that request, e.g. a 401 fault taken by the token endpoint, is not counted and waits
for the next request) plus the kills, backend terminations, outages and token expiries done here.

Exactly one summary line goes to stdout:
``faults=F requests=N jobs=J lost=L duplicated=D dead_letters=X unresolved=U``; the exit status is 1
when anything is lost, duplicated or unresolved. Children's logs go to .chaos/ (no secrets: the
connectors mask them, and errors are logged by class and first line only).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import formatdate
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".chaos"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_ADMIN_URL = os.environ.get("GATEWAY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SUMMARY = ("faults={faults} requests={requests} jobs={jobs} lost={lost} duplicated={duplicated} "
           "dead_letters={dead_letters} unresolved={unresolved} updates_lost={updates_lost} "
           "updates_doubled={updates_doubled} closures_undone={closures_undone}")
SUMMARY_RE = re.compile(r"^faults=(\d+) requests=(\d+) jobs=(\d+) lost=(\d+) duplicated=(\d+) "
                        r"dead_letters=(\d+) unresolved=(\d+) updates_lost=(\d+) updates_doubled=(\d+) "
                        r"closures_undone=(\d+)$", re.MULTILINE)

CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 2.0  # every connector's read timeout in chaos runs; slow answers take longer than this
SKEW_STEP = timedelta(minutes=11)  # per cycle: more than the engine's 10-minute dispatch lease
SETTLE_STEP = timedelta(hours=2)  # per settling round: more than the longest back-off (1 h)
CHILD_TIMEOUT = 120.0  # a child running longer than this is hung: killed, and the run reports it


# ---------------------------------------------------------------------------------------------------
# The child: one sync cycle of one utility, as `gateway sync <name>` runs it, with a skewed clock.
# ---------------------------------------------------------------------------------------------------
def _describe(exc: BaseException) -> str:
    """An error for the log: class and first line only (a database error's SQL parameters could hold
    a resident's phone number, so the driver's own message is used, never the statement)."""
    from gateway.sync.bookkeeping import redact_phones

    inner = getattr(exc, "orig", None) or exc
    first = (str(inner).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {redact_phones(first)[:200]}"


def child_main(name: str, skew_seconds: float, connect_timeout: float, read_timeout: float) -> int:
    log_path = Path(os.environ.get("CHAOS_LOG", STATE / "children.log"))
    logging.basicConfig(filename=log_path, level=logging.INFO,
                        format=f"%(asctime)s [{name} %(process)d] %(levelname)s %(name)s: %(message)s")
    from dataclasses import replace

    from gateway.connections import from_environment
    from gateway.connector import Timeouts
    from gateway.db import make_engine, utcnow
    from gateway.runner import manifest_named
    from gateway.sync.context import build_context
    from gateway.sync.engine import run_step
    from gateway.sync.retry import RetryPolicy

    log = logging.getLogger("chaos.child")
    print("ready", flush=True)  # the parent arms its timers from here: imports are not worth killing
    skew = timedelta(seconds=skew_seconds)
    manifest = replace(manifest_named(name), timeouts=Timeouts(connect=connect_timeout, read=read_timeout))
    engine = make_engine()
    ctx = build_context(
        manifest, from_environment(manifest.conn_id), engine,
        clock=lambda: utcnow() + skew,
        retry=RetryPolicy(attempts=4, initial=0.1, maximum=1.0, max_retry_after=4.0),
        pending_rounds=4, pending_interval=0.3,
    )
    results: dict[str, Any] = {}
    try:
        for step in manifest.steps:  # each step on its own, as the DAG's tasks (trigger rule all_done)
            try:
                results[step] = run_step(ctx, step)
            except Exception as exc:  # the step failed: logged, and the next step still runs
                log.warning("%s %s failed: %s", name, step, _describe(exc))
                results[step] = None
    finally:
        ctx.connector.close()
        engine.dispose()
    print("result " + json.dumps(results), flush=True)
    return 0


# ---------------------------------------------------------------------------------------------------
# Reconciliation: the contact centre's records against the utilities' own stores.
# ---------------------------------------------------------------------------------------------------
@dataclass
class Reconciliation:
    requests: int = 0  # requests routed to the utilities
    jobs: int = 0  # jobs the utilities hold for our references
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    dead_letters: int = 0
    dead_letters_by_stream: Counter[str] = field(default_factory=Counter)
    updates_lost: list[str] = field(default_factory=list)
    updates_doubled: list[str] = field(default_factory=list)
    closures_undone: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.unresolved or self.updates_lost or self.updates_doubled
                    or self.closures_undone)


def reconcile(sessions, jobs_by_provider: dict[str, dict[str, list[str]]]) -> Reconciliation:
    """Every request routed to a utility (its executor's integration) against that utility's jobs.

    - duplicated: one of our references holds more than one job at the utility.
    - unresolved: a dispatch still pending, in flight, unknown or awaiting.
    - lost: anything else that is not exactly right, i.e. a request that is not (a) sent, with the
      utility's one job as its job_id, (b) linked to a known problem with no job, or (c) dead with a
      dead letter and no job. That covers "neither one job nor linked/dead", a dead dispatch without
      its dead letter, a job_id that is not the utility's job, and a job nobody in the contact
      centre knows of (no dispatch, or a refused dispatch while the utility has the job).
    """
    from sqlalchemy import func, select

    from gateway.models import DeadLetter, Dispatch, Executor, Request
    from gateway.sync import states

    result = Reconciliation()
    providers = sorted(jobs_by_provider)
    with sessions() as session:
        routed = session.execute(
            select(Request.id, Request.number, Executor.integration)
            .join(Executor, Executor.id == Request.executor_id)
            .where(Executor.integration.in_(providers))
            .order_by(Request.id)
        ).all()
        dispatches = {(d.request_id, d.provider): d
                      for d in session.scalars(select(Dispatch).where(Dispatch.provider.in_(providers)))}
        letters = {(provider, key) for provider, key in session.execute(
            select(DeadLetter.provider, DeadLetter.item_key).where(DeadLetter.stream == "jobs"))}
        for stream, count in session.execute(
            select(DeadLetter.stream, func.count()).where(DeadLetter.provider.in_(providers))
            .group_by(DeadLetter.stream)
        ):
            result.dead_letters_by_stream[stream] = count
    result.dead_letters = sum(result.dead_letters_by_stream.values())
    result.requests = len(routed)
    ours = {number for _, number, _ in routed}
    for provider in providers:
        for reference, ids in jobs_by_provider[provider].items():
            if reference in ours:
                result.jobs += len(ids)
    for request_id, number, provider in routed:
        ids = list(jobs_by_provider[provider].get(number, []))
        dispatch = dispatches.get((request_id, provider))
        where = f"{provider} {number}"
        if len(ids) > 1:
            result.duplicated.append(f"{where}: {len(ids)} jobs {ids}")
        if dispatch is None:
            result.lost.append(f"{where}: no dispatch" + (f", while the utility holds {ids}" if ids else ""))
            continue
        state, wrong = dispatch.state, []
        if state in states.CLAIMABLE:
            result.unresolved.append(f"{where}: dispatch {state} (jobs at the utility: {ids or 'none'})")
        elif state == states.SENT:
            if not ids:
                wrong.append(f"sent as {dispatch.job_id}, but the utility has no job for it")
            elif dispatch.job_id not in ids:
                wrong.append(f"job_id {dispatch.job_id} is not the utility's job {ids}")
        elif state in (states.LINKED, states.CANCELLED):
            if ids:
                wrong.append(f"{state}, but the utility holds {ids} that nobody follows")
        elif state == states.DEAD:
            if (provider, number) not in letters:
                wrong.append("dead without a dead letter")
            if ids:
                wrong.append(f"dead (refused), but the utility holds {ids}")
        else:
            wrong.append(f"dispatch in unknown state {state!r}")
        if wrong:
            result.lost.append(f"{where}: {'; '.join(wrong)}")
    return result


def reconcile_updates(sessions, result: Reconciliation, notes_of: dict[str, Callable[[str], list[str]]]) -> None:
    """The contact centre's events against what each utility received, and its closures against what
    became of them.

    - updates_lost: a contact-centre event (rework, withdrawal, details, closure in request history)
      with no outbox row, or one whose request has a job but that is not delivered (still pending), or
      delivered while the utility's notes of that job do not hold it. An event dead-lettered is kept
      for a person (counted among the dead letters), not lost; one for a request that never got a job
      of its own (linked, cancelled) has nobody to go to.
    - updates_doubled: an event the utility holds more often than it was attempted (each attempt that
      ended ambiguously may have landed; more than that is a second delivery), or on another job.
    - closures_undone: a request the contact centre closed whose status a sync changed afterwards.
    """
    from sqlalchemy import select

    from gateway.models import Dispatch, OutboundUpdate, RequestHistory
    from gateway.statuses import CLOSED
    from gateway.sync.bookkeeping import outbox_kind

    with sessions() as session:
        history = session.scalars(select(RequestHistory).order_by(RequestHistory.id)).all()
        outbox = {u.history_id: u for u in session.scalars(select(OutboundUpdate))}
        dispatches = {d.id: d for d in session.scalars(select(Dispatch))}
        by_request = {(d.request_id, d.provider): d for d in dispatches.values()}
        providers = {d.request_id: d.provider for d in dispatches.values()}
    notes: dict[tuple[str, str], list[str]] = {}

    def notes_for(provider: str, job_id: str) -> list[str]:
        if (provider, job_id) not in notes:
            notes[(provider, job_id)] = notes_of[provider](job_id) if provider in notes_of else []
        return notes[(provider, job_id)]

    markers: dict[str, str] = {}  # event marker -> the job it belongs to
    for row in history:
        if outbox_kind(row.actor, row.field, row.new_value) is None:
            continue
        event, where = outbox.get(row.id), f"history {row.id} ({row.field} {row.new_value})"
        if event is None:
            result.updates_lost.append(f"{where}: no outbox row")
            continue
        provider = providers.get(row.request_id)
        dispatch = (dispatches.get(event.dispatch_id) if event.dispatch_id
                    else by_request.get((row.request_id, provider)))
        if dispatch is None or not dispatch.job_id:
            continue  # no job (yet, or ever): nothing the utility could have received
        marker = _marker(event.text)
        if event.state == "pending":
            result.updates_lost.append(f"{where}: not delivered to {dispatch.provider} job {dispatch.job_id}")
            continue
        if event.state != "sent" or marker is None:
            continue
        markers[marker] = f"{dispatch.provider}:{dispatch.job_id}"
        held = sum(note.count(marker) for note in notes_for(dispatch.provider, dispatch.job_id))
        if held == 0:
            result.updates_lost.append(f"{where}: sent, but {dispatch.provider} job {dispatch.job_id} lacks it")
        elif held > max(1, event.attempts):
            result.updates_doubled.append(f"{where}: {held} times at {dispatch.provider} job {dispatch.job_id} "
                                          f"after {event.attempts} attempts")
    for (provider, job_id), texts in notes.items():
        for text in texts:
            for marker in re.findall(r"\[cc-\d+\]", text):
                if markers.get(marker, f"{provider}:{job_id}") != f"{provider}:{job_id}":
                    result.updates_doubled.append(f"{marker} also at {provider} job {job_id}")
    last_by_contact_centre: dict[int, RequestHistory] = {}
    for row in history:
        if row.field != "status":
            continue
        if not row.actor.startswith("sync:"):
            last_by_contact_centre[row.request_id] = row
        else:
            closure = last_by_contact_centre.get(row.request_id)
            if closure is not None and closure.new_value in CLOSED:
                result.closures_undone.append(f"request {row.request_id}: closed as {closure.new_value} by "
                                              f"{closure.actor}, then set to {row.new_value} by {row.actor}")
                last_by_contact_centre.pop(row.request_id)


def _marker(text: str) -> str | None:
    found = re.search(r"\[cc-\d+\]", text or "")
    return found.group(0) if found else None


def notes_reader(sim) -> Callable[[str], list[str]]:
    """The notes or comments a simulator holds for one job, as text (whatever the utility's form)."""
    reader = getattr(sim, "notes", None) or sim.comments

    def read(job_id: str) -> list[str]:
        try:
            items = reader(job_id)
        except KeyError:
            return []
        return [item if isinstance(item, str) else json.dumps(item, ensure_ascii=False) for item in items]

    return read


# ---------------------------------------------------------------------------------------------------
# The parent: simulators, cycles under faults, settling, reconciliation.
# ---------------------------------------------------------------------------------------------------
def _chaos_plan_class():
    from simulators.base import Fault, FaultPlan

    class ChaosPlan(FaultPlan):
        """The simulator's FaultPlan, plus "down": while the utility is down, a request that still
        arrives on a kept-alive connection is reset (new connections are refused: no listener); and
        ``quiet_at``: when the slowest request now held back by a latency fault will have been handled."""

        def __init__(self, seed: int) -> None:
            super().__init__(seed)
            self.down = False
            self.quiet_at = 0.0  # time.monotonic()

        def take(self, method: str, path: str) -> Fault | None:
            if self.down:
                with self._lock:
                    self.injected["reset"] += 1
                return Fault("reset")
            fault = super().take(method, path)
            if fault is not None and fault.kind == "latency":
                until = time.monotonic() + float(fault.params.get("seconds", 1.0)) + 0.2
                with self._lock:
                    self.quiet_at = max(self.quiet_at, until)
            return fault

        def uncount(self, kind: str) -> None:
            with self._lock:
                self.injected[kind] -= 1

    return ChaosPlan


def took_effect(kind: str, request, response, feed_route: tuple[str, str] | None = None) -> bool:
    """Whether a utility-specific fault did anything to this request. A simulator applies some only
    where they make sense (a corrupted feed item needs a feed page with items; a 401 or a 429 fault
    is checked after the token, so the token endpoint ignores it): those are counted only when seen."""
    expected = {"x-unauthorized": (401,), "x-rate-limit": (429,), "x-throttle": (429,), "x-maintenance": (503,),
                "x-db-locked": (500,), "x-internal": (500,), "x-validation": (500,), "x-evil-xml": (200,)}
    if kind == "x-bad-item":
        if (request.method, request.path) != feed_route or request.arg("client_reference") is not None:
            return False
        try:
            return response.status == 200 and bool(json.loads(response.body).get("tickets"))
        except (ValueError, AttributeError):
            return False
    return response.status in expected.get(kind, (response.status,))


# Fault kinds every utility gets (FaultPlan kinds; parameters are drawn per injection); each simulator
# adds its own (its ``fault_kinds``), so a new utility brings its faults with it.
COMMON_KINDS = ("latency", "x-late-reply", "server_error", "html_error", "reset", "drop_after_commit", "truncated",
                "malformed")
# Faults of the chaos run's own (counted in Chaos.tally).
DISRUPTIONS = ("kill_mid_run", "kill_before_commit", "kill_after_commit", "pg_terminate", "outage", "token_expiry",
               "zombie")


@dataclass
class Utility:
    """One utility during the run: its simulator, the child now syncing it, and what is armed."""

    name: str
    manifest: Any
    sim: Any
    env: dict[str, str]
    mapping: Any
    rng: random.Random
    lock: threading.Lock = field(default_factory=threading.Lock)
    child: subprocess.Popen | None = None
    app_name: str = ""  # the child's application_name at PostgreSQL
    kill_arm: tuple[str, int] | None = None  # ("before" | "after", n-th create of this child)
    creates_seen: int = 0
    cycles: int = 0
    durations: list[float] = field(default_factory=list)
    timers: list[threading.Timer] = field(default_factory=list)

    def expected_duration(self) -> float:
        recent = self.durations[-5:]
        return max(0.5, sum(recent) / len(recent)) if recent else 3.0

    def is_create(self, request) -> bool:
        return self.sim.is_create(request)


def registry_fault_kinds() -> set[str]:
    """Every utility-specific fault kind the registered utilities' simulators declare."""
    from gateway.registry import load_registry

    return {kind for manifest in load_registry().values() if manifest.simulator
            for kind in manifest.simulator_class().fault_kinds}


def parse_skips(values: Iterable[str]) -> set[tuple[str, str | None]]:
    """``kind`` or ``kind@utility`` -> {(kind, utility or None)}."""
    skips = set()
    for value in values:
        kind, _, utility = value.partition("@")
        skips.add((kind, utility or None))
    return skips


class Chaos:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.skips = parse_skips(args.skip)
        self.lock = threading.Lock()  # the counters and the clock skew below
        self.db_lock = threading.Lock()  # the parent's own writes (request numbers are max + 1)
        self.tally: Counter[str] = Counter()  # faults performed here (kills, terminations, outages, expiries)
        self.notes: Counter[str] = Counter()  # what else happened (not faults)
        self.skew = timedelta(0)
        self.events = 0  # contact-centre events written (their markers)
        self.cycles = 0
        self.settle_rounds = 0
        self.utilities: dict[str, Utility] = {}
        self.log = logging.getLogger("chaos")
        self.db_name = f"gw_chaos_{args.seed}_{uuid.uuid4().hex[:6]}"
        base, _, _ = args.admin_url.rpartition("/")
        self.db_url = f"{base}/{self.db_name}"
        self._in_hook = threading.local()

    def skipped(self, kind: str, utility: Utility) -> bool:
        return (kind, None) in self.skips or (kind, utility.name) in self.skips

    def count(self, kind: str) -> None:
        with self.lock:
            self.tally[kind] += 1

    def note(self, kind: str) -> None:
        with self.lock:
            self.notes[kind] += 1

    # set-up -------------------------------------------------------------------------------------------
    def create_database(self) -> None:
        import psycopg

        from gateway.db import make_engine, session_factory, upgrade

        with psycopg.connect(self.args.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        upgrade(self.db_url)
        self.engine = make_engine(self.db_url + "?application_name=chaos-parent")
        self.sessions = session_factory(self.engine)
        self.pg = psycopg.connect(self.db_url, autocommit=True, application_name="chaos-terminator")

    def drop_database(self) -> None:
        import psycopg

        with contextlib.suppress(Exception):
            self.pg.close()
        with contextlib.suppress(Exception):
            self.engine.dispose()
        if self.args.keep_db:
            print(f"chaos: database kept: {self.db_url}", file=sys.stderr)
            return
        with psycopg.connect(self.args.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')

    def start_simulators(self) -> None:
        from gateway.connections import to_airflow_json
        from gateway.registry import load_registry
        from gateway.sync.context import load_manifest_mapping

        chaos_plan = _chaos_plan_class()
        for name, manifest in sorted(load_registry().items()):
            if not manifest.simulator:
                continue
            sim = manifest.simulator_class()(seed=self.args.seed)
            sim.faults = chaos_plan(self.args.seed)
            sim.start()
            env = {f"AIRFLOW_CONN_{manifest.conn_id.upper()}": to_airflow_json(sim.connection_config())}
            utility = Utility(name, manifest, sim, env, load_manifest_mapping(manifest),
                              random.Random(f"{self.args.seed}:{name}"))
            self._hook_creates(utility)
            self.utilities[name] = utility
            for _ in range(2 if "planned_works" in manifest.streams else 0):  # an optional stream
                sim.add_planned_work()

    def _hook_creates(self, utility: Utility) -> None:
        """Kill the child exactly when its n-th create reaches the utility: before the utility commits
        it, or after it committed and before the answer leaves. Also: a fault the simulator took but
        had no use for on this request (see ``took_effect``) is not counted, and goes back in the plan."""
        from simulators.base import Response

        original = utility.sim.dispatch

        def dispatch(request, fault):
            if getattr(self._in_hook, "active", False):  # a simulator handling a request through itself
                return original(request, fault)
            mode = None
            if utility.is_create(request):
                with utility.lock:
                    utility.creates_seen += 1
                    if utility.kill_arm and utility.kill_arm[1] == utility.creates_seen:
                        mode, utility.kill_arm = utility.kill_arm[0], None
            if mode == "before":
                self.kill(utility, "kill_before_commit")
                return Response(503, b"", {"Content-Type": "text/plain"})
            self._in_hook.active = True
            try:
                response = original(request, fault)
            finally:
                self._in_hook.active = False
            if mode == "after":
                self.kill(utility, "kill_after_commit")
            if fault is not None and not took_effect(fault.kind, request, response, utility.sim.routes.get("feed")):
                # e.g. a 401 fault taken by the token endpoint: not counted, and back in the plan
                plan = utility.sim.faults
                plan.uncount(fault.kind)
                plan.inject(fault.kind, method=fault.method, path=fault.path, probability=fault.probability,
                            **fault.params)
                self.note(f"not_applied_{fault.kind}")
            return response

        utility.sim.dispatch = dispatch

    def stop_simulators(self) -> None:
        for utility in self.utilities.values():
            with utility.lock:
                child = utility.child
                if child is not None and child.poll() is None:  # interrupted: no child outlives the run
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(child.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                utility.sim.stop()

    # the contact centre's side ------------------------------------------------------------------------
    def register(self, utilities: Iterable[Utility], count: Callable[[Utility], int], generated: int,
                 rng: random.Random) -> None:
        """New requests: for each utility, ones for items it serves; plus a generated realistic mix."""
        from gateway.db import utcnow
        from gateway.demo_data import generate, register_request, streets
        from gateway.reference_data import items_by_code

        now = utcnow()
        with self.db_lock, self.sessions.begin() as session:
            items = items_by_code(session)
            all_streets = streets()
            for utility in utilities:
                codes = sorted(utility.mapping.codes)
                for _ in range(count(utility)):
                    item = items[rng.choice(codes)]
                    street = rng.choice(all_streets)
                    register_request(
                        session, item=item, street=street.street, house=str(rng.randint(1, street.houses)),
                        flat=str(rng.randint(1, 120)) if rng.random() < 0.7 else None,
                        description=f"{item.name_uk} (перевірка стійкості, цикл {utility.cycles})",
                        registered_at=now - timedelta(seconds=rng.randint(0, 1800)),
                        contact_phone=f"+38067{rng.randint(0, 9_999_999):07d}", executor_id=utility.manifest.executor,
                        actor="operator:chaos",
                    )
            if generated:
                generate(session, generated, now=now, seed=rng.randrange(1 << 30), spread=timedelta(hours=1))

    def operators_act(self, utility: Utility) -> None:
        """Operators and residents act on a few requests of the utility (sent or not yet): rework,
        details, withdrawal, closure. Every text carries a marker the reconciliation looks for."""
        with self.sessions.begin() as session:
            for request in self._some_requests(session, utility, utility.rng.randint(0, 2)):
                self._contact_centre_event(session, request, utility.rng)

    def _some_requests(self, session, utility: Utility, count: int) -> list:
        from sqlalchemy import select

        from gateway.models import Dispatch, Request
        from gateway.statuses import CLOSED

        candidates = session.scalars(
            select(Request).join(Dispatch, Dispatch.request_id == Request.id)
            .where(Dispatch.provider == utility.name, Request.status.not_in(list(CLOSED)))
            .order_by(Request.id)
        ).all()
        return utility.rng.sample(candidates, min(len(candidates), count))

    def _contact_centre_event(self, session, request, rng: random.Random) -> None:
        from gateway.statuses import RequestStatus
        from gateway.sync.bookkeeping import add_history, set_request_status

        with self.lock:
            self.events += 1
            marker = f"[cc-{self.events}]"
        action = rng.choice(["rework", "details", "details", "withdraw", "close"])
        if action == "rework":
            set_request_status(session, request, RequestStatus.REWORK, actor="operator:chaos",
                               note=f"мешканець: проблема повторилась {marker}")
        elif action == "details":
            add_history(session, request, actor="resident", field="details", old=None,
                        new=f"код домофона 45, вхід з двору {marker}")
        elif action == "withdraw":
            set_request_status(session, request, RequestStatus.WITHDRAWN, actor="operator:chaos",
                               note=f"мешканець відкликав заявку {marker}")
        else:
            status = rng.choice([RequestStatus.DUPLICATE, RequestStatus.FALSE_CALL, RequestStatus.NOT_COMPETENCE,
                                 RequestStatus.CONSULTATION])
            set_request_status(session, request, status, actor="operator:chaos", note=f"закрито оператором {marker}")
        self.note(f"cc_{action}")

    def concurrent_events(self, utility: Utility, stop: threading.Event) -> None:
        """While a cycle runs: contact-centre events in overlapping transactions, the one that got its
        history id first committing last (what a cursor over ids would skip for good)."""
        rng = random.Random(utility.rng.random())
        while not stop.wait(rng.uniform(0.5, 3.0)):
            first, second = self.sessions(), self.sessions()
            try:
                with first.begin():
                    picked = self._some_requests(first, utility, 1)
                    if not picked:
                        continue
                    self._contact_centre_event(first, picked[0], rng)
                    first.flush()  # its history id is taken now; the commit comes later
                    with second.begin():
                        others = [r for r in self._some_requests(second, utility, 2) if r.id != picked[0].id]
                        if others:
                            self._contact_centre_event(second, others[0], rng)
                    self.note("cc_interleaved")
            except Exception as exc:  # e.g. a deadlock with a sync: that transaction never happened
                self.note("cc_transaction_aborted")
                self.log.warning("%s: a contact-centre transaction failed: %s", utility.name, _describe(exc))
            finally:
                first.close()
                second.close()

    def utility_works(self, utility: Utility) -> None:
        """The crews work; now and then a notice is published, revised or cancelled."""
        sim, rng = utility.sim, utility.rng
        sim.advance(rng.randint(0, 2))
        roll = rng.random()
        if "planned_works" not in utility.manifest.streams:
            return
        if roll < 0.15:
            sim.add_planned_work()
        elif roll < 0.3:
            notice = self._some_notice(utility)
            if notice:
                (sim.revise_planned_work if roll < 0.25 else sim.cancel_planned_work)(notice)

    def _some_notice(self, utility: Utility) -> str | None:
        from sqlalchemy import select

        from gateway.models import Announcement

        with self.sessions() as session:
            ids = session.scalars(select(Announcement.notice_id).where(
                Announcement.provider == utility.name, Announcement.state == "active").order_by(Announcement.id)
            ).all()
        return utility.rng.choice(ids) if ids else None

    # faults -------------------------------------------------------------------------------------------
    def faults_injected(self) -> int:
        with self.lock:
            own = sum(self.tally.values())
        return own + sum(sum(u.sim.faults.injected.values()) for u in self.utilities.values())

    def faults_by_kind(self) -> Counter[str]:
        kinds: Counter[str] = Counter(self.tally)
        for utility in self.utilities.values():
            kinds.update(utility.sim.faults.injected)
        return kinds

    def plan_faults(self, utility: Utility) -> None:
        """Faults in the simulator for this cycle, each hitting one request at random."""
        rng, plan = utility.rng, utility.sim.faults
        kinds = [k for k in COMMON_KINDS + utility.sim.fault_kinds if not self.skipped(k, utility)]
        method, path = utility.sim.create_route
        for _ in range(rng.randint(self.args.min_faults, self.args.max_faults) if kinds else 0):
            kind = rng.choice(kinds)
            params: dict[str, Any] = {}
            if kind in ("latency", "x-late-reply"):
                params["seconds"] = round(self.args.read_timeout + rng.uniform(0.3, 1.5), 2)
            elif kind == "server_error":
                params["status"] = rng.choice([500, 502, 503, 504])
            elif kind == "html_error":
                params["status"] = rng.choice([502, 503, 504])
            elif kind in ("x-throttle", "x-maintenance"):
                params["retry_after"] = rng.choice(["1", "2", "http-date"])
                if params["retry_after"] == "http-date":
                    params["retry_after"] = formatdate(time.time() + 2, usegmt=True)
            elif kind == "x-rate-limit":
                params.update(seconds=rng.choice([1, 2]), form=rng.choice(["seconds", "date"]))
            elif kind == "x-evil-xml":
                params["variant"] = rng.choice(["bomb", "external"])
            elif kind == "x-bad-item":
                params.update(field=rng.choice(["status", "updated_at", "id"]),
                              value=rng.choice(["lost", "__delete__", None]))
            target = (method, path) if rng.random() < 0.5 else (None, None)
            if kind == "x-bad-item":
                target = utility.sim.routes["feed"]  # (lookups sharing the path are not counted)
            plan.inject(kind, method=target[0], path=target[1], probability=rng.choice([1.0, 0.5, 0.25]), **params)

    def plan_disruptions(self, utility: Utility) -> list[tuple[float, Callable[[], None]]]:
        """Process kills, backend terminations, outages and token expiries for this cycle: (delay, action)."""
        rng, span = utility.rng, utility.expected_duration()
        planned: list[tuple[float, Callable[[], None]]] = []
        if rng.random() < self.args.kill_rate:
            mode = rng.choice(["kill_mid_run", "kill_mid_run", "kill_before_commit", "kill_after_commit"])
            if self.skipped(mode, utility):
                pass
            elif mode == "kill_mid_run":
                planned.append((rng.uniform(0, span), lambda: self.kill(utility, "kill_mid_run")))
            else:
                utility.kill_arm = (mode.split("_")[1], rng.randint(1, 3))
        if rng.random() < self.args.terminate_rate and not self.skipped("pg_terminate", utility):
            planned.append((rng.uniform(0, span), lambda: self.terminate_backend(utility)))
        if rng.random() < self.args.outage_rate and not self.skipped("outage", utility):
            length = rng.uniform(0.3, 3.0)
            planned.append((rng.uniform(0, span), lambda: self.outage(utility, length)))
        if (hasattr(utility.sim, "expire_tokens") and rng.random() < 0.3
                and not self.skipped("token_expiry", utility)):
            planned.append((rng.uniform(0, span), lambda: self.expire_tokens(utility)))
        return planned

    def kill(self, utility: Utility, kind: str) -> None:
        with utility.lock:
            child = utility.child
            if child is not None and child.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGKILL)
                    self.count(kind)

    def terminate_backend(self, utility: Utility, patience: float = 3.0) -> None:
        """pg_terminate_backend on the child's connection, preferably while a transaction is open."""
        app = utility.app_name
        deadline = time.monotonic() + patience
        idle_pid = None
        while time.monotonic() < deadline:
            child = utility.child
            if child is None or child.poll() is not None:
                return
            rows = self.pg.execute(
                "SELECT pid, xact_start IS NOT NULL FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
                (self.db_name, app),
            ).fetchall()
            in_tx = [pid for pid, open_tx in rows if open_tx]
            if in_tx:
                if self.pg.execute("SELECT pg_terminate_backend(%s)", (in_tx[0],)).fetchone()[0]:
                    self.count("pg_terminate_in_transaction")
                return
            idle_pid = rows[0][0] if rows else idle_pid
            time.sleep(0.003)
        if idle_pid is not None and self.pg.execute("SELECT pg_terminate_backend(%s)", (idle_pid,)).fetchone()[0]:
            self.count("pg_terminate_idle")

    def outage(self, utility: Utility, length: float) -> None:
        with utility.lock:
            if utility.child is None or utility.child.poll() is not None:
                return
            utility.sim.faults.down = True
            utility.sim.go_offline()
            self.count("outage_connection_refused")
        timer = threading.Timer(length, self.recover, (utility,))
        timer.daemon = True
        utility.timers.append(timer)
        timer.start()

    def recover(self, utility: Utility) -> None:
        with utility.lock:
            utility.sim.go_online()
            utility.sim.faults.down = False

    def expire_tokens(self, utility: Utility) -> None:
        if utility.child is not None and utility.child.poll() is None:
            utility.sim.expire_tokens()
            self.count("token_expired")

    # cycles -------------------------------------------------------------------------------------------
    def _command(self, utility: Utility, skew: timedelta) -> list[str]:
        return [sys.executable, str(Path(__file__).resolve()), "--child", utility.name,
                "--skew", str(skew.total_seconds()), "--connect-timeout", str(self.args.connect_timeout),
                "--read-timeout", str(self.args.read_timeout)]

    def _env(self, utility: Utility, app_name: str) -> dict[str, str]:
        # A lock wait past 20 s fails the statement (and the step): a frozen zombie's row locks, or a
        # wait nobody resolves, never hang a cycle (what it changed is rolled back, nothing is lost).
        url = f"{self.db_url}?application_name={app_name}&options=-c%20lock_timeout%3D20000"
        return {**os.environ, **utility.env, "GATEWAY_DATABASE_URL": url,
                "CHAOS_LOG": str(self.args.log_dir / "children.log")}

    def second_runner(self, utility: Utility, skew: timedelta, label: str) -> dict[str, Any] | None:
        """Another sync of the same utility while the first runs (by hand, or Airflow's retry of a task
        it gave up on): it must say the steps are taken, or, where it gets them, double nothing."""
        app_name = f"{utility.app_name}-{label}"
        with open(self.args.log_dir / "children.log", "ab") as stderr:
            child = subprocess.Popen(self._command(utility, skew), env=self._env(utility, app_name), cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=stderr, text=True)
        result = None
        try:
            out, _ = child.communicate(timeout=CHILD_TIMEOUT)
            for line in out.splitlines():
                if line.startswith("result "):
                    result = json.loads(line[len("result "):])
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            self.note("hung_second_runner_killed")
        busy = sum(1 for counts in (result or {}).values() if counts and counts.get("busy"))
        self.note(f"{label}_runs")
        if busy:
            self.note(f"{label}_steps_busy")
        self.log.info("%s %s (skew %s): exit %s: %s", utility.name, label, skew, child.returncode, json.dumps(result))
        return result

    def overlap(self, utility: Utility, skew: timedelta, delay: float) -> None:
        time.sleep(delay)
        if utility.child is not None and utility.child.poll() is None:
            self.second_runner(utility, skew, "overlap")

    def zombie(self, utility: Utility, child: subprocess.Popen, skew: timedelta, delay: float) -> None:
        """Freeze the running sync (SIGSTOP), let its step locks go (their connections terminated, as when
        a host loses its network), run the next sync with a clock past the frozen one's leases, then
        let the frozen one go on: a zombie that outlived its lease. It must overwrite nothing."""
        time.sleep(delay)
        with utility.lock:
            if child.poll() is not None or utility.child is not child:
                return
            os.kill(child.pid, signal.SIGSTOP)
            self.count("zombie_outlived_lease")
        try:
            # every connection of it: the step locks go, and no row it locked holds the next sync up
            rows = self.pg.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
                (self.db_name, utility.app_name),
            ).fetchall()
            for (pid,) in rows:
                self.pg.execute("SELECT pg_terminate_backend(%s)", (pid,))
            later = skew + SKEW_STEP
            with self.lock:
                self.skew = max(self.skew, later)
            self.second_runner(utility, later, "after_zombie")
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGCONT)

    def run_cycle(self, utility: Utility, chaos: bool, step: timedelta = SKEW_STEP) -> dict[str, Any] | None:
        """One sync cycle of one utility in a child process; faults armed once it is ready. In a chaos
        cycle, contact-centre events are written meanwhile in overlapping transactions, and now and
        then a second sync of the utility overlaps it, or it is frozen past its lease (a zombie)."""
        # The clock jumps by ``step`` (minutes) between two cycles of a utility: a slow request of the
        # last cycle (seconds late) has long been handled by then, so let it be handled first.
        time.sleep(max(0.0, utility.sim.faults.quiet_at - time.monotonic()))
        with self.lock:
            self.cycles += 1
            self.skew += step
            skew, cycle = self.skew, self.cycles
        utility.cycles += 1
        utility.app_name = f"chaos-{utility.name}-{cycle}"
        env = self._env(utility, utility.app_name)
        command = self._command(utility, skew)
        planned = []
        helpers: list[threading.Thread] = []
        stop_events = threading.Event()
        if chaos:
            self.plan_faults(utility)
            planned = self.plan_disruptions(utility)
            helpers.append(threading.Thread(target=self.concurrent_events, args=(utility, stop_events), daemon=True))
        utility.creates_seen = 0
        with open(self.args.log_dir / "children.log", "ab") as stderr:
            child = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True)
        with utility.lock:
            utility.child = child
        watchdog = threading.Timer(CHILD_TIMEOUT, self._hung, (utility, child))
        watchdog.daemon = True
        watchdog.start()
        result = None
        started = None
        try:
            for line in child.stdout:  # type: ignore[union-attr]
                if line.startswith("ready") and started is None:
                    started = time.monotonic()
                    if chaos:
                        roll, span = utility.rng.random(), utility.expected_duration()
                        if roll < self.args.zombie_rate and not self.skipped("zombie", utility):
                            helpers.append(threading.Thread(target=self.zombie, daemon=True, args=(
                                utility, child, skew, utility.rng.uniform(0.1, span))))
                        elif roll < self.args.zombie_rate + self.args.overlap_rate:
                            helpers.append(threading.Thread(target=self.overlap, daemon=True, args=(
                                utility, skew, utility.rng.uniform(0, span))))
                    for helper in helpers:
                        helper.start()
                    for delay, action in planned:
                        timer = threading.Timer(delay, action)
                        timer.daemon = True
                        utility.timers.append(timer)
                        timer.start()
                elif line.startswith("result "):
                    result = json.loads(line[len("result "):])
            child.wait()
        finally:
            stop_events.set()
            for helper in helpers:
                if helper.ident is not None:  # started
                    helper.join(CHILD_TIMEOUT)
            watchdog.cancel()
            for timer in list(utility.timers):
                timer.cancel()
            with utility.lock:
                utility.child = None
                utility.kill_arm = None
            if utility.sim.faults.down:
                self.recover(utility)
            utility.timers.clear()
            utility.sim.faults.clear()
        took = time.monotonic() - started if started is not None else 0.0
        if result is not None:
            utility.durations.append(took)
        if child.returncode != 0:
            self.note(f"child_exit_{child.returncode}")
        self.log.info("cycle %d %s (%s, skew %s): exit %s after %.1f s: %s", cycle, utility.name,
                      "chaos" if chaos else "clean", skew, child.returncode, took, json.dumps(result))
        return result

    def _hung(self, utility: Utility, child: subprocess.Popen) -> None:
        if child.poll() is None:
            self.note("hung_child_killed")
            self.log.error("%s: child %d ran longer than %.0f s; killed", utility.name, child.pid, CHILD_TIMEOUT)
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGKILL)

    def utility_loop(self, utility: Utility, deadline: float) -> None:
        """The utility's cycles under faults, back to back, with the world moving on in between."""
        try:
            while self.faults_injected() < self.args.faults and time.monotonic() < deadline:
                self.run_cycle(utility, chaos=True)
                self.utility_works(utility)
                rng = utility.rng
                fresh = rng.randint(1, self.args.per_cycle)
                self.register([utility], lambda _u, n=fresh: n, generated=rng.choice([0, 0, 1, 2]), rng=rng)
                self.operators_act(utility)
        except Exception:  # a bug of this script: stop the whole run loudly rather than hide it
            self.log.exception("%s: chaos loop failed", utility.name)
            self.note("loop_crashed")
            raise

    def settle_round(self) -> None:
        threads = [threading.Thread(target=self.run_cycle, args=(u, False, SETTLE_STEP), name=f"settle-{u.name}",
                                    daemon=True) for u in self.utilities.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def unsettled(self) -> int:
        from sqlalchemy import func, select

        from gateway.models import Dispatch, OutboundUpdate
        from gateway.sync import states

        with self.sessions() as session:
            open_dispatches = session.scalar(select(func.count()).select_from(Dispatch).where(
                Dispatch.state.in_(states.CLAIMABLE)))
            undelivered = session.scalar(
                select(func.count()).select_from(OutboundUpdate)
                .join(Dispatch, Dispatch.id == OutboundUpdate.dispatch_id)
                .where(OutboundUpdate.state == "pending", Dispatch.job_id.is_not(None)))
            return open_dispatches + undelivered

    def jobs(self) -> dict[str, dict[str, list[str]]]:
        found = {}
        for name, utility in self.utilities.items():
            release = getattr(utility.sim, "release_pending", None)
            if release:  # accepted asynchronously: a ticket the utility will create is a job already
                release()
            found[name] = utility.sim.jobs_by_reference()
        return found

    # the whole run ------------------------------------------------------------------------------------
    def run(self) -> tuple[Reconciliation, float]:
        started = time.monotonic()
        utilities = list(self.utilities.values())
        share = max(1, self.args.requests // (len(utilities) + 1))
        self.register(utilities, lambda _u: share, generated=share, rng=self.rng)
        deadline = started + self.args.max_seconds
        threads = [threading.Thread(target=self.utility_loop, args=(u, deadline), name=f"chaos-{u.name}",
                                    daemon=True) for u in utilities]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self.notes["loop_crashed"]:
            raise RuntimeError("a chaos loop crashed; see the log in " + str(self.args.log_dir))
        for done in range(1, self.args.settle_rounds + 1):  # (each cycle lets slow requests land first)
            self.settle_round()
            self.settle_rounds = done
            if self.unsettled() == 0:
                break
        result = reconcile(self.sessions, self.jobs())
        reconcile_updates(self.sessions, result, {name: notes_reader(u.sim) for name, u in self.utilities.items()})
        return result, time.monotonic() - started


def parse_args(argv: Iterable[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faults", type=int, default=1000, help="faults to inject before settling (target)")
    parser.add_argument("--seed", type=int, default=1520, help="seeds every random choice of the run")
    parser.add_argument("--requests", type=int, default=90, help="requests registered before the first cycle "
                        "(equal shares: each utility's own items, and a realistic mix); more arrive after every cycle")
    parser.add_argument("--per-cycle", type=int, default=6, help="at most this many new requests for a utility "
                        "after each of its cycles")
    parser.add_argument("--max-seconds", type=float, default=900.0, help="stop injecting after this long")
    parser.add_argument("--min-faults", type=int, default=3, help="simulator faults planned per cycle, at least")
    parser.add_argument("--max-faults", type=int, default=8, help="simulator faults planned per cycle, at most")
    parser.add_argument("--kill-rate", type=float, default=0.35, help="chance a cycle's process is SIGKILLed")
    parser.add_argument("--terminate-rate", type=float, default=0.35,
                        help="chance a cycle's database backend is terminated")
    parser.add_argument("--outage-rate", type=float, default=0.15, help="chance the utility goes down in a cycle")
    parser.add_argument("--overlap-rate", type=float, default=0.25,
                        help="chance a second sync of the utility overlaps a cycle")
    parser.add_argument("--zombie-rate", type=float, default=0.15,
                        help="chance a cycle's sync is frozen past its lease while the next one runs")
    parser.add_argument("--settle-rounds", type=int, default=8, help="clean rounds at most, after the faults")
    parser.add_argument("--skip", action="append", default=[], metavar="KIND[@UTILITY]",
                        help="never inject this fault kind (a FaultPlan kind, or one of "
                        f"{', '.join(DISRUPTIONS)}), optionally only at one utility; repeatable")
    parser.add_argument("--connect-timeout", type=float, default=CONNECT_TIMEOUT,
                        help="every connector's connect timeout in this run, seconds")
    parser.add_argument("--read-timeout", type=float, default=READ_TIMEOUT,
                        help="every connector's read timeout in this run; slow answers take 0.3-1.5 s longer")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL, help="PostgreSQL server (a database of the "
                        "run's own is created there and dropped)")
    parser.add_argument("--keep-db", action="store_true", help="keep the run's database for inspection")
    parser.add_argument("--log-dir", type=Path, default=STATE)
    parser.add_argument("-v", "--verbose", action="store_true", help="details of every problem found")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--skew", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args(list(argv) if argv is not None else None)
    known = {*COMMON_KINDS, *DISRUPTIONS, *registry_fault_kinds()}
    for kind, _utility in parse_skips(args.skip):
        if kind not in known:
            parser.error(f"--skip {kind}: not a fault kind of this run ({', '.join(sorted(known))})")
    return args


def main(argv: Iterable[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args.child, args.skew, args.connect_timeout, args.read_timeout)
    args.log_dir.mkdir(parents=True, exist_ok=True)
    (args.log_dir / "children.log").write_text("")  # each run's logs start afresh
    logging.basicConfig(filename=args.log_dir / "chaos.log", filemode="w", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    chaos = Chaos(args)
    chaos.create_database()
    try:
        chaos.start_simulators()
        result, seconds = chaos.run()
    finally:
        chaos.stop_simulators()
        chaos.drop_database()
    faults = chaos.faults_injected()
    for label, problems in (("LOST", result.lost), ("DUPLICATED", result.duplicated),
                            ("UNRESOLVED", result.unresolved), ("UPDATE LOST", result.updates_lost),
                            ("UPDATE DOUBLED", result.updates_doubled), ("CLOSURE UNDONE", result.closures_undone)):
        for problem in problems if args.verbose or len(problems) <= 20 else problems[:20]:
            print(f"{label}: {problem}")
    kinds = ", ".join(f"{k}={v}" for k, v in sorted(chaos.faults_by_kind().items()) if v)
    print(f"chaos: seed={args.seed} cycles={chaos.cycles} settle_rounds={chaos.settle_rounds} seconds={seconds:.0f} "
          f"dead_letters_by_stream={dict(result.dead_letters_by_stream)} {dict(chaos.notes)}", file=sys.stderr)
    print(f"chaos: faults by kind: {kinds}", file=sys.stderr)
    print(SUMMARY.format(faults=faults, requests=result.requests, jobs=result.jobs, lost=len(result.lost),
                         duplicated=len(result.duplicated), dead_letters=result.dead_letters,
                         unresolved=len(result.unresolved), updates_lost=len(result.updates_lost),
                         updates_doubled=len(result.updates_doubled),
                         closures_undone=len(result.closures_undone)), flush=True)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
