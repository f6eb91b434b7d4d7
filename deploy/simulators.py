"""The utilities' simulators as one service (docker-compose profile ``simulators``; never in production).

Each registered utility's simulator listens on 0.0.0.0, from SIMULATOR_PORT_BASE (8101) up in the
registry's alphabetical order (ecospectrans 8101, teplotsentral 8102, vodokanal 8103), and moves its
jobs on by itself, as a utility's crews do. deploy/gateway.env.example holds the Connections that
point at them.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from gateway.registry import load_registry


def main() -> int:
    base = int(os.environ.get("SIMULATOR_PORT_BASE", "8101"))
    running = []
    for offset, (name, manifest) in enumerate(sorted(load_registry().items())):
        if not manifest.simulator:
            continue
        sim = manifest.simulator_class()(seed=1520, host="0.0.0.0", port=base + offset).start()
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
