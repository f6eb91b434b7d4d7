"""Simulators for a real stand: ``python -m simulators serve --all`` (or ``serve vodokanal ecospectrans``).

Starts the chosen simulators on fixed ports of this machine and prints, for each, the ``AIRFLOW_CONN_*``
line and the ``airflow pools set`` command to use, so a real Airflow scheduler (or ``gateway sync``) can
be pointed at them. Runs until interrupted (Ctrl-C). See docs/simulators.md.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from collections.abc import Sequence

from gateway.connections import to_airflow_json
from simulators.base import BaseSimulator

DEFAULT_PORT_BASE = 18150


def registered() -> dict[str, tuple[type[BaseSimulator], int]]:
    """name -> (simulator, port offset from --port-base), for every utility in the connector registry
    that names a simulator. The ports are fixed so a stand's Connections stay valid: a simulator's own
    ``port_offset``, or (none declared) the next free ones after them, in the registry's name order."""
    from gateway.registry import load_registry  # manifests only: nothing that parses a utility's data

    classes = {name: m.simulator_class() for name, m in load_registry().items() if m.simulator}
    taken = {cls.port_offset for cls in classes.values() if cls.port_offset}
    next_free = max(taken, default=0) + 1
    found = {}
    for name, cls in classes.items():
        offset = cls.port_offset
        if not offset:
            offset, next_free = next_free, next_free + 1
        found[name] = (cls, offset)
    return dict(sorted(found.items(), key=lambda item: item[1][1]))


def start(names: Sequence[str], *, host: str, port_base: int, seed: int, notices: int,
          tick: float | None) -> list[BaseSimulator]:
    """The simulators, started; ``port_base`` 0 takes free ports (tests)."""
    simulators = registered()
    started = []
    for name in names:
        cls, offset = simulators[name]
        sim = cls(seed=seed, host=host, port=port_base + offset if port_base else 0).start()
        for _ in range(notices if sim.planned_works else 0):
            sim.add_planned_work()
        if tick:
            sim.start_clock(tick)
        started.append(sim)
    return started


def instructions(sims: Sequence[BaseSimulator]) -> list[str]:
    """Shell lines: one AIRFLOW_CONN_* export and one pool per utility (one slot: limits are per client)."""
    lines = []
    for sim in sims:
        config = sim.connection_config()
        lines.append(f"export AIRFLOW_CONN_{config.conn_id.upper()}={shlex.quote(to_airflow_json(config))}")
    lines += [f"airflow pools set utility_{sim.name} 1 {shlex.quote(f'{sim.name} sync')}" for sim in sims]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start simulators on fixed ports and print how to connect")
    simulators = registered()
    serve.add_argument("names", nargs="*", choices=[*simulators, []], help="which utilities (or --all)")
    serve.add_argument("--all", action="store_true", help="every simulator")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    serve.add_argument("--port-base", type=int, default=DEFAULT_PORT_BASE,
                       help="each listens on base + its offset: " +
                            ", ".join(f"{name} +{offset}" for name, (_, offset) in simulators.items()) +
                            f" (default {DEFAULT_PORT_BASE}; 0: free ports)")
    serve.add_argument("--seed", type=int, default=1520)
    serve.add_argument("--notices", type=int, default=2, help="planned-works notices each utility starts with")
    serve.add_argument("--tick", type=float, default=30.0,
                       help="move every open job on by one status this often, in seconds (0: never)")
    args = parser.parse_args(argv)
    names = list(simulators) if args.all else list(dict.fromkeys(args.names))
    if not names:
        parser.error("name the simulators to start, or --all")
    sims = start(names, host=args.host, port_base=args.port_base, seed=args.seed, notices=args.notices,
                 tick=args.tick or None)
    for sim in sims:
        print(f"# {sim.name}: {sim.url}", flush=True)
    print("\n".join(instructions(sims)), flush=True)
    print("# ready; Ctrl-C stops the simulators", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    for sim in sims:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
