"""The utilities' simulators as one service (docker-compose profile ``simulators``; never in production).

Each registered utility's simulator listens on 0.0.0.0, on SIMULATOR_PORT_BASE (8100) + its stand
offset (the simulator's ``port_offset``, as ``python -m simulators serve`` uses: vodokanal 8101,
teplotsentral 8102, ecospectrans 8103, cityservice 8104), and moves its jobs on by itself, as a
utility's crews do. deploy/gateway.env.example holds the Connections that
point at them. (Not named simulators.py: run as a script, its folder comes first on sys.path and a
file of that name would hide the simulators package.)
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from simulators.__main__ import registered


def main() -> int:
    base = int(os.environ.get("SIMULATOR_PORT_BASE", "8100"))
    running = []
    for name, (simulator, offset) in registered().items():
        sim = simulator(seed=1520, host="0.0.0.0", port=base + offset).start()
        sim.start_clock(interval=float(os.environ.get("SIMULATOR_CLOCK_SECONDS", "30")))
        running.append(sim)
        print(f"{name}: simulator on port {sim.port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    for sim in running:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
