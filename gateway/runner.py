"""Run one utility's sync step from anywhere: an Airflow task, the ``gateway`` command, a test.

The caller brings the connection settings (from an Airflow Connection or the environment); this
module builds the engine, the connector and the context, runs the step, and releases them.
"""

from __future__ import annotations

import logging

from gateway.connections import ConnectionConfig
from gateway.db import make_engine
from gateway.registry import Manifest, load_registry
from gateway.sync.context import build_context
from gateway.sync.engine import run_step

log = logging.getLogger("gateway.runner")


def manifest_named(name: str) -> Manifest:
    registry = load_registry()
    if name not in registry:
        raise KeyError(f"no connector {name!r}; registered: {', '.join(sorted(registry)) or 'none'}")
    return registry[name]


def run_sync_steps(name: str, steps: list[str] | None, connection: ConnectionConfig,
                   database_url: str | None = None, **options) -> dict[str, dict[str, int]]:
    """Run the given steps (default: all the manifest declares) and return their counts. A step of a
    stream the manifest does not declare (planned works of a utility that publishes none) is skipped:
    the connector is not called and the step's counts say ``not_declared``."""
    manifest = manifest_named(name)
    wanted = steps or manifest.steps
    skipped = {step: {"not_declared": 1} for step in wanted if step not in manifest.steps}
    for step in skipped:
        log.info("%s %s: skipped, the manifest declares no such stream", name, step)
    engine = make_engine(database_url)
    ctx = build_context(manifest, connection, engine, **options)
    try:
        return {step: skipped.get(step) or run_step(ctx, step) for step in wanted}
    finally:
        ctx.connector.close()
        engine.dispose()
