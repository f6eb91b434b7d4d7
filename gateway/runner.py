"""Run one utility's sync step from anywhere: an Airflow task, the ``gateway`` command, a test.

The caller brings the connection settings (from an Airflow Connection or the environment); this
module builds the engine, the connector and the context, runs the step, and releases them.
"""

from __future__ import annotations

from gateway.connections import ConnectionConfig
from gateway.db import make_engine
from gateway.registry import Manifest, load_registry
from gateway.sync.context import build_context
from gateway.sync.engine import run_step


def manifest_named(name: str) -> Manifest:
    registry = load_registry()
    if name not in registry:
        raise KeyError(f"no connector {name!r}; registered: {', '.join(sorted(registry)) or 'none'}")
    return registry[name]


def run_sync_steps(name: str, steps: list[str] | None, connection: ConnectionConfig,
                   database_url: str | None = None, **options) -> dict[str, dict[str, int]]:
    """Run the given steps (default: all the manifest declares) and return their counts."""
    manifest = manifest_named(name)
    engine = make_engine(database_url)
    ctx = build_context(manifest, connection, engine, **options)
    try:
        return {step: run_step(ctx, step) for step in (steps or manifest.steps)}
    finally:
        ctx.connector.close()
        engine.dispose()
